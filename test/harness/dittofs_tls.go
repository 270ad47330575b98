package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TLSDittoFS is a real DittoFS v0.29.0 server whose control-plane API is
// served over HTTPS, and with Mutual over mutual TLS, from certificates made
// by openssl — what the upstream operator's controlPlane.certSecretName and
// clientCASecretName configure in a pod. It exists so that the hook's TLS
// support is tested against the real server, not an imitation.
type TLSDittoFS struct {
	// URL is the API base, https://127.0.0.1:<port>.
	URL  string
	Port int
	// Dir holds the certificates, config, database and log.
	Dir string
	// NFSPort and SMBPort are where its adapters were moved after start.
	NFSPort, SMBPort int

	// CA is the PEM certificate of the CA that signed the server
	// certificate: what a cert-manager Secret carries under ca.crt and what
	// the hook must verify the server against.
	CA []byte
	// ServerCert and ServerKey are the PEM server certificate (SANs
	// IP:127.0.0.1 and DNS:localhost unless TLSOptions.SANs) and its key: a
	// kubernetes.io/tls Secret's tls.crt and tls.key.
	ServerCert, ServerKey []byte
	// UntrustedCA is the PEM certificate of a CA that signed nothing here,
	// for tests that must see verification fail.
	UntrustedCA []byte

	// ClientCA (Mutual only) is the PEM bundle DittoFS requires client
	// certificates to chain to: clientCASecretName's ca.crt.
	ClientCA []byte
	// ClientCert and ClientKey (Mutual only) are a PEM client certificate
	// signed by ClientCA and its key, what the hook presents.
	ClientCert, ClientKey []byte
	// StrangerCert and StrangerKey (Mutual only) are a client certificate
	// and key signed by UntrustedCA, which DittoFS must refuse.
	StrangerCert, StrangerKey []byte

	// Client trusts CA and, with Mutual, presents ClientCert.
	Client *http.Client

	t    T
	opts TLSOptions
	proc *Process
}

// TLSOptions configure a TLS test server.
type TLSOptions struct {
	// Mutual requires and verifies client certificates (controlplane.tls.client_ca).
	Mutual bool
	// SANs of the server certificate, in openssl's subjectAltName syntax
	// (default IP:127.0.0.1 and DNS:localhost).
	SANs []string
	// AdminPassword is DITTOFS_ADMIN_INITIAL_PASSWORD (default harness.AdminPassword).
	AdminPassword string
	// LogDir receives the server's log (default: the server's Dir).
	LogDir string
}

// StartDittoFSTLS makes a CA, a server certificate (and, with Mutual, a
// client CA and client certificates) with openssl, starts a fresh DittoFS
// serving its API over TLS on loopback, moves its adapters to free ports, and
// stops it by its PID when the test ends. The config it writes is the
// controlplane.tls section the upstream operator renders:
//
//	controlplane:
//	  tls:
//	    cert_file: <dir>/tls.crt
//	    key_file: <dir>/tls.key
//	    client_ca: <dir>/client-ca.crt   # Mutual only
func StartDittoFSTLS(t T, o TLSOptions) *TLSDittoFS {
	t.Helper()
	bin := Binary(t, "dfs")
	if o.AdminPassword == "" {
		o.AdminPassword = AdminPassword
	}
	if len(o.SANs) == 0 {
		o.SANs = []string{"IP:127.0.0.1", "DNS:localhost"}
	}
	d := &TLSDittoFS{t: t, opts: o, Dir: t.TempDir()}
	d.makeCerts()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CA)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if o.Mutual {
		pair, err := tls.X509KeyPair(d.ClientCert, d.ClientKey)
		if err != nil {
			t.Fatalf("client key pair: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	d.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}

	d.Port = FreePort(t)
	d.URL = fmt.Sprintf("https://127.0.0.1:%d", d.Port)
	clientCA := ""
	if o.Mutual {
		clientCA = "    client_ca: " + filepath.Join(d.Dir, "client-ca.crt") + "\n"
	}
	config := fmt.Sprintf(`logging:
  level: INFO
  format: text
  output: stdout
database:
  type: sqlite
  sqlite:
    path: %s
controlplane:
  host: 127.0.0.1
  port: %d
  require_initial_password_change: false
  jwt:
    secret: "test-signing-key-0123456789abcdef0123456789"
  tls:
    cert_file: %s
    key_file: %s
%s`, filepath.Join(d.Dir, "controlplane.db"), d.Port, filepath.Join(d.Dir, "tls.crt"), filepath.Join(d.Dir, "tls.key"), clientCA)
	if err := os.WriteFile(filepath.Join(d.Dir, "config.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	unlock := lockAdapterPortsTLS(t)
	defer unlock()
	logDir := o.LogDir
	if logDir == "" {
		logDir = d.Dir
	}
	env := []string{
		"DITTOFS_ADMIN_INITIAL_PASSWORD=" + o.AdminPassword,
		"HOME=" + d.Dir, "XDG_CONFIG_HOME=" + d.Dir, "XDG_STATE_HOME=" + d.Dir, "XDG_DATA_HOME=" + d.Dir, "XDG_CACHE_HOME=" + d.Dir,
	}
	d.proc = Start(t, logDir, "dittofs-tls-"+strconv.Itoa(d.Port), bin, env, "start", "--foreground", "--config", filepath.Join(d.Dir, "config.yaml"))
	d.waitHealthy(60 * time.Second)

	// Every new server binds 12049 and 1445; move them before another
	// server may start (the lock is the one test/harness/dittofs.go takes).
	d.NFSPort, d.SMBPort = FreePort(t), FreePort(t)
	token := d.AdminToken()
	d.Admin(token, http.MethodPut, "/api/v1/adapters/nfs", map[string]any{"port": d.NFSPort}, http.StatusOK, nil)
	d.Admin(token, http.MethodPut, "/api/v1/adapters/smb", map[string]any{"port": d.SMBPort}, http.StatusOK, nil)
	return d
}

// makeCerts writes ca.crt, tls.crt, tls.key, untrusted-ca.crt and, with
// Mutual, client-ca.crt, client.crt, client.key, stranger.crt and
// stranger.key into d.Dir, with openssl (ECDSA P-256, valid one day).
func (d *TLSDittoFS) makeCerts() {
	t := d.t
	t.Helper()
	dir := d.Dir
	openssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ext := func(name, content string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	ca := func(name, cn string) {
		openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
			"-subj", "/CN="+cn, "-keyout", name+".key", "-out", name+".crt")
	}
	leaf := func(name, cn, caName, extFile string) {
		openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN="+cn,
			"-keyout", name+".key", "-out", name+".csr")
		openssl("x509", "-req", "-in", name+".csr", "-CA", caName+".crt", "-CAkey", caName+".key", "-CAcreateserial",
			"-days", "1", "-out", name+".crt", "-extfile", extFile)
	}
	ca("ca", "dittofs-test-server-ca")
	ca("untrusted-ca", "dittofs-test-untrusted-ca")
	leaf("tls", "dittofs", "ca", ext("server.ext", "subjectAltName="+strings.Join(d.opts.SANs, ",")+"\nextendedKeyUsage=serverAuth\n"))
	d.CA, d.ServerCert, d.ServerKey, d.UntrustedCA = d.read("ca.crt"), d.read("tls.crt"), d.read("tls.key"), d.read("untrusted-ca.crt")
	if d.opts.Mutual {
		clientExt := ext("client.ext", "extendedKeyUsage=clientAuth\n")
		ca("client-ca", "dittofs-test-client-ca")
		leaf("client", "dittofs-hook", "client-ca", clientExt)
		leaf("stranger", "stranger", "untrusted-ca", clientExt)
		d.ClientCA, d.ClientCert, d.ClientKey = d.read("client-ca.crt"), d.read("client.crt"), d.read("client.key")
		d.StrangerCert, d.StrangerKey = d.read("stranger.crt"), d.read("stranger.key")
	}
}

func (d *TLSDittoFS) read(name string) []byte {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Dir, name))
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// waitHealthy polls /health with the trusting client until it answers 200.
func (d *TLSDittoFS) waitHealthy(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if d.proc.Exited() {
			d.t.Fatalf("DittoFS (TLS) exited before answering %s/health\n%s", d.URL, d.proc.Tail())
		}
		resp, err := d.Client.Get(d.URL + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatalf("DittoFS (TLS) did not answer %s/health within %s: %v\n%s", d.URL, timeout, last, d.proc.Tail())
}

// Stop stops the server (SIGTERM to its PID).
func (d *TLSDittoFS) Stop() { _ = d.proc.Stop() }

// Log returns the end of the server's log.
func (d *TLSDittoFS) Log() string { return d.proc.Tail() }

// AdminToken logs in as the bootstrap administrator.
func (d *TLSDittoFS) AdminToken() string {
	d.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	d.Admin("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": d.opts.AdminPassword}, http.StatusOK, &out)
	return out.AccessToken
}

// Admin calls the API through Client with a token and checks the status.
func (d *TLSDittoFS) Admin(token, method, path string, in any, want int, out any) {
	d.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.Client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		d.t.Fatalf("%s %s: got %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// lockAdapterPortsTLS takes the machine-wide lock test/harness/dittofs.go
// holds while a fresh server still binds the default adapter ports.
func lockAdapterPortsTLS(t T) (unlock func()) {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "dittofs-hook-tests")
	_ = os.MkdirAll(dir, 0o777)
	f, err := os.OpenFile(filepath.Join(dir, "adapter-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
