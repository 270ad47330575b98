package harness

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a component started by a test, stopped by its own PID.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Log is the file holding its stdout and stderr.
	Log string

	once sync.Once
	done chan struct{}
	err  error
}

// Start runs a binary with its output in logDir/<name>.log. It is stopped
// (SIGTERM, then SIGKILL after 10 s) when the test ends.
func Start(t T, logDir, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	return StartWithAttr(t, logDir, name, bin, env, nil, args...)
}

// StartWithAttr is Start with a hook to adjust how the process starts (the
// node tier starts its components in a cgroup of their own).
func StartWithAttr(t T, logDir, name, bin string, env []string, attr func(*syscall.SysProcAttr), args ...string) *Process {
	t.Helper()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that a signal to the test run does not
	// reach it before the test stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if attr != nil {
		attr(cmd.SysProcAttr)
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// Stop sends SIGTERM to the process's PID and waits; SIGKILL after 10 s.
func (p *Process) Stop() error {
	p.once.Do(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
	<-p.done
	return p.err
}

// Kill stops the process at once (SIGKILL), as a crash would.
func (p *Process) Kill() {
	p.once.Do(func() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	})
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail returns the end of the process's log, for failure messages.
func (p *Process) Tail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// WaitHTTP polls url until it answers 200, the process dies, or timeout.
func (p *Process) WaitHTTP(t T, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			t.Fatalf("%s exited before answering %s: %v\n%s", p.Name, url, p.err, p.Tail())
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %s within %s\n%s", p.Name, url, timeout, p.Tail())
}

// BuildHook builds ./cmd/hook into dir and returns the binary's path.
func BuildHook(t T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "hook")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hook")
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hook: %v\n%s", err, b)
	}
	return out
}

// URL formats a loopback URL.
func URL(port int, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, path) }
