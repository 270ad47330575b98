package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// AdminPassword is the bootstrap administrator's password of every test
// DittoFS server (DITTOFS_ADMIN_INITIAL_PASSWORD).
const AdminPassword = "Adm1n-test-password-42"

// DittoFS is a real DittoFS v0.29.0 server on loopback.
type DittoFS struct {
	// URL is the API base, http://127.0.0.1:<port>.
	URL  string
	Port int
	// Dir holds its config, database and log.
	Dir string
	// NFSPort and SMBPort are where its adapters were moved after start
	// (the defaults 12049/1445 when DefaultPorts).
	NFSPort, SMBPort int

	t    T
	opts DittoFSOptions
	proc *Process
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
	// harness.AdminPassword), as the pod would get it from its Secret.
	AdminPassword string
}

// StartDittoFS starts a fresh DittoFS server and stops it by its PID when
// the test ends.
//
// Every DittoFS server binds its adapters on all interfaces at their stored
// ports, 12049 and 1445 when new, so two servers starting at once collide
// (Go runs test packages in parallel). A machine-wide file lock serialises
// the start, and the adapters are moved to free ports before it is released.
func StartDittoFS(t T, o DittoFSOptions) *DittoFS {
	t.Helper()
	bin := Binary(t, "dfs")
	if o.AccessTokenDuration == "" {
		o.AccessTokenDuration = "15m"
	}
	if o.AdminPassword == "" {
		o.AdminPassword = AdminPassword
	}
	d := &DittoFS{t: t, opts: o, Dir: t.TempDir()}
	d.Port = o.Port
	if d.Port == 0 {
		d.Port = FreePort(t)
	}
	d.URL = fmt.Sprintf("http://127.0.0.1:%d", d.Port)
	cfg := fmt.Sprintf(`logging:
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
    access_token_duration: %s
    refresh_token_duration: 168h
`, filepath.Join(d.Dir, "controlplane.db"), d.Port, o.AccessTokenDuration)
	if err := os.WriteFile(filepath.Join(d.Dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.lockPorts()
	d.start(bin)
	if o.DefaultPorts {
		d.NFSPort, d.SMBPort = 12049, 1445
		t.Cleanup(d.unlockPorts)
	} else {
		d.NFSPort, d.SMBPort = FreePort(t), FreePort(t)
		token := d.AdminToken()
		d.Admin(token, http.MethodPut, "/api/v1/adapters/nfs", map[string]any{"port": d.NFSPort}, http.StatusOK, nil)
		d.Admin(token, http.MethodPut, "/api/v1/adapters/smb", map[string]any{"port": d.SMBPort}, http.StatusOK, nil)
		d.unlockPorts()
	}
	return d
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
	d.proc = Start(t, logDir, "dittofs-"+strconv.Itoa(d.Port), bin, env, "start", "--foreground", "--config", filepath.Join(d.Dir, "config.yaml"))
	d.proc.WaitHTTP(t, d.URL+"/health", 60*time.Second)
}

// Stop stops the server (SIGTERM to its PID); Restart starts it again on
// the same port and data.
func (d *DittoFS) Stop() { _ = d.proc.Stop() }

// Restart starts a stopped server again with its data.
func (d *DittoFS) Restart() {
	d.t.Helper()
	d.start(Binary(d.t, "dfs"))
}

// PID is the server's process ID.
func (d *DittoFS) PID() int { return d.proc.Cmd.Process.Pid }

// Log returns the end of the server's log.
func (d *DittoFS) Log() string { return d.proc.Tail() }

func (d *DittoFS) lockPorts() {
	dir := filepath.Join(os.TempDir(), "dittofs-hook-tests")
	_ = os.MkdirAll(dir, 0o777)
	f, err := os.OpenFile(filepath.Join(dir, "adapter-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
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

// Call calls the API and returns the status and body.
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
	resp, err := http.DefaultClient.Do(req)
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
