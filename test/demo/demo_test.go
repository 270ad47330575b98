package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
)

var pidRE = regexp.MustCompile(`\(pid (\d+)\)`)

// demo runs the demo binary; it returns its output so far when stop says so.
type demo struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

// demoBinary builds the demo once per test binary.
var demoBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dittofs-hook-demo-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "demo")
	build := exec.Command("go", "build", "-o", bin, "./test/demo")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the demo: %v\n%s", err, out)
	}
	return bin, nil
})

func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	bin, err := demoBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	d.cmd.Dir = harness.RepoRoot()
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	go func() { err := d.cmd.Wait(); pw.Close(); d.done <- err }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill() })
	return d
}

func (d *demo) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func (d *demo) waitFor(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(d.output(), text) {
		select {
		case err := <-d.done:
			t.Fatalf("the demo ended (%v) before printing %q:\n%s", err, text, d.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not print %q within %s:\n%s", text, timeout, d.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkGone fails for every process the demo said it started that still runs.
func checkGone(t *testing.T, output string) {
	t.Helper()
	pids := pidRE.FindAllStringSubmatch(output, -1)
	if len(pids) < 5 {
		t.Fatalf("the demo printed only %d process IDs:\n%s", len(pids), output)
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d is still running after the demo stopped", pid)
		}
	}
}

// TestDemoInteractive runs the demo as a user would, on the real node: it
// shows the DittoFS pod Running and the endpoints; the smbclient and nfs-ls
// commands it prints work from the host; the curl it shows disables SMB and
// its Service disappears; Ctrl-C stops every process it started and leaves
// the host as it was.
func TestDemoInteractive(t *testing.T) {
	if why := node.NodeUnavailable(); why != "" {
		t.Fatalf("the demo runs on the real node, which cannot start here: %s (test/run.sh node installs what it needs)", why)
	}
	d := startDemo(t)
	d.waitFor(t, "Press Ctrl-C to stop everything.", 20*time.Minute)
	out := d.output()
	if !readyRow.MatchString(out) {
		t.Errorf("the demo's kubectl get dittofs -o wide shows no ready DittoServer (want a line matching %s)", readyRow)
	}
	if !mcRunning.MatchString(out) {
		t.Errorf("the demo's kubectl get pods -n metacontroller shows no Running Metacontroller pod (want a line matching %s)", mcRunning)
	}
	for _, want := range []string{"minimal-0", "Running", "10.97.0.", "service/minimal-adapter-nfs", "service/minimal-adapter-smb", "export KUBECONFIG=", "smbclient //", "nfs-ls 'nfs://"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	kubeconfig := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(out)[1]
	kubectl := regexp.MustCompile(`alias kubectl=(\S+)`).FindStringSubmatch(out)[1]
	// Every command in the "Explore it" block is run below: a command
	// the demo prints and this test does not know fails the test.
	var smb, nfs string
	var script, kubectlCmds, watches []string
	for _, l := range exploreCommands(t, out) {
		switch {
		case strings.HasPrefix(l, "export KUBECONFIG=") || strings.HasPrefix(l, "alias kubectl="):
		case strings.HasPrefix(l, "smbclient //"):
			smb = l
		case strings.HasPrefix(l, "nfs-ls 'nfs://"):
			nfs = l
		case strings.HasPrefix(l, "PW=") || strings.HasPrefix(l, "TOKEN=") || strings.HasPrefix(l, "curl -s -X PUT"):
			script = append(script, l)
		case strings.HasPrefix(l, "kubectl ") && strings.HasSuffix(l, " -w"):
			watches = append(watches, l)
		case strings.HasPrefix(l, "kubectl "):
			kubectlCmds = append(kubectlCmds, l)
		default:
			t.Errorf("the demo prints a command this test does not run: %q", l)
		}
	}
	cache := "KUBECACHEDIR=" + t.TempDir() // its own kubectl cache: the demo checks that the host is as it was
	userShell := func(cmd string) *exec.Cmd {
		c := exec.Command("bash", "-c", "set -euo pipefail\nkubectl() { "+kubectl+" \"$@\"; }\n"+cmd)
		c.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, cache)
		return c
	}
	for _, c := range kubectlCmds {
		b, err := userShell(c).CombinedOutput()
		t.Logf("demo: $ %s\n%s", c, b)
		if err != nil {
			t.Errorf("the printed command %q failed: %v", c, err)
		}
	}
	if len(watches) != 2 {
		t.Errorf("the demo prints %d watch commands, want one for Services and one for NetworkPolicies", len(watches))
	}
	for _, c := range watches {
		// A watch must stream: still running after a few seconds, having
		// printed what it sees, not exited with an error.
		cmd := userShell(c)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that the kubectl under bash stops too
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Errorf("the printed watch %q ended (%v) instead of streaming:\n%s", c, err, buf.String())
		case <-time.After(4 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if err := <-exited; err == nil {
				t.Errorf("the printed watch %q exited cleanly after SIGKILL", c)
			}
			if !strings.Contains(buf.String(), "minimal-adapter-") {
				t.Errorf("the printed watch %q showed no adapter object in 4 s:\n%s", c, buf.String())
			}
			t.Logf("demo: $ %s (stopped after 4 s)\n%s", c, buf.String())
		}
	}
	// The client commands it prints work from the host, against the share
	// it created.
	for _, c := range []struct{ cmd, want string }{{smb, "os-release.txt"}, {nfs, "os-release.txt"}} {
		b, err := exec.Command("bash", "-c", c.cmd).CombinedOutput()
		t.Logf("demo: $ %s\n%s", c.cmd, b)
		if err != nil || !strings.Contains(string(b), c.want) {
			t.Errorf("the printed command failed (%v) or does not show %q", err, c.want)
		}
	}
	if len(script) != 3 {
		t.Fatalf("the demo does not print the three commands that disable SMB:\n%s", out)
	}
	if b, err := userShell(strings.Join(script, "\n")).CombinedOutput(); err != nil || !strings.Contains(string(b), `"enabled":false`) {
		t.Fatalf("the printed commands failed: %v\n%s", err, b)
	}
	start := time.Now()
	for {
		get := exec.Command(kubectl, "get", "service", "minimal-adapter-smb")
		get.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, cache)
		if b, err := get.CombinedOutput(); err != nil && strings.Contains(string(b), "NotFound") {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatal("the SMB Service is still there 60s after SMB was disabled")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("demo: SMB Service removed %s after the curl", time.Since(start).Round(100*time.Millisecond))

	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("the demo exited with %v after Ctrl-C:\n%s", err, d.output())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the demo did not stop within 3 minutes of Ctrl-C")
	}
	if !strings.Contains(d.output(), "the host is as it was") {
		t.Errorf("the demo did not check the host after stopping:\n%s", d.output())
	}
	checkGone(t, d.output())
	checkLogsKept(t, d.output())
}

// exploreCommands returns the commands the demo prints for the user to run:
// the indented lines after "Explore it", up to the logs line.
func exploreCommands(t *testing.T, out string) []string {
	t.Helper()
	_, block, ok := strings.Cut(out, "Explore it")
	if !ok {
		t.Fatalf("the demo printed no commands to explore it:\n%s", out)
	}
	block, _, _ = strings.Cut(block, "Logs of every component")
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "" {
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	return cmds
}

// checkLogsKept: the log folder the demo advertises is still there after
// it stopped, with the components' logs in it.
func checkLogsKept(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`Logs of every component: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo does not say where the logs are:\n%s", out)
	}
	logs, _ := filepath.Glob(filepath.Join(m[1], "*.log"))
	if len(logs) < 3 {
		t.Errorf("the demo's log folder %s holds %d logs after it stopped", m[1], len(logs))
	}
	if !strings.Contains(out, "kept in "+m[1]) {
		t.Errorf("the demo does not say, when stopping, that %s is kept", m[1])
	}
	_ = os.RemoveAll(m[1])
}

// readyRow is the DittoServer's line in kubectl get dittofs -o wide once it
// is ready: the CRD's printer columns Replicas, Ready, Available, Status
// (status.phase) and Condition (the Ready condition's reason).
var readyRow = regexp.MustCompile(`(?m)^ *minimal +1 +1 +1 +Running +Ready +`)

// mcRunning is Metacontroller's pod, Running and ready, in kubectl get pods
// -n metacontroller.
var mcRunning = regexp.MustCompile(`(?m)^metacontroller-0 +1/1 +Running +`)

// TestDemoEnds runs the demo to the two ends besides Ctrl-C at its prompt
// (TestDemoInteractive) that once left the node running, and checks each
// time that no process it started runs on and that the host is as it was
// before (the test's own snapshot, not the demo's word, which a broken pipe
// cannot carry):
//   - SIGHUP (its terminal closed) once its node is up, while it is still
//     installing;
//   - non-interactively (--exit-after-print, as CI runs it) with its output
//     a pipe whose reader goes away once the result is printed, as `| tee`
//     or `| head` does: every line after that, its teardown's included,
//     meets a broken pipe (SIGPIPE killed the demo there, in the middle of
//     its teardown, before it asked for the signal).
func TestDemoEnds(t *testing.T) {
	if why := node.NodeUnavailable(); why != "" {
		t.Fatalf("the demo runs on the real node, which cannot start here: %s (test/run.sh node installs what it needs)", why)
	}
	bin, err := demoBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		// until: the line after which the test acts.
		until func(line string) bool
		// closePipe: the reader goes away then; else it drains the rest.
		closePipe bool
		// sig is sent then (0: none).
		sig syscall.Signal
	}{
		{"SIGHUP while it starts", nil, func(l string) bool { return strings.Contains(l, "Installing Metacontroller") }, false, syscall.SIGHUP},
		{"exit after print, its stdout a pipe closed once the result is printed", []string{"--exit-after-print"}, readyRow.MatchString, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := host.RecoverNode(); err != nil {
				t.Fatal(err)
			}
			before, err := host.SnapshotHostLocked()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, c.args...)
			cmd.Dir = harness.RepoRoot()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout = pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			var out strings.Builder
			sc := bufio.NewScanner(pr)
			reached := false
			deadline := time.AfterFunc(20*time.Minute, func() { _ = cmd.Process.Kill() })
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if c.until(sc.Text()) {
					reached = true
					break
				}
			}
			deadline.Stop()
			if !reached {
				t.Fatalf("the demo ended before the moment this test acts:\n%s\n%s", out.String(), stderr.String())
			}
			drained := make(chan struct{})
			if c.closePipe {
				pr.Close()
				close(drained)
			} else {
				// The reader stays; drain what follows (until the demo, the
				// pipe's only writer, exits).
				go func() {
					defer close(drained)
					for sc.Scan() {
						out.WriteString(sc.Text() + "\n")
					}
				}()
				t.Cleanup(func() { pr.Close() })
			}
			if c.sig != 0 {
				if err := cmd.Process.Signal(c.sig); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					t.Errorf("the demo was killed by %s instead of tearing down (%v):\n%s", ws.Signal(), err, stderr.String())
				} else if err != nil {
					t.Errorf("the demo exited with %v:\n%s", err, stderr.String())
				}
			case <-time.After(3 * time.Minute):
				t.Fatalf("the demo did not stop within 3 minutes")
			}
			<-drained
			pids := pidRE.FindAllStringSubmatch(out.String(), -1)
			if len(pids) < 5 {
				t.Errorf("the demo printed only %d process IDs:\n%s", len(pids), out.String())
			}
			for _, m := range pids {
				pid, _ := strconv.Atoi(m[1])
				if err := syscall.Kill(pid, 0); err == nil {
					t.Errorf("process %d is still running after the demo stopped", pid)
				}
			}
			after, err := host.SnapshotHostLocked()
			if err != nil {
				t.Fatal(err)
			}
			if diff := before.Diff(after); len(diff) > 0 {
				t.Errorf("the host is not as it was after the demo ended:\n%s", strings.Join(diff, "\n"))
				_ = host.RecoverNode()
			}
			if m := regexp.MustCompile(`every component's log in (\S+)`).FindStringSubmatch(out.String()); m != nil {
				_ = os.RemoveAll(filepath.Dir(m[1]))
			}
		})
	}
}
