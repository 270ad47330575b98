package dittofs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// selfSigned returns a PEM certificate and key named cn.
func selfSigned(t testing.TB, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// TestKeyPairFilesRotation: a rotated pair is picked up once both files
// agree; while only one has changed, or when the files vanish, the last
// good pair stays in use; a pair that never was good fails at start.
func TestKeyPairFilesRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func(f string, b []byte) {
		t.Helper()
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certA, keyA := selfSigned(t, "a")
	certB, keyB := selfSigned(t, "b")
	cn := func(kp *dittofs.KeyPairFiles) string {
		t.Helper()
		c, err := kp.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}

	write(certFile, certA)
	write(keyFile, keyB)
	if _, err := dittofs.NewKeyPairFiles(certFile, keyFile); err == nil {
		t.Fatal("a certificate and a key that do not match: no error at start")
	}
	write(keyFile, keyA)
	kp, err := dittofs.NewKeyPairFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"unchanged", func() {}, "a"},
		{"certificate rotated, key not yet", func() { write(certFile, certB) }, "a"},
		{"key rotated too", func() { write(keyFile, keyB) }, "b"},
		{"files removed", func() { os.Remove(certFile); os.Remove(keyFile) }, "b"},
		{"files back with the first pair", func() { write(certFile, certA); write(keyFile, keyA) }, "a"},
	}
	for _, s := range steps {
		s.change()
		if got := cn(kp); got != s.want {
			t.Errorf("%s: presents %q, want %q", s.name, got, s.want)
		}
	}
}

// TestTransportsBound: the cache keeps at most Max transports, dropping the
// least recently used, and hands out the kept one while its target stays.
func TestTransportsBound(t *testing.T) {
	certPEM, _ := selfSigned(t, "ca")
	tr := dittofs.NewTransports(dittofs.TransportOptions{Max: 2})
	target := dittofs.TLSTarget{CA: certPEM, ServerName: "srv-api.ns.svc.cluster.local."}
	first := transportClient(t, tr, "uid-1", target)
	transportClient(t, tr, "uid-2", target)
	if transportClient(t, tr, "uid-1", target) != first {
		t.Error("an unchanged target built a new transport")
	}
	transportClient(t, tr, "uid-3", target) // evicts uid-2, the least recently used
	if n := tr.Len(); n != 2 {
		t.Errorf("Len() = %d, want the bound 2", n)
	}
	if transportClient(t, tr, "uid-1", target) != first {
		t.Error("the most recently used transport was evicted")
	}
	tr.Forget("uid-1")
	if transportClient(t, tr, "uid-1", target) == first {
		t.Error("Forget kept the transport")
	}
}

// BenchmarkTransportsClient is a sync's cost of finding its DittoServer's
// kept transport (fingerprinting the CA bundle it was given).
func BenchmarkTransportsClient(b *testing.B) {
	certPEM, _ := selfSigned(b, "ca")
	tr := dittofs.NewTransports(dittofs.TransportOptions{})
	target := dittofs.TLSTarget{CA: certPEM, ServerName: "srv-api.ns.svc.cluster.local."}
	if _, err := tr.Client("uid", target); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Client("uid", target); err != nil {
			b.Fatal(err)
		}
	}
}

func transportClient(t *testing.T, tr *dittofs.Transports, key string, target dittofs.TLSTarget) *http.Client {
	t.Helper()
	hc, err := tr.Client(key, target)
	if err != nil {
		t.Fatalf("Transports.Client: %v", err)
	}
	return hc
}
