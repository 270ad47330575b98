package dittofstest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// AdminPassword is the bootstrap administrator's password of every test
// DittoFS server (DITTOFS_ADMIN_INITIAL_PASSWORD).
const AdminPassword = "Adm1n-test-password-42"

// DittoFS is a real DittoFS v0.29.0 server on loopback, its API over plain
// HTTP or, with DittoFSOptions.TLS, over TLS.
type DittoFS struct {
	// URL is the API base, http(s)://127.0.0.1:<port>.
	URL  string
	Port int
	// Dir holds its config, certificates, database and log.
	Dir string
	// NFSPort and SMBPort are where its adapters were moved after start
	// (the defaults 12049/1445 when DefaultPorts).
	NFSPort, SMBPort int
	// Client calls the API: over TLS it trusts CA and, with mutual TLS,
	// presents ClientCert.
	Client *http.Client

	// With TLS: CA is the PEM certificate of the CA that signed the server
	// certificate (what a cert-manager Secret carries under ca.crt, and what
	// the hook must verify the server against); ServerCert and ServerKey are
	// the PEM server certificate (SANs IP:127.0.0.1 and DNS:localhost unless
	// TLSOptions.SANs) and its key, a kubernetes.io/tls Secret's tls.crt and
	// tls.key; UntrustedCA signed nothing here, for tests that must see
	// verification fail.
	CA, ServerCert, ServerKey, UntrustedCA []byte
	// With mutual TLS: ClientCA is the bundle DittoFS requires client
	// certificates to chain to; ClientCert and ClientKey are a client
	// certificate it signed (what the hook presents); StrangerCert and
	// StrangerKey are signed by UntrustedCA, which DittoFS must refuse.
	ClientCA, ClientCert, ClientKey, StrangerCert, StrangerKey []byte

	t    harness.T
	opts DittoFSOptions
	proc *harness.Process
	lock *os.File
}

// DittoFSOptions configure a test server.
type DittoFSOptions struct {
	// AccessTokenDuration is controlplane.jwt.access_token_duration (15m).
	AccessTokenDuration string
	// DefaultPorts keeps the adapters on 12049 and 1445, holding the
	// machine-wide lock until the test ends (no other server may start).
	DefaultPorts bool
	// LogDir receives the server's log (default: the server's Dir).
	LogDir string
	// Port of the API (default: a free one).
	Port int
	// AdminPassword is DITTOFS_ADMIN_INITIAL_PASSWORD (default
	// AdminPassword), as the pod would get it from its Secret.
	AdminPassword string
	// TLS, when set, serves the API over TLS with certificates made by
	// openssl.
	TLS *TLSOptions
	// Postgres, when set, runs the control plane on Postgres as the hook's
	// pod does: config.yaml says database.type postgres and nothing more,
	// and these DITTOFS_DATABASE_POSTGRES_*=value variables carry the
	// settings (in the pod, from a Secret).
	Postgres []string
}

// TLSOptions configure a server's TLS: what the upstream operator's
// controlPlane.certSecretName and clientCASecretName configure in a pod.
type TLSOptions struct {
	// Mutual requires and verifies client certificates (controlplane.tls.client_ca).
	Mutual bool
	// SANs of the server certificate, in openssl's subjectAltName syntax
	// (default IP:127.0.0.1 and DNS:localhost).
	SANs []string
}

// TLSDittoFS is a DittoFS serving its API over TLS (StartDittoFSTLS).
type TLSDittoFS = DittoFS

// StartDittoFSTLS is StartDittoFS with its API over TLS.
func StartDittoFSTLS(t harness.T, o TLSOptions) *TLSDittoFS {
	t.Helper()
	return StartDittoFS(t, DittoFSOptions{TLS: &o})
}

// StartDittoFS starts a fresh DittoFS server and stops it by its PID when
// the test ends.
//
// Every DittoFS server binds its adapters on all interfaces at their stored
// ports, 12049 and 1445 when new, so two servers starting at once collide
// (Go runs test packages in parallel). A machine-wide file lock serialises
// the start, and the adapters are moved to free ports before it is released.
//
// With TLS, the config has the controlplane.tls section the upstream
// operator renders:
//
//	controlplane:
//	  tls:
//	    cert_file: <dir>/tls.crt
//	    key_file: <dir>/tls.key
//	    client_ca: <dir>/client-ca.crt   # Mutual only
func StartDittoFS(t harness.T, o DittoFSOptions) *DittoFS {
	t.Helper()
	bin := harness.Binary(t, "dfs")
	if o.AccessTokenDuration == "" {
		o.AccessTokenDuration = "15m"
	}
	if o.AdminPassword == "" {
		o.AdminPassword = AdminPassword
	}
	d := &DittoFS{t: t, opts: o, Dir: t.TempDir(), Port: o.Port, Client: &http.Client{Timeout: 10 * time.Second}}
	if d.Port == 0 {
		d.Port = harness.FreePort(t)
	}
	d.URL = fmt.Sprintf("http://127.0.0.1:%d", d.Port)
	tlsSection := ""
	if o.TLS != nil {
		tlsSection = d.setUpTLS()
	}
	database := fmt.Sprintf("  type: sqlite\n  sqlite:\n    path: %s", filepath.Join(d.Dir, "controlplane.db"))
	if o.Postgres != nil {
		database = "  type: postgres"
	}
	cfg := fmt.Sprintf(`logging:
  level: INFO
  format: text
  output: stdout
database:
%s
controlplane:
  host: 127.0.0.1
  port: %d
  require_initial_password_change: false
  jwt:
    secret: "test-signing-key-0123456789abcdef0123456789"
    access_token_duration: %s
    refresh_token_duration: 168h
%s`, database, d.Port, o.AccessTokenDuration, tlsSection)
	if err := os.WriteFile(filepath.Join(d.Dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.lockPorts()
	d.start(bin)
	if o.DefaultPorts {
		d.NFSPort, d.SMBPort = 12049, 1445
		t.Cleanup(d.unlockPorts)
	} else {
		d.NFSPort, d.SMBPort = harness.FreePort(t), harness.FreePort(t)
		token := d.AdminToken()
		d.Admin(token, http.MethodPut, "/api/v1/adapters/nfs", map[string]any{"port": d.NFSPort}, http.StatusOK, nil)
		d.Admin(token, http.MethodPut, "/api/v1/adapters/smb", map[string]any{"port": d.SMBPort}, http.StatusOK, nil)
		d.unlockPorts()
	}
	return d
}

// setUpTLS makes the certificates, points URL and Client at TLS, and
// returns the config's controlplane.tls section.
func (d *DittoFS) setUpTLS() string {
	d.t.Helper()
	o := d.opts.TLS
	if len(o.SANs) == 0 {
		o.SANs = []string{"IP:127.0.0.1", "DNS:localhost"}
	}
	d.makeCerts(o)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CA)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	section := fmt.Sprintf("  tls:\n    cert_file: %s\n    key_file: %s\n", filepath.Join(d.Dir, "tls.crt"), filepath.Join(d.Dir, "tls.key"))
	if o.Mutual {
		pair, err := tls.X509KeyPair(d.ClientCert, d.ClientKey)
		if err != nil {
			d.t.Fatalf("client key pair: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
		section += "    client_ca: " + filepath.Join(d.Dir, "client-ca.crt") + "\n"
	}
	d.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	d.URL = fmt.Sprintf("https://127.0.0.1:%d", d.Port)
	return section
}

func (d *DittoFS) start(bin string) {
	t := d.t
	logDir := d.opts.LogDir
	if logDir == "" {
		logDir = d.Dir
	}
	env := []string{
		"DITTOFS_ADMIN_INITIAL_PASSWORD=" + d.opts.AdminPassword,
		"HOME=" + d.Dir, "XDG_CONFIG_HOME=" + d.Dir, "XDG_STATE_HOME=" + d.Dir, "XDG_DATA_HOME=" + d.Dir, "XDG_CACHE_HOME=" + d.Dir,
	}
	env = append(env, d.opts.Postgres...)
	name := "dittofs-"
	if d.opts.TLS != nil {
		name = "dittofs-tls-"
	}
	d.proc = harness.Start(t, logDir, name+strconv.Itoa(d.Port), bin, env, "start", "--foreground", "--config", filepath.Join(d.Dir, "config.yaml"))
	d.waitHealthy(60 * time.Second)
}

// waitHealthy polls /health with Client until it answers 200.
func (d *DittoFS) waitHealthy(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if d.proc.Exited() {
			d.t.Fatalf("DittoFS exited before answering %s/health\n%s", d.URL, d.proc.Tail())
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
	d.t.Fatalf("DittoFS did not answer %s/health within %s: %v\n%s", d.URL, timeout, last, d.proc.Tail())
}

// Stop stops the server (SIGTERM to its PID); Restart starts it again on
// the same port and data.
func (d *DittoFS) Stop() { _ = d.proc.Stop() }

// Restart starts a stopped server again with its data.
func (d *DittoFS) Restart() {
	d.t.Helper()
	d.start(harness.Binary(d.t, "dfs"))
}

// PID is the server's process ID.
func (d *DittoFS) PID() int { return d.proc.Cmd.Process.Pid }

// Log returns the end of the server's log.
func (d *DittoFS) Log() string { return d.proc.Tail() }

// lockPorts takes the machine-wide lock held while a fresh server still
// binds the default adapter ports.
func (d *DittoFS) lockPorts() {
	dir := filepath.Join(os.TempDir(), "dittofs-hook-tests")
	_ = os.MkdirAll(dir, 0o777)
	f, err := os.OpenFile(filepath.Join(dir, "adapter-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		d.t.Fatal(err)
	}
	d.lock = f
}

func (d *DittoFS) unlockPorts() {
	if d.lock != nil {
		_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
		d.lock.Close()
		d.lock = nil
	}
}

// AdminToken logs in as the bootstrap administrator.
func (d *DittoFS) AdminToken() string {
	d.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	d.Admin("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": d.opts.AdminPassword}, http.StatusOK, &out)
	return out.AccessToken
}

// Admin calls the API with a token and checks the status.
func (d *DittoFS) Admin(token, method, path string, in any, want int, out any) {
	d.t.Helper()
	code, body := d.Call(token, method, path, in)
	if code != want {
		d.t.Fatalf("%s %s: got %d, want %d: %s", method, path, code, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			d.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// Call calls the API through Client and returns the status and body.
func (d *DittoFS) Call(token, method, path string, in any) (int, []byte) {
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
	return resp.StatusCode, b
}

// SetAdapter changes an adapter through the admin API.
func (d *DittoFS) SetAdapter(typ string, change map[string]any) {
	d.t.Helper()
	d.Admin(d.AdminToken(), http.MethodPut, "/api/v1/adapters/"+typ, change, http.StatusOK, nil)
}
