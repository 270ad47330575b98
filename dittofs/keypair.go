package dittofs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ClientIdentity is the client certificate the hook presents to DittoFS
// servers that require mutual TLS (controlPlane.clientCASecretName). The
// upstream operator has none (its mutual TLS never authenticates); the hook
// has one identity for all DittoServers, from files (a Secret mounted into
// the hook, re-read when it rotates), so that no client key ever lives in a
// tenant's namespace: a DittoServer's clientCASecretName trusts the issuer
// of that identity. ClientIdentityFromPEM exists for tests and callers that
// hold the PEM bytes.
type ClientIdentity struct {
	// id tells identities apart in the transport cache: a fingerprint of
	// the PEM bytes, or the files' paths and this instance.
	id  string
	get func() (*tls.Certificate, error)
}

// ClientIdentityFromPEM parses a PEM certificate (chain) and its key.
func ClientIdentityFromPEM(certPEM, keyPEM []byte) (*ClientIdentity, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	sum := sha256.Sum256(append(append(append([]byte{}, certPEM...), 0), keyPEM...))
	return &ClientIdentity{id: "pem:" + hex.EncodeToString(sum[:]), get: func() (*tls.Certificate, error) { return &pair, nil }}, nil
}

// identities numbers file-backed identities, so that two built from the
// same paths (a test, a restart of the flag parsing) never share a cache
// entry by accident.
var identities atomic.Uint64

// ClientIdentityFromFiles reads a certificate and key from files, as
// --dittofs-client-cert-file and --dittofs-client-key-file name them, and
// re-reads them when they change. It fails when they cannot be read or do
// not form a key pair now, so that a bad flag stops the hook at start.
func ClientIdentityFromFiles(certFile, keyFile string) (*ClientIdentity, error) {
	kp, err := NewKeyPairFiles(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("files:%d:%s\x00%s", identities.Add(1), certFile, keyFile)
	return &ClientIdentity{id: id, get: kp.Certificate}, nil
}

// Certificate returns the certificate to present now.
func (c *ClientIdentity) Certificate() (*tls.Certificate, error) { return c.get() }

// getClientCertificate always presents the identity, whatever CAs the
// server lists as acceptable: Go's default would then send nothing, and
// DittoFS's refusal would read "certificate required" instead of naming
// the refused certificate.
func (c *ClientIdentity) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.get()
}

// KeyPairFiles is a certificate and key read from two files and read again
// when either changes, so that a rotated Secret (kubelet re-projects a
// mounted Secret by swapping a symlink) takes effect without a restart.
// While the two files disagree (one rotated, the other not yet), the
// previous pair stays in use. Safe for concurrent use.
type KeyPairFiles struct {
	cert, key ReloadingFile
	mu        sync.Mutex
	certPEM   []byte
	keyPEM    []byte
	pair      *tls.Certificate
}

// NewKeyPairFiles reads the pair once and fails when it is not usable.
func NewKeyPairFiles(certFile, keyFile string) (*KeyPairFiles, error) {
	k := &KeyPairFiles{cert: ReloadingFile{Path: certFile}, key: ReloadingFile{Path: keyFile}}
	if _, err := k.Certificate(); err != nil {
		return nil, err
	}
	return k, nil
}

// Certificate returns the current pair: the files' contents when they form
// a key pair, else the last pair that did.
func (k *KeyPairFiles) Certificate() (*tls.Certificate, error) {
	certPEM, certErr := k.cert.Read()
	keyPEM, keyErr := k.key.Read()
	k.mu.Lock()
	defer k.mu.Unlock()
	if certErr == nil && keyErr == nil && k.pair != nil && bytes.Equal(certPEM, k.certPEM) && bytes.Equal(keyPEM, k.keyPEM) {
		return k.pair, nil
	}
	err := certErr
	if err == nil {
		err = keyErr
	}
	if err == nil {
		var pair tls.Certificate
		if pair, err = tls.X509KeyPair(certPEM, keyPEM); err == nil {
			k.pair, k.certPEM, k.keyPEM = &pair, certPEM, keyPEM
			return k.pair, nil
		}
		err = fmt.Errorf("key pair %s, %s: %w", k.cert.Path, k.key.Path, err)
	}
	if k.pair != nil {
		return k.pair, nil // mid-rotation, or a file briefly missing
	}
	return nil, err
}

// ReloadingFile is a file read again when its modification time or size
// changes: a mounted Secret (a token, a certificate) that rotates under a
// running process. cmd/hook's --auth-token-file and --tls-cert-file can use
// it as well as the client identity. Safe for concurrent use.
type ReloadingFile struct {
	// Path of the file.
	Path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	data []byte
}

// Read returns the file's current contents.
func (f *ReloadingFile) Read() ([]byte, error) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// A file modified in the last two seconds is read again: two writes
	// within one tick of the file system's clock leave the same mtime.
	if f.data != nil && st.ModTime().Equal(f.mod) && st.Size() == f.size && time.Since(f.mod) > 2*time.Second {
		return f.data, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	f.data, f.mod, f.size = data, st.ModTime(), st.Size()
	return data, nil
}
