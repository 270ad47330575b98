package dittofs_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// apiHost is the name the hook expects a DittoServer "srv" in namespace
// "ns" to present, as the hook dials it: fully qualified, trailing dot.
const apiHost = "srv-api.ns.svc.cluster.local."

// tlsCall logs in as the administrator and lists the adapters through a
// client of the Transports, the way a sync does.
func tlsCall(t *testing.T, url string, hc *http.Client) ([]dittofs.Adapter, error) {
	t.Helper()
	c, err := dittofs.NewClient(url, hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	cx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := c.Login(cx, "admin", dittofstest.AdminPassword)
	if err != nil {
		return nil, err
	}
	return c.ListAdapters(cx, tok.AccessToken)
}

func transportClient(t *testing.T, tr *dittofs.Transports, key string, target dittofs.TLSTarget) *http.Client {
	t.Helper()
	hc, err := tr.Client(key, target)
	if err != nil {
		t.Fatalf("Transports.Client: %v", err)
	}
	return hc
}

// wantTLSFailure checks that err is the TLS failure want and that Describe
// says so in the same words every time.
func wantTLSFailure(t *testing.T, what string, err error, want dittofs.TLSFailure, wantText string) {
	t.Helper()
	if got := dittofs.TLSFailureOf(err); got != want {
		t.Errorf("%s: TLSFailureOf(%v) = %v (%d), want %v (%d)", what, err, got, got, want, want)
	}
	if got := dittofs.Describe(err); got != wantText {
		t.Errorf("%s: Describe = %q, want %q", what, got, wantText)
	}
}

// TestTLSToRealDittoFS: the hook reaches a real DittoFS v0.29.0 serving its
// API over TLS (controlPlane.certSecretName) through the Transports: it
// verifies the certificate against the CA it is given and the Service name
// (trailing dot or not), never against the address it dials; it refuses an
// untrusted or misnamed server with a stable description; it reuses one
// transport per DittoServer and replaces it when the CA rotates.
func TestTLSToRealDittoFS(t *testing.T) {
	d := dittofstest.StartDittoFSTLS(t, dittofstest.TLSOptions{SANs: []string{"IP:127.0.0.1", "DNS:" + strings.TrimSuffix(apiHost, ".")}})
	tr := dittofs.NewTransports(dittofs.TransportOptions{})
	good := dittofs.TLSTarget{CA: d.CA, ServerName: apiHost}

	hc := transportClient(t, tr, "uid-1", good)
	adapters, err := tlsCall(t, d.URL, hc)
	if err != nil {
		t.Fatalf("over HTTPS with the right CA: %v", err)
	}
	ports := map[string]int32{}
	for _, a := range adapters {
		ports[a.Type] = a.Port
	}
	if ports["nfs"] != int32(d.NFSPort) || ports["smb"] != int32(d.SMBPort) {
		t.Fatalf("adapters over HTTPS = %v, want nfs %d and smb %d", ports, d.NFSPort, d.SMBPort)
	}
	if again := transportClient(t, tr, "uid-1", dittofs.TLSTarget{CA: append([]byte{}, d.CA...), ServerName: strings.TrimSuffix(apiHost, ".")}); again != hc {
		t.Error("the same CA and server name (without the dot) built a new transport; want the kept one")
	}
	if err := hc.CheckRedirect(nil, nil); err != http.ErrUseLastResponse {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}

	for _, c := range []struct {
		name   string
		target dittofs.TLSTarget
		want   dittofs.TLSFailure
		text   string
	}{
		{"an unrelated CA", dittofs.TLSTarget{CA: d.UntrustedCA, ServerName: apiHost}, dittofs.ServerCertUntrusted,
			"login: server certificate not trusted (signed by an authority the hook does not trust for this server)"},
		{"the system roots", dittofs.TLSTarget{ServerName: apiHost}, dittofs.ServerCertUntrusted,
			"login: server certificate not trusted (signed by an authority the hook does not trust for this server)"},
		{"another DittoServer's name", dittofs.TLSTarget{CA: d.CA, ServerName: "other-api.ns.svc.cluster.local."}, dittofs.ServerCertWrongName,
			"login: server certificate is not valid for other-api.ns.svc.cluster.local"},
	} {
		// The rotation of one DittoServer's CA replaces its transport.
		hc2 := transportClient(t, tr, "uid-1", c.target)
		if hc2 == hc {
			t.Errorf("%s: a changed target kept the old transport", c.name)
		}
		for range 2 { // the same failure, the same words
			_, err := tlsCall(t, d.URL, hc2)
			wantTLSFailure(t, c.name, err, c.want, c.text)
		}
	}
	if n := tr.Len(); n != 1 {
		t.Errorf("Transports.Len() = %d after rotations of one DittoServer, want 1", n)
	}
	if _, err := tr.Client("uid-2", dittofs.TLSTarget{CA: []byte("not PEM"), ServerName: apiHost}); err != dittofs.ErrNoCACertificate {
		t.Errorf("a CA bundle without a certificate: %v, want ErrNoCACertificate", err)
	}

	// A plain-HTTP DittoFS dialled over TLS.
	plain := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	_, err = tlsCall(t, strings.Replace(plain.URL, "http://", "https://", 1), transportClient(t, tr, "uid-3", good))
	wantTLSFailure(t, "https to a plain-HTTP server", err, dittofs.NotTLS, "login: the server did not answer in TLS (is it serving plain HTTP?)")
}

// TestMutualTLSToRealDittoFS: a real DittoFS requiring client certificates
// (controlPlane.clientCASecretName) answers the hook presenting its client
// identity, from PEM or from files, and refuses it without one or with one
// its client CA did not sign, each with its own stable description. A
// rotated identity file is picked up on the next connection.
func TestMutualTLSToRealDittoFS(t *testing.T) {
	d := dittofstest.StartDittoFSTLS(t, dittofstest.TLSOptions{Mutual: true, SANs: []string{"IP:127.0.0.1", "DNS:" + strings.TrimSuffix(apiHost, ".")}})
	tr := dittofs.NewTransports(dittofs.TransportOptions{})
	identity, err := dittofs.ClientIdentityFromPEM(d.ClientCert, d.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := dittofs.ClientIdentityFromPEM(d.StrangerCert, d.StrangerKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsCall(t, d.URL, transportClient(t, tr, "uid-1", dittofs.TLSTarget{CA: d.CA, ServerName: apiHost, Client: identity})); err != nil {
		t.Fatalf("mutual TLS with the client certificate: %v", err)
	}
	for _, c := range []struct {
		name   string
		client *dittofs.ClientIdentity
		want   dittofs.TLSFailure
		text   string
	}{
		{"no client certificate", nil, dittofs.ClientCertRequired, "login: the server requires a client certificate and the hook presented none"},
		{"a client certificate of another CA", stranger, dittofs.ClientCertRefused,
			"login: the server refused the hook's client certificate (its issuer is not in the server's client CA bundle, or it expired)"},
	} {
		for range 2 {
			_, err := tlsCall(t, d.URL, transportClient(t, tr, "uid-2", dittofs.TLSTarget{CA: d.CA, ServerName: apiHost, Client: c.client}))
			wantTLSFailure(t, c.name, err, c.want, c.text)
		}
	}

	// The identity the hook reads from files (a mounted Secret), rotated
	// under it: to a certificate DittoFS refuses, and back.
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func(cert, key []byte) {
		t.Helper()
		for f, b := range map[string][]byte{certFile: cert, keyFile: key} {
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(d.ClientCert, d.ClientKey)
	files, err := dittofs.ClientIdentityFromFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := transportClient(t, tr, "uid-3", dittofs.TLSTarget{CA: d.CA, ServerName: apiHost, Client: files})
	if _, err := tlsCall(t, d.URL, hc); err != nil {
		t.Fatalf("identity from files: %v", err)
	}
	write(d.StrangerCert, d.StrangerKey)
	hc.CloseIdleConnections() // a new connection presents the rotated certificate
	if transportClient(t, tr, "uid-3", dittofs.TLSTarget{CA: d.CA, ServerName: apiHost, Client: files}) != hc {
		t.Error("a rotation of the identity's files built a new transport; the kept one re-reads them")
	}
	_, err = tlsCall(t, d.URL, hc)
	wantTLSFailure(t, "rotated to a refused certificate", err, dittofs.ClientCertRefused,
		"login: the server refused the hook's client certificate (its issuer is not in the server's client CA bundle, or it expired)")
	write(d.ClientCert, d.ClientKey)
	hc.CloseIdleConnections()
	if _, err := tlsCall(t, d.URL, hc); err != nil {
		t.Fatalf("rotated back to the trusted certificate: %v", err)
	}
	if _, err := dittofs.ClientIdentityFromFiles(certFile, filepath.Join(dir, "missing.key")); err == nil {
		t.Error("ClientIdentityFromFiles with a missing key file: no error")
	}
}
