package dittofs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"

	"k8s.io/utils/lru"
)

// TLSTarget is how to reach one DittoServer's API over TLS: which CA its
// certificate must chain to, which name it must carry, and which client
// certificate to present when DittoFS requires one.
type TLSTarget struct {
	// CA is the PEM bundle the server certificate must chain to, and the
	// only one: as upstream, the ca.crt key of the DittoServer's
	// controlPlane.certSecretName Secret (what cert-manager writes). Unlike
	// upstream, which adds it to the system roots, it replaces them: a
	// public CA has no business vouching for a cluster-internal API. Empty
	// means the system roots (upstream's behaviour for controlPlane.tls
	// without certSecretName, or a Secret without ca.crt).
	CA []byte
	// ServerName is the name the certificate must carry: the API Service's
	// DNS name, <name>-api.<namespace>.svc.cluster.local. A trailing dot
	// (the hook dials the fully qualified name) is removed: a certificate
	// names hosts without one. Empty means the host of the URL dialled.
	// Naming it explicitly keeps verification on the Service's name even
	// when --dittofs-url-template dials another address.
	ServerName string
	// Client is presented when the server asks for a client certificate;
	// nil presents none.
	Client *ClientIdentity
}

// mutualTLSCipherSuites are the TLS 1.2 suites offered with a client
// certificate: ECDHE key exchange and AEAD ciphers only.
var mutualTLSCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ErrNoCACertificate means a CA bundle holds no PEM certificate.
var ErrNoCACertificate = errors.New("the CA bundle holds no PEM certificate")

// fingerprint identifies what a transport was built from.
func (t TLSTarget) fingerprint() string {
	h := sha256.New()
	h.Write(t.CA)
	h.Write([]byte{0})
	h.Write([]byte(t.serverName()))
	h.Write([]byte{0})
	if t.Client != nil {
		h.Write([]byte(t.Client.id))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (t TLSTarget) serverName() string { return strings.TrimSuffix(t.ServerName, ".") }

// Transports hands out HTTP clients for DittoServers served over TLS, one
// transport per DittoServer, kept between syncs: a sync reuses the TLS
// configuration and the kept-alive connection of the last one instead of
// building a TLS stack and handshaking again. A DittoServer whose CA,
// server name or client identity changed (a rotated CA) gets a new
// transport, and the old one's idle connections are closed. The cache is
// bounded; the least recently used transport goes first.
//
// Parsed CA bundles are shared between DittoServers that trust the same
// CA, and kept only while a transport uses them: a tenant rewriting its
// ca.crt leaves one pool behind, not one per version. Their total size is
// bounded in bytes (MaxPoolBytes): a ca.crt is the tenant's to fill (up to
// a Secret's 1 MiB), so a count alone would not bound the hook's memory.
// Safe for concurrent use.
type Transports struct {
	mu      sync.Mutex
	entries *lru.Cache // DittoServer key → *transportEntry
	// pools are the parsed CA bundles in use, by fingerprint, with how
	// many transports use each; poolBytes is the sum of their sizes.
	pools                   map[string]*poolEntry
	poolBytes, maxPoolBytes int64
	base                    *http.Transport
}

type transportEntry struct {
	fingerprint string
	client      *http.Client
	// pool is the fingerprint of the CA pool it uses ("" for the system
	// roots, or a bundle too large to keep).
	pool string
}

// poolEntry is one parsed CA bundle and the transports that use it.
type poolEntry struct {
	pool  *x509.CertPool
	size  int64
	users int
}

// TransportOptions configure Transports. Zero values take defaults.
type TransportOptions struct {
	// Max bounds the number of transports kept (default 10,000, as many
	// as Accounts keeps sessions).
	Max int
	// MaxPoolBytes bounds the parsed CA bundles kept, counted by the size
	// of their PEM (a parsed pool takes about as much: 1.1 times for a
	// 1 MiB bundle of RSA and ECDSA certificates). Default
	// DefaultMaxPoolBytes. Beyond it the least recently used transports go
	// until the new bundle fits; a bundle larger than the bound alone is
	// parsed for its sync and not kept.
	MaxPoolBytes int64
	// Base is cloned for every transport (default: Go's defaults without
	// a proxy; the hook passes its plain-HTTP client's).
	Base *http.Transport
}

// DefaultMaxPoolBytes bounds the parsed CA bundles kept: 32 MiB, an
// eighth of the hook's default memory limit.
const DefaultMaxPoolBytes = 32 << 20

// NewTransports returns an empty cache.
func NewTransports(o TransportOptions) *Transports {
	if o.Max <= 0 {
		o.Max = 10000
	}
	if o.MaxPoolBytes <= 0 {
		o.MaxPoolBytes = DefaultMaxPoolBytes
	}
	if o.Base == nil {
		o.Base = http.DefaultTransport.(*http.Transport).Clone()
		o.Base.Proxy = nil
	}
	t := &Transports{base: o.Base, pools: map[string]*poolEntry{}, maxPoolBytes: o.MaxPoolBytes}
	// Called with t.mu held: every use of entries is.
	t.entries = lru.NewWithEvictionFunc(o.Max, func(_ lru.Key, v any) {
		e := v.(*transportEntry)
		e.client.CloseIdleConnections()
		t.release(e.pool)
	})
	return t
}

// Client returns the HTTP client for the DittoServer identified by key (its
// UID) reached as target says, building its transport on first use or when
// target changed. Like every client of this package's NewClient, it never
// follows a redirect.
func (t *Transports) Client(key string, target TLSTarget) (*http.Client, error) {
	fp := target.fingerprint()
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.entries.Get(key); ok {
		e := v.(*transportEntry)
		if e.fingerprint == fp {
			return e.client, nil
		}
		t.entries.Remove(key) // closes the old transport's idle connections
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: target.serverName()}
	entry := &transportEntry{fingerprint: fp}
	if len(target.CA) > 0 {
		pool, key, err := t.acquire(target.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs, entry.pool = pool, key
	}
	if target.Client != nil {
		cfg.GetClientCertificate = target.Client.getClientCertificate
		// TLS 1.2, so that the server's verdict on the certificate is
		// part of the handshake: under TLS 1.3 the client's handshake
		// ends before the server has checked the certificate, and a
		// refusal then races with the request, surfacing as the alert
		// or as a broken pipe from one sync to the next (the condition
		// would flap). Only forward-secret AEAD suites.
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = mutualTLSCipherSuites
	} else {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return nil, ErrClientCertificateRequired
		}
	}
	tr := t.base.Clone()
	tr.TLSClientConfig = cfg
	c := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	entry.client = c
	t.entries.Add(key, entry)
	return c, nil
}

// acquire returns the parsed pool of a CA bundle for one more transport,
// parsing it once for every DittoServer that trusts it, and its key ("":
// not kept, the bundle being larger than the bound alone). To make room
// it drops the least recently used transports (and with them the pools
// nothing else uses). Called with t.mu held.
func (t *Transports) acquire(ca []byte) (*x509.CertPool, string, error) {
	sum := sha256.Sum256(ca)
	key := hex.EncodeToString(sum[:])
	if e, ok := t.pools[key]; ok {
		e.users++
		return e.pool, key, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, "", ErrNoCACertificate
	}
	size := int64(len(ca))
	if size > t.maxPoolBytes {
		return pool, "", nil
	}
	for t.poolBytes+size > t.maxPoolBytes && t.entries.Len() > 0 {
		t.entries.RemoveOldest() // releases its pool
	}
	t.pools[key] = &poolEntry{pool: pool, size: size, users: 1}
	t.poolBytes += size
	return pool, key, nil
}

// release gives a transport's pool back, dropping it when no transport
// uses it any more. Called with t.mu held.
func (t *Transports) release(key string) {
	e, ok := t.pools[key]
	if !ok {
		return
	}
	if e.users--; e.users == 0 {
		delete(t.pools, key)
		t.poolBytes -= e.size
	}
}

// PoolBytes is the size of the CA bundles kept, and Pools their number.
func (t *Transports) PoolBytes() (bytes int64, pools int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.poolBytes, len(t.pools)
}

// Forget drops a DittoServer's transport and closes its idle connections
// (the DittoServer is gone).
func (t *Transports) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries.Remove(key)
}

// Len is the number of transports kept.
func (t *Transports) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries.Len()
}
