// Command demo runs the whole product on this machine, with nothing but Go
// and (as root) a few Debian packages, which it installs itself when they
// are missing (node.NodePackages, as test/run.sh does): a real one-node
// Kubernetes cluster (node.Start), Metacontroller v4.17.2 in it from upstream's
// manifests/production kustomization, the hook from `kubectl apply -k
// manifests`, and a sample DittoServer whose DittoFS runs in a pod. It
// creates a share, prints what a user sees and the smbclient, nfs-ls,
// kubectl and curl commands to explore it, and stays up until it is
// stopped, then tears everything down. Where the node cannot start (not
// root, packages missing), it says why in one line and runs the
// API-server-only mode instead (Metacontroller on the host), playing the
// kubelet and the cloud.
//
// However it is stopped, it leaves the host as it was: Ctrl-C (SIGINT),
// SIGTERM, a closed terminal (SIGHUP), or a reader of its output that went
// away (SIGPIPE: with `go run ./test/demo | tee demo.log`, Ctrl-C ends tee
// too, and the demo's next line of output would otherwise kill it in the
// middle of its teardown).
//
//	go run ./test/demo                      # stays up until Ctrl-C
//	go run ./test/demo --exit-after-print   # prints and stops (CI)
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
)

// demoT gives the harness what it needs outside a test: a failure or a
// signal stops the demo (cleanups in reverse, once, whichever goroutine
// comes first) and exits.
type demoT struct {
	dir string

	mu       sync.Mutex
	cleanups []func()
	n        int
	failed   bool
	stopping bool
	// finish, once the demo runs, reports how the teardown left the host
	// and returns the exit code.
	finish func() int
}

// Failed tells the node to keep its logs.
func (d *demoT) Failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}

func (d *demoT) Helper()                          {}
func (d *demoT) Logf(format string, args ...any)  { fmt.Printf("   "+format+"\n", args...) }
func (d *demoT) Fatal(args ...any)                { d.Fatalf("%s", fmt.Sprint(args...)) }
func (d *demoT) Skipf(format string, args ...any) { d.Fatalf(format, args...) }
func (d *demoT) Cleanup(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}
func (d *demoT) Fatalf(format string, args ...any) {
	d.mu.Lock()
	stopping := d.stopping
	if !stopping {
		d.failed = true
	}
	d.mu.Unlock()
	if stopping {
		// The teardown is under way (a signal): what failed here is what
		// it stopped. It exits the process.
		select {}
	}
	fmt.Fprintf(os.Stderr, "\ndemo failed: "+format+"\nlogs: %s\n", append(args, d.dir)...)
	d.end("it failed", 1)
}
func (d *demoT) TempDir() string {
	d.mu.Lock()
	d.n++
	n := d.n
	d.mu.Unlock()
	p := filepath.Join(d.dir, "tmp", strconv.Itoa(n))
	_ = os.MkdirAll(p, 0o755)
	return p
}

func (d *demoT) setFinish(f func() int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finish = f
}

// end stops everything the demo started, once, and exits with code (or
// finish's, when that is not 0). A second caller (the main goroutine
// failing as the teardown pulls its cluster away) blocks until the first
// exits.
func (d *demoT) end(why string, code int) {
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		select {}
	}
	d.stopping = true
	cleanups, finish := d.cleanups, d.finish
	d.cleanups = nil
	d.mu.Unlock()
	step("Stopping (%s): every process, container, mount, network rule and directory the demo made", why)
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if finish != nil {
		if c := finish(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

var stepStart = time.Now()

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+" (%s)\n", append(args, time.Since(stepStart).Round(time.Second))...)
}

func main() {
	exitAfter := flag.Bool("exit-after-print", false, "stop everything and exit once the result is printed (non-interactive runs)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "dittofs-hook-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t := &demoT{dir: dir}
	// Every way a demo ends tears it down, at any moment: Ctrl-C, SIGTERM,
	// a closed terminal (SIGHUP), and a reader of stdout that went away
	// (SIGPIPE). Asking for SIGPIPE also turns a write to the broken
	// stdout into an EPIPE error (ignored) instead of the end of the
	// process, so the teardown's own lines cannot cut it short.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		s := <-sigs
		t.end(signalName(s), 0)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	installPackages()
	if why := node.NodeUnavailable(); why != "" {
		fmt.Printf("The real node cannot start here (%s): running the API-server-only mode, where the harness plays the kubelet.\n", why)
		apiOnly(ctx, t, dir)
	} else {
		onNode(t, dir)
	}
	if !*exitAfter {
		fmt.Println("\nPress Ctrl-C to stop everything.")
		select {} // the signal's goroutine ends the demo
	}
	t.end("done", 0)
}

// signalName says which way the demo was stopped.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "Ctrl-C"
	case syscall.SIGHUP:
		return "SIGHUP: the terminal closed"
	case syscall.SIGPIPE:
		return "SIGPIPE: the reader of its output went away"
	}
	return s.String()
}

// apiOnly is the demo without a node: a real control plane, DittoFS as a
// process on loopback, the hook as a process, and the harness playing the
// kubelet and the cloud.
func apiOnly(ctx context.Context, t *demoT, dir string) {
	root := harness.RepoRoot()

	step("Building the real components from the Go module proxy (cached; the first run takes about 8 minutes on 2 cores)")
	harness.BuildLog = os.Stdout
	for _, c := range []string{"dfs", "etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "metacontroller"} {
		start := time.Now()
		p := harness.Binary(t, c)
		fmt.Printf("   %-24s %s (%s)\n", c, p, time.Since(start).Round(time.Millisecond))
	}
	hookBin := harness.BuildHook(t, dir)
	fmt.Printf("   %-24s %s\n", "hook", hookBin)

	step("Starting etcd, kube-apiserver and kube-controller-manager on loopback")
	c := cluster.Start(t, dir, controller.MetacontrollerCRDs(t), filepath.Join(root, "manifests", "crd"))
	for _, p := range c.Processes() {
		fmt.Printf("   started %s (pid %d)\n", p.Name, p.Cmd.Process.Pid)
	}
	kubectl := c.KubectlPath()

	step("Installing the dittofs-hook: its token Secret, then kubectl apply -k manifests")
	_, tokenFile := controller.CreateHookToken(t, c, dir)
	fmt.Print(indent(c.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests"))))

	step("Starting the hook and the controller")
	hookPort := harness.FreePort(t)
	hookURL := harness.URL(hookPort, "")
	// Its Events as the service account the manifests installed, with
	// exactly the permission they grant.
	hook := harness.Start(t, dir, "hook", hookBin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(hookPort),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--log-format", "text", "--auth-token-file", tokenFile,
		"--kubeconfig", c.ServiceAccountKubeconfig("dittofs-system", "dittofs-hook", 24*time.Hour))
	hook.WaitHTTP(t, hookURL+"/readyz", 10*time.Second)
	fmt.Printf("   started hook (pid %d) on %s\n", hook.Cmd.Process.Pid, hookURL)
	// The CompositeController the install applied, its webhooks pointed at
	// the hook on loopback (no cluster DNS here).
	controller.ApplyCompositeController(t, c, dir, hookURL)
	mc := controller.StartMetacontroller(t, c, dir, "dynamic-apply")
	fmt.Printf("   started Metacontroller v4.17.2 (pid %d), its webhooks pointed at %s\n", mc.PID(), hookURL)

	step("Applying manifests/samples/minimal.yaml (its API on a free loopback port, polled every 5s)")
	dfsPort := harness.FreePort(t)
	ds, name, spec := loadSample(t, "minimal.yaml")
	spec["controlPlane"] = map[string]any{"port": dfsPort}
	spec["adapterDiscovery"] = map[string]any{"pollingInterval": "5s"}
	dsFile := filepath.Join(dir, "dittoserver.json")
	b, _ := json.Marshal(ds)
	_ = os.WriteFile(dsFile, b, 0o644)
	fmt.Print(indent(c.Kubectl("apply", "-f", dsFile)))

	step("Playing the kubelet: DittoFS starts with the Secrets the hook generated")
	var adminPassword string
	wait(t, 60*time.Second, "the hook's Secrets and StatefulSet", func() bool {
		out, err := c.KubectlErr("get", "secret", name+"-admin-bootstrap-credentials", "-o", "jsonpath={.data.password}")
		if err != nil || out == "" {
			return false
		}
		pw, err := decodeB64(out)
		adminPassword = pw
		_, stsErr := c.KubectlErr("get", "statefulset", name)
		return err == nil && stsErr == nil
	})
	dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{AdminPassword: adminPassword, Port: dfsPort, LogDir: dir})
	fmt.Printf("   started DittoFS v0.29.0 (pid %d) on %s (nfs on %d, smb on %d)\n", dfs.PID(), dfs.URL, dfs.NFSPort, dfs.SMBPort)
	c.MarkStatefulSetReady("default", name)
	fmt.Printf("   StatefulSet %s marked ready\n", name)

	step("Playing the cloud: every LoadBalancer Service gets an address")
	lbCtx, stopLB := context.WithCancel(ctx)
	t.Cleanup(stopLB)
	go fakeLoadBalancer(lbCtx, c)
	wait(t, 90*time.Second, "both adapters at an address", func() bool {
		out, _ := c.KubectlErr("get", "dittoserver", name, "-o", `jsonpath={.status.adapters[*].endpoints[0]}`)
		return len(strings.Fields(out)) == 2 && !strings.Contains(out, "*")
	})

	step("Ready. This is what a user sees")
	fmt.Printf("\n$ kubectl get dittofs -o wide\n%s", c.Kubectl("get", "dittofs", "-o", "wide"))
	fmt.Printf("\n$ kubectl get services,networkpolicies -l dittofs.io/adapter-type\n%s", c.Kubectl("get", "services,networkpolicies", "-l", "dittofs.io/adapter-type"))
	fmt.Printf(`
Explore it (in another terminal):

  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get dittofs,statefulsets,services,networkpolicies,secrets
  kubectl get dittoserver %s -o yaml
  kubectl events --for dittoserver/%s

Disable the SMB adapter through DittoFS's API and watch its Service go
(within the 5s polling interval), then its NetworkPolicy:

  PW=$(kubectl get secret %s-admin-bootstrap-credentials -o jsonpath='{.data.password}' | base64 -d)
  TOKEN=$(curl -s -X POST %s/api/v1/auth/login -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" %s/api/v1/adapters/smb -d '{"enabled":false}'
  kubectl get services -l dittofs.io/adapter-type -w
  kubectl get networkpolicies -l dittofs.io/adapter-type -w

(kubectl watches one kind at a time: run the two watches in two terminals.)

Logs of every component: %s (kept when the demo stops; remove the folder yourself)
`, c.Kubeconfig, kubectl, name, name, name, dfs.URL, dfs.URL, dir)

	t.setFinish(func() int {
		fmt.Println("   stopped")
		fmt.Printf("   the logs of every component are kept in %s (rm -rf it when done)\n", dir)
		return 0
	})
}

// loadSample reads a DittoServer from manifests/samples, returning it, its
// name and its spec (to adjust before applying).
func loadSample(t *demoT, file string) (ds map[string]any, name string, spec map[string]any) {
	sample, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "manifests", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(sample, &ds); err != nil {
		t.Fatal(err)
	}
	return ds, ds["metadata"].(map[string]any)["name"].(string), ds["spec"].(map[string]any)
}

// fakeLoadBalancer gives each LoadBalancer Service without an address one
// from the documentation range, through the status subresource.
func fakeLoadBalancer(ctx context.Context, c *cluster.Cluster) {
	next := 10
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		out, err := c.KubectlErr("get", "services", "-o", `jsonpath={range .items[?(@.spec.type=="LoadBalancer")]}{.metadata.name} {.status.loadBalancer.ingress[0].ip}{"\n"}{end}`)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 1 {
				continue
			}
			patch := fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.%d"}]}}}`, next)
			if _, err := c.KubectlErr("patch", "service", f[0], "--subresource=status", "--type=merge", "-p", patch); err == nil {
				next++
			}
		}
	}
}

func wait(t *demoT, timeout time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func decodeB64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("   " + l + "\n")
	}
	return b.String()
}
