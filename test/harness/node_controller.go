package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Controller is Metacontroller on the node's host: the real one when
// METACONTROLLER_BIN names a binary (its webhooks pointed at hookURL, the
// hook Service's address, instead of the cluster DNS name only pods
// resolve), or else the documented stand-in, which sends the install's
// token as Metacontroller would (HookToken). It can be stopped and started
// again, as a restarted controller would be.
type Controller struct {
	n       *Node
	t       T
	hookURL string
	bin     string

	mu      sync.Mutex
	standIn *StandIn
	proc    *Process
	starts  int
	syncs   int // of stand-ins stopped before the current one
	errs    []string
	log     *os.File
}

// StartController starts the controller; it stops when the test ends.
func StartController(t T, n *Node, hookURL string) *Controller {
	t.Helper()
	c := &Controller{n: n, t: t, hookURL: hookURL, bin: os.Getenv("METACONTROLLER_BIN")}
	if c.bin != "" {
		cc, err := os.ReadFile(filepath.Join(RepoRoot(), "compositecontroller.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		n.Apply(t, strings.ReplaceAll(string(cc), "http://dittofs-hook.dittofs-system.svc.cluster.local", hookURL))
	} else {
		f, err := os.OpenFile(filepath.Join(n.LogDir, "stand-in.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		c.log = f
	}
	c.Start()
	t.Cleanup(func() {
		c.Stop()
		if c.log != nil {
			c.log.Close()
		}
	})
	return c
}

// Real says whether this is the real Metacontroller.
func (c *Controller) Real() bool { return c.bin != "" }

// Start starts the controller if it is stopped.
func (c *Controller) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.standIn != nil || c.proc != nil {
		return
	}
	c.starts++
	if c.bin != "" {
		c.proc = Start(c.t, c.n.LogDir, fmt.Sprintf("metacontroller-%d", c.starts), c.bin, nil,
			"--kubeconfig", c.n.Kubeconfig, "--discovery-interval=5s",
			"--metrics-address=127.0.0.1:"+strconv.Itoa(FreePort(c.t)),
			"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(FreePort(c.t)))
		return
	}
	log := c.log
	c.standIn = &StandIn{Cluster: c.n.Cluster, HookURL: c.hookURL, Name: "dittofs-hook", Resync: 600 * time.Second,
		AuthToken: HookToken(c.n.KubectlErr),
		Logf: func(format string, args ...any) {
			fmt.Fprintf(log, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
		}}
	c.standIn.Start()
}

// Stop stops the controller (SIGTERM for the real one).
func (c *Controller) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.standIn != nil {
		c.standIn.Stop()
		c.errs = append(c.errs, c.standIn.Errors()...)
		c.syncs += c.standIn.Syncs()
		c.standIn = nil
	}
	if c.proc != nil {
		_ = c.proc.Stop()
		c.errs = append(c.errs, metacontrollerErrors(c.proc.Log)...)
		c.proc = nil
	}
}

// Syncs counts the hook calls the stand-in made, across restarts (-1 for
// the real Metacontroller: read the hook's metrics instead).
func (c *Controller) Syncs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bin != "" {
		return -1
	}
	n := c.syncs
	if c.standIn != nil {
		n += c.standIn.Syncs()
	}
	return n
}

// Errors returns the apply and hook errors seen so far.
func (c *Controller) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.errs...)
	if c.standIn != nil {
		out = append(out, c.standIn.Errors()...)
	}
	if c.proc != nil {
		out = append(out, metacontrollerErrors(c.proc.Log)...)
	}
	return out
}

func metacontrollerErrors(log string) []string {
	b, _ := os.ReadFile(log)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "failed to sync") || strings.Contains(line, "is invalid") {
			out = append(out, line)
		}
	}
	return out
}
