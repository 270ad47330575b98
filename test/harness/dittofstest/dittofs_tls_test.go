package dittofstest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDittoFSTLS checks the TLS harness against the real DittoFS: a client
// that trusts the CA (and, for mutual TLS, presents the client certificate)
// lists the adapters over HTTPS; every other client is refused.
func TestDittoFSTLS(t *testing.T) {
	for _, mutual := range []bool{false, true} {
		name := map[bool]string{false: "tls", true: "mtls"}[mutual]
		t.Run(name, func(t *testing.T) {
			d := StartDittoFSTLS(t, TLSOptions{Mutual: mutual})
			if !strings.HasPrefix(d.URL, "https://") {
				t.Fatalf("URL %q is not https", d.URL)
			}

			var adapters []struct {
				Type    string `json:"type"`
				Port    int    `json:"port"`
				Running bool   `json:"running"`
			}
			d.Admin(d.AdminToken(), http.MethodGet, "/api/v1/adapters", nil, http.StatusOK, &adapters)
			ports := map[string]int{}
			for _, a := range adapters {
				ports[a.Type] = a.Port
			}
			if ports["nfs"] != d.NFSPort || ports["smb"] != d.SMBPort {
				t.Fatalf("adapters over HTTPS = %+v, want nfs on %d and smb on %d", adapters, d.NFSPort, d.SMBPort)
			}

			// Plain HTTP to the TLS port: Go's server answers 400 in clear text.
			resp, err := http.Get(strings.Replace(d.URL, "https://", "http://", 1) + "/health")
			if err != nil {
				t.Fatalf("plain HTTP: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
				t.Fatalf("plain HTTP answered %d %q, want 400 from the TLS listener", resp.StatusCode, b)
			}

			// A client that does not trust the server's CA refuses it, with or
			// without a client certificate of its own.
			var own []tls.Certificate
			if mutual {
				pair, err := tls.X509KeyPair(d.ClientCert, d.ClientKey)
				if err != nil {
					t.Fatal(err)
				}
				own = []tls.Certificate{pair}
			}
			for name, roots := range map[string][]byte{"the system roots only": nil, "an unrelated CA": d.UntrustedCA} {
				var unknownAuthority x509.UnknownAuthorityError
				if err := get(d.URL+"/health", roots, own); !errors.As(err, &unknownAuthority) {
					t.Errorf("client trusting %s: err = %v, want x509.UnknownAuthorityError", name, err)
				}
			}
			if mutual {
				stranger, err := tls.X509KeyPair(d.StrangerCert, d.StrangerKey)
				if err != nil {
					t.Fatal(err)
				}
				for name, certs := range map[string][]tls.Certificate{
					"no client certificate":                     nil,
					"a client certificate from an unrelated CA": {stranger},
				} {
					if err := get(d.URL+"/health", d.CA, certs); err == nil {
						t.Errorf("mutual TLS with %s: answered, want the handshake refused", name)
					}
				}
			} else if err := get(d.URL+"/health", d.CA, nil); err != nil {
				t.Errorf("TLS without a client certificate: %v, want 200", err)
			}
		})
	}
}

// get GETs url with a client trusting roots (the system roots when nil) and
// presenting certs; nil means it answered 200.
func get(url string, roots []byte, certs []tls.Certificate) error {
	cfg := &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}
	if roots != nil {
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(roots)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
