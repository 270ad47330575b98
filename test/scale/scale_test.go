//go:build scale

// Package scale measures a fleet of DittoServers too large for the one
// real node (issue 27: "the sizing table extends by measurement to 200,
// API server only"): the real etcd, kube-apiserver and
// kube-controller-manager on loopback, the real Metacontroller v4.17.2 on
// the host with a sizing component's flags, two real hook replicas behind
// one address, one real DittoFS v0.29.0 per DittoServer on its own loopback
// port, and the kubelet played (each StatefulSet is marked ready as soon as
// it exists). No pod, claim or container runtime costs anything, so what is
// measured is the control loop: Metacontroller, the hook, DittoFS's API and
// the API server.
//
// It is a benchmark, not a test of CI's tiers: it runs only with the build
// tag scale (docs/development.md, docs/sizing.md):
//
//	flock /run/lock/dittofs-hook-node.lock go test -tags scale ./test/scale -run TestScale -v -timeout 60m
package scale

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittoserver"
	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

const (
	// serversEnv is how many DittoServers (default 200).
	serversEnv = "DITTOFS_HOOK_SCALE_SERVERS"
	// componentEnv names the sizing component of
	// manifests/metacontroller/components whose flags Metacontroller gets
	// (default fleet-200; "upstream" for upstream's defaults).
	componentEnv = "DITTOFS_HOOK_SCALE_COMPONENT"
	// keepEnv, when set, keeps the logs of a run that passed.
	keepEnv    = "DITTOFS_HOOK_SCALE_KEEP_LOGS"
	namespaces = 5
	interval   = 5 * time.Second
	// inFlight is how many disables are under way at once, as the node
	// fleet does them.
	inFlight = 10
	// memoryFloor is the memory the machine keeps for others (the lead's
	// node measurements, the other engineers' builds): DittoFS servers stop
	// being started below it, and the run says how many fitted.
	memoryFloor = 6 << 20 // KiB
	// scrapeTimeout is how long one read of a component's metrics may
	// take (the soak's reads, from pods on the node, allow 5 s).
	scrapeTimeout = 10 * time.Second
)

type server struct {
	ns, name string
}

func (s server) String() string { return s.ns + "/" + s.name }

type rig struct {
	t   *testing.T
	dir string
	c   *cluster.Cluster

	servers []server
	dfs     map[server]*dittofstest.DittoFS
	// tokens are the DittoFS administrator's access tokens, by server.
	tokens map[server]string

	hooks       []*harness.Process
	hookURLs    []string
	hookMetrics []string
	mc          *controller.HostMetacontroller
	mcMetrics   string
	mcArgs      []string

	figures []string
}

func (r *rig) figure(what, format string, args ...any) {
	line := what + ": " + fmt.Sprintf(format, args...)
	r.figures = append(r.figures, line)
	r.t.Logf("scale: %s", line)
}

// TestScale brings up the fleet, measures its steady state and the time
// from disabling SMB through DittoFS's API to its Service being gone (ten
// at a time), and breaks the disables down.
func TestScale(t *testing.T) {
	n := 200
	if v := os.Getenv(serversEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", serversEnv, v)
		}
	}
	component := "fleet-200"
	if v := os.Getenv(componentEnv); v != "" {
		component = v
	}
	dir, err := os.MkdirTemp("", "dittofs-hook-scale-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scale: logs of every component in %s", dir)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(keepEnv) != "" {
			t.Logf("scale: the logs are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	r := &rig{t: t, dir: dir, dfs: map[server]*dittofstest.DittoFS{}, tokens: map[server]string{}}
	if component != "upstream" {
		r.mcArgs = componentArgs(t, component)
	}
	if v := os.Getenv(controller.MetacontrollerArgsEnv); v != "" {
		r.mcArgs = append(r.mcArgs, strings.Fields(v)...)
	}
	r.figure("machine", "%d CPUs, %.1f GiB memory (%.1f GiB available), load average %s, %s/%s, %s",
		runtime.NumCPU(), float64(meminfoKiB("MemTotal"))/(1<<20), float64(meminfoKiB("MemAvailable"))/(1<<20), loadavg(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format(time.RFC3339))
	r.figure("Metacontroller's flags", "component %s: %s", component, strings.Join(r.mcArgs, " "))

	root := harness.RepoRoot()
	r.c = cluster.Start(t, dir, controller.MetacontrollerCRDs(t), filepath.Join(root, "manifests", "crd"))
	// The API server's service range of StartCluster (a /24) holds 254
	// cluster IPs; each DittoServer takes three (its API Service and two
	// adapter Services). A second ServiceCIDR adds room, as a cluster
	// admin would (no controller needs to mark it ready: the API server
	// uses one without a Ready condition).
	r.apply(`apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: scale
spec:
  cidrs: [10.96.0.0/16]
`)
	_, tokenFile := controller.CreateHookToken(t, r.c, dir)
	r.c.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests"))
	r.startDittoFS(n)
	r.startHooks(tokenFile)
	controller.ApplyCompositeController(t, r.c, dir, harness.RoundRobin(t, r.hookURLs...))
	mcPort := harness.FreePort(t)
	r.mcMetrics = harness.URL(mcPort, "/metrics")
	// --metrics-address again after the harness's own: Go's flag package
	// keeps the last, and this one is known here.
	r.mc = controller.StartMetacontroller(t, r.c, dir, "dynamic-apply", append(r.mcArgs, "--metrics-address=127.0.0.1:"+strconv.Itoa(mcPort))...)
	t.Logf("scale: Metacontroller v4.17.2, log %s", r.mc.Log())

	stop := r.playKubelet()
	defer stop()
	r.bringUp()
	r.steady()
	r.disables()
	if errs := r.mc.Errors(); len(errs) > 0 {
		t.Errorf("Metacontroller logged %d sync errors, e.g. %s", len(errs), errs[0])
	}
	t.Logf("scale: all figures:\n  %s", strings.Join(r.figures, "\n  "))
}

// componentArgs reads the flags a sizing component adds to Metacontroller's
// container: the values of its JSON patches' "add …/args/-" operations, so
// that the benchmark runs what users install and not a second copy.
func componentArgs(t *testing.T, name string) []string {
	t.Helper()
	file := filepath.Join(controller.MetacontrollerComponent(name), "kustomization.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Patches []struct {
			Patch string `json:"patch"`
		} `json:"patches"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var args []string
	for _, p := range k.Patches {
		var ops []struct {
			Op, Path string
			Value    string
		}
		if err := yaml.Unmarshal([]byte(p.Patch), &ops); err != nil {
			t.Fatalf("%s: a patch: %v", file, err)
		}
		for _, op := range ops {
			if op.Op != "add" || op.Path != "/spec/template/spec/containers/0/args/-" {
				t.Fatalf("%s: %s %s is not a flag added to Metacontroller's container", file, op.Op, op.Path)
			}
			args = append(args, op.Value)
		}
	}
	if len(args) == 0 {
		t.Fatalf("%s adds no flags", file)
	}
	return args
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// apply applies a manifest through a file.
func (r *rig) apply(manifest string) {
	r.t.Helper()
	f, err := os.CreateTemp(r.dir, "apply-*.yaml")
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := f.WriteString(manifest); err != nil {
		r.t.Fatal(err)
	}
	f.Close()
	r.c.Kubectl("apply", "-f", f.Name())
}

// startDittoFS starts one real DittoFS per DittoServer, one after the
// other (a fresh server binds the default adapter ports until the harness
// moves them), and measures what one costs: its start-up and its memory.
func (r *rig) startDittoFS(n int) {
	t := r.t
	var starts []time.Duration
	begin := time.Now()
	for i := range n {
		if avail := meminfoKiB("MemAvailable"); avail < memoryFloor {
			t.Fatalf("scale: only %d DittoFS servers fit: %.1f GiB available, the run keeps %.0f GiB for the machine's other users; rerun with %s=%d",
				i, float64(avail)/(1<<20), float64(memoryFloor)/(1<<20), serversEnv, i)
		}
		s := server{ns: fmt.Sprintf("scale-%d", i%namespaces+1), name: fmt.Sprintf("fs-%03d", i+1)}
		one := time.Now()
		r.dfs[s] = dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
		starts = append(starts, time.Since(one))
		r.servers = append(r.servers, s)
		if (i+1)%25 == 0 {
			t.Logf("scale: %d DittoFS servers started in %s", i+1, time.Since(begin).Round(time.Second))
		}
	}
	total := time.Since(begin)
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	rss := r.dfsRSS()
	r.figure("DittoFS servers started", "%d in %.1f s, one after the other (each: start, health, an admin login, its two adapters moved to free ports): p50 %.2f s, max %.2f s; idle RSS %s",
		n, total.Seconds(), quantile(starts, 0.5).Seconds(), quantile(starts, 1).Seconds(), rss)
}

// dfsRSS sums and summarises the DittoFS servers' resident memory.
func (r *rig) dfsRSS() string {
	var total, most int64
	for _, d := range r.dfs {
		v, err := statusKiB(d.PID(), "VmRSS")
		if err != nil {
			r.t.Errorf("DittoFS %s: %v", d.URL, err)
			continue
		}
		total += v
		most = max(most, v)
	}
	return fmt.Sprintf("mean %.1f MiB, max %.1f MiB, %.2f GiB for %d", float64(total)/float64(len(r.dfs))/1024, float64(most)/1024, float64(total)/(1<<20), len(r.dfs))
}

// startHooks starts two hook replicas with the Deployment's flags (its
// listeners and token file replaced by loopback ones), each polling the
// DittoServer's API at 127.0.0.1:<spec.controlPlane.port>.
func (r *rig) startHooks(tokenFile string) {
	t := r.t
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "manifests", "hook", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.Unmarshal(b, &dep); err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if !strings.HasPrefix(a, "--listen=") && !strings.HasPrefix(a, "--metrics-listen=") && !strings.HasPrefix(a, "--auth-token-file=") {
			shipped = append(shipped, a)
		}
	}
	bin := harness.BuildHook(t, r.dir)
	kubeconfig := r.c.ServiceAccountKubeconfig("dittofs-system", "dittofs-hook", 3*time.Hour)
	for i := range 2 {
		port, metrics := harness.FreePort(t), harness.FreePort(t)
		args := append(append([]string(nil), shipped...),
			"--listen=127.0.0.1:"+strconv.Itoa(port), "--metrics-listen=127.0.0.1:"+strconv.Itoa(metrics),
			"--auth-token-file="+tokenFile, "--dittofs-url-template=http://127.0.0.1:{{.Port}}", "--kubeconfig="+kubeconfig)
		p := harness.Start(t, r.dir, fmt.Sprintf("hook-%d", i), bin, nil, args...)
		p.WaitHTTP(t, harness.URL(port, "/readyz"), 30*time.Second)
		r.hooks, r.hookURLs = append(r.hooks, p), append(r.hookURLs, harness.URL(port, ""))
		r.hookMetrics = append(r.hookMetrics, harness.URL(metrics, "/metrics"))
		if i == 0 {
			t.Logf("scale: hook flags %s", strings.Join(args, " "))
		}
	}
}

// playKubelet marks every StatefulSet of the fleet ready as soon as it
// exists (and again whenever its generation moves): the kubelet and the
// StatefulSet controller of a cluster whose pods start at once. It returns
// a function that stops it.
func (r *rig) playKubelet() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			code, body := r.c.Do("GET", "/apis/apps/v1/statefulsets", "", nil)
			if code != http.StatusOK {
				continue
			}
			var list appsv1.StatefulSetList
			if err := json.Unmarshal(body, &list); err != nil {
				continue
			}
			for _, s := range list.Items {
				if !strings.HasPrefix(s.Namespace, "scale-") || (s.Status.ObservedGeneration == s.Generation && s.Status.ReadyReplicas == 1) {
					continue
				}
				patch := fmt.Sprintf(`{"status":{"observedGeneration":%d,"replicas":1,"readyReplicas":1,"availableReplicas":1,"currentReplicas":1,"updatedReplicas":1}}`, s.Generation)
				r.c.Do("PATCH", "/apis/apps/v1/namespaces/"+s.Namespace+"/statefulsets/"+s.Name+"/status", "application/merge-patch+json", []byte(patch))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *rig) manifest(s server) string {
	return fmt.Sprintf(`apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: %s
  namespace: %s
spec:
  storage:
    metadataSize: 1Gi
    controlPlaneSize: 1Gi
  controlPlane:
    port: %d
  identity:
    admin:
      username: admin
      passwordSecretRef:
        name: admin-password
        key: password
  adapterServices:
    type: NodePort
  adapterDiscovery:
    pollingInterval: %s
`, s.name, s.ns, r.dfs[s].Port, interval)
}

// bringUp applies every DittoServer at once (each namespace's Secret with
// the DittoFS administrator's password first) and waits until all are
// Ready.
func (r *rig) bringUp() {
	t := r.t
	var docs []string
	for i := range namespaces {
		ns := fmt.Sprintf("scale-%d", i+1)
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
			fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: admin-password\n  namespace: %s\nstringData:\n  password: %s\n", ns, dittofstest.AdminPassword))
	}
	r.apply(strings.Join(docs, "---\n"))
	docs = nil
	for _, s := range r.servers {
		docs = append(docs, r.manifest(s))
	}
	t.Logf("scale: applying %d DittoServers like this one:\n%s", len(r.servers), r.manifest(r.servers[0]))
	begin := time.Now()
	r.apply(strings.Join(docs, "---\n"))
	timeout := 5*time.Minute + time.Duration(len(r.servers))*3*time.Second
	last := begin
	for {
		ready, detail := r.ready("")
		if ready == len(r.servers) {
			break
		}
		if time.Since(begin) > timeout {
			t.Fatalf("scale: not all Ready within %s: %s", timeout, detail)
		}
		if time.Since(last) > 30*time.Second {
			t.Logf("scale: after %s: %s", time.Since(begin).Round(time.Second), detail)
			last = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.figure("apply → all Ready", "%.1f s for %d DittoServers in %d namespaces (the kubelet played: no pod starts)", time.Since(begin).Seconds(), len(r.servers), namespaces)
}

// ready counts the DittoServers Ready at their generation with every
// adapter but the one named at an address, and says why the others are not.
func (r *rig) ready(except string) (int, string) {
	list, err := dittoserver.List(r.c)
	if err != nil {
		return 0, err.Error()
	}
	n := 0
	why := map[string]int{}
	for _, d := range list {
		ok, reason := d.Ready()
		// The first adapter not at an address is the reason.
		for _, typ := range []string{"nfs", "smb"} {
			if !ok || typ == except {
				continue
			}
			ok, reason = d.AtAddress(typ), typ+" not at an address"
		}
		if ok {
			n++
		} else {
			why[reason]++
		}
	}
	var parts []string
	for k, v := range why {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(parts)
	return n, fmt.Sprintf("%d of %d Ready; not: %s", n, len(r.servers), strings.Join(parts, ", "))
}

// fleetWrites are the API server's writes to the fleet's objects (the
// DittoServers, their children, Events), and the rest.
func fleetWrites(before, after map[string]int) (fleet int, detail []string, others int) {
	for k, v := range after {
		d := v - before[k]
		if d <= 0 {
			continue
		}
		resource := strings.SplitN(k[strings.Index(k, " ")+1:], "/", 2)[0]
		switch resource {
		case "dittoservers", "statefulsets", "services", "networkpolicies", "configmaps", "secrets", "events":
			fleet += d
			detail = append(detail, fmt.Sprintf("%s ×%d", k, d))
		default:
			others += d
		}
	}
	sort.Strings(detail)
	return fleet, detail, others
}

// settle waits until a whole polling interval passes without a write to the
// fleet's objects, at most timeout.
func (r *rig) settle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		before := r.c.Writes()
		time.Sleep(interval)
		if w, _, _ := fleetWrites(before, r.c.Writes()); w == 0 {
			return true
		}
	}
	return false
}

// point is what the breakdown reads at one moment.
type point struct {
	at        time.Time
	writes    map[string]int
	apiserver promscrape.Series
	hooks     []promscrape.Series
	mc        promscrape.Series
	throttled []float64
	cpu       map[string]float64 // process → CPU seconds so far
}

func (r *rig) point() point {
	t := r.t
	p := point{at: time.Now(), writes: r.c.Writes(), cpu: map[string]float64{}}
	code, body := r.c.Do("GET", "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("the API server's /metrics: %d", code)
	}
	var err error
	if p.apiserver, err = promscrape.Parse(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	for _, u := range r.hookMetrics {
		s, err := promscrape.Scrape(u, scrapeTimeout)
		if err != nil {
			t.Fatalf("hook metrics: %v", err)
		}
		p.hooks = append(p.hooks, s)
	}
	if p.mc, err = promscrape.Scrape(r.mcMetrics, scrapeTimeout); err != nil {
		t.Fatalf("Metacontroller's metrics: %v", err)
	}
	p.throttled = throttled(r.mc.Log())
	add := func(name string, pid int) {
		if v, err := cpuSeconds(pid); err == nil {
			p.cpu[name] += v
		}
	}
	add("Metacontroller", r.mc.PID())
	for _, h := range r.hooks {
		add("hooks", h.Cmd.Process.Pid)
	}
	for _, c := range r.c.Processes() {
		add(c.Name, c.Cmd.Process.Pid)
	}
	for _, d := range r.dfs {
		add("DittoFS (all)", d.PID())
	}
	return p
}

// cpu says what each process used between two points, in cores.
func cpu(before, after point) string {
	window := after.at.Sub(before.at).Seconds()
	var parts []string
	for k, v := range after.cpu {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, (v-before.cpu[k])/window))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func syncs(before, after point) float64 {
	var n float64
	for i := range min(len(before.hooks), len(after.hooks)) {
		n += promscrape.Sum(before.hooks[i], after.hooks[i], "dittofs_hook_requests_total", `hook="sync"`)
	}
	return n
}

// steady measures five polling intervals in which nothing changes.
func (r *rig) steady() {
	t := r.t
	if !r.settle(12 * interval) {
		t.Logf("scale: the fleet's objects were still being written after 12 polling intervals")
	}
	const intervals = 5
	before := r.point()
	time.Sleep(intervals * interval)
	after := r.point()
	window := after.at.Sub(before.at)
	w, detail, others := fleetWrites(before.writes, after.writes)
	r.figure("API writes per minute at steady state (goal 0)", "%.0f (%d writes to the fleet's objects in %s: %v; others — the API server's own leases — %d)",
		float64(w)/window.Minutes(), w, window.Round(time.Millisecond), detail, others)
	if w != 0 {
		t.Errorf("scale: %d writes at steady state: %v", w, detail)
	}
	r.figure("syncs per second at steady state", "%.1f (%d DittoServers polled every %s)", syncs(before, after)/window.Seconds(), len(r.servers), interval)
	r.figure("Metacontroller's API requests at steady state (rest_client_requests_total)", "%s",
		strings.Join(requestsBy(before.mc, after.mc, "rest_client_requests_total", window, "method"), ", "))
	r.figure("the API server's requests at steady state (apiserver_request_total)", "%s",
		strings.Join(requestsBy(before.apiserver, after.apiserver, "apiserver_request_total", window, "verb"), ", "))
	r.figure("Metacontroller's queue wait at steady state", "%s", promscrape.Histogram(before.mc, after.mc, "workqueue_queue_duration_seconds", `name="CompositeController-`).Summary(0.5, 0.99))
	r.figure("Metacontroller's sync at steady state", "%s", promscrape.Histogram(before.mc, after.mc, "workqueue_work_duration_seconds", `name="CompositeController-`).Summary(0.5, 0.99))
	r.figure("client-side throttling at steady state", "%d waits logged", len(after.throttled)-len(before.throttled))
	r.figure("CPU at steady state, cores", "%s (load average %s)", cpu(before, after), loadavg())
	r.figure("DittoFS servers' memory at steady state", "%s", r.dfsRSS())
}

// call calls a DittoFS server's API.
func call(client *http.Client, base, token, method, path string, in any) (int, []byte, error) {
	b, _ := json.Marshal(in)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// each runs f for every server, inFlight at a time, and returns the errors.
func (r *rig) each(f func(s server) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan server)
	for range min(inFlight, len(r.servers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if err := f(s); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", s, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range r.servers {
		work <- s
	}
	close(work)
	wg.Wait()
	return errs
}

// disables disables SMB through DittoFS's API on every DittoServer, ten at
// a time, measures each until its Service is gone, and breaks the
// disables down.
func (r *rig) disables() {
	t := r.t
	client := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	// Log in first: the administrator's login (a bcrypt check) is not the
	// hook's latency.
	for _, err := range r.each(func(s server) error {
		var out struct {
			AccessToken string `json:"access_token"`
		}
		code, body, err := call(client, r.dfs[s].URL, "", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": dittofstest.AdminPassword})
		if err == nil && code == http.StatusOK {
			err = json.Unmarshal(body, &out)
		} else if err == nil {
			err = fmt.Errorf("login: %d %.200s", code, body)
		}
		mu.Lock()
		r.tokens[s] = out.AccessToken
		mu.Unlock()
		return err
	}) {
		t.Fatal(err)
	}
	var lat, put []time.Duration
	before := r.point()
	for _, err := range r.each(func(s server) error {
		mu.Lock()
		token := r.tokens[s]
		mu.Unlock()
		begin := time.Now()
		code, body, err := call(client, r.dfs[s].URL, token, "PUT", "/api/v1/adapters/smb", map[string]any{"enabled": false})
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("disable smb: %d %.200s %v", code, body, err)
		}
		took := time.Since(begin)
		for time.Since(begin) < 2*time.Minute {
			if code, _ := r.c.Do("GET", fmt.Sprintf("/api/v1/namespaces/%s/services/%s-adapter-smb", s.ns, s.name), "", nil); code == http.StatusNotFound {
				mu.Lock()
				lat, put = append(lat, time.Since(begin)), append(put, took)
				mu.Unlock()
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("the SMB Service was still there 2 minutes after the disable")
	}) {
		t.Error(err)
	}
	disabling := time.Since(before.at)
	// The policies go one sync after their Services, then nothing is
	// written: the breakdown counts every write of the disables.
	if !r.settle(12 * interval) {
		t.Logf("scale: the fleet's objects were still being written 12 polling intervals after the last Service went")
	}
	after := r.point()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(put, func(i, j int) bool { return put[i] < put[j] })
	goal := interval + 2*time.Second
	if len(lat) > 0 {
		p99 := quantile(lat, 0.99)
		r.figure("disable SMB → its Service gone", "p50 %.1f s, p99 %.1f s, max %.1f s over %d DittoServers, %d at a time, in %.1f s (goal p99 ≤ %s); DittoFS answered the disabling PUT in p50 %.3f s, max %.3f s",
			quantile(lat, 0.5).Seconds(), p99.Seconds(), quantile(lat, 1).Seconds(), len(lat), inFlight, disabling.Seconds(), goal, quantile(put, 0.5).Seconds(), quantile(put, 1).Seconds())
		if p99 > goal {
			t.Errorf("scale: disable → Service gone p99 %s, goal ≤ %s", p99, goal)
		}
	}
	r.breakdown(before, after, len(lat))
	if n, detail := r.ready("smb"); n != len(r.servers) {
		t.Errorf("scale: after the disables: %s", detail)
	}
}

// breakdown reports what the disables cost and where their time went.
func (r *rig) breakdown(before, after point, changes int) {
	window := after.at.Sub(before.at)
	var children, statuses, events int
	var detail []string
	for k, v := range after.writes {
		d := v - before.writes[k]
		if d <= 0 {
			continue
		}
		resource := k[strings.Index(k, " ")+1:]
		switch kind := strings.SplitN(resource, "/", 2)[0]; {
		case resource == "dittoservers/status":
			statuses += d
		case kind == "statefulsets" || kind == "services" || kind == "networkpolicies" || kind == "configmaps" || kind == "secrets" || kind == "dittoservers":
			children += d
		case kind == "events":
			events += d
		default:
			continue
		}
		detail = append(detail, fmt.Sprintf("%s ×%d", k, d))
	}
	sort.Strings(detail)
	per := func(n int) float64 { return float64(n) / float64(max(changes, 1)) }
	r.figure("breakdown: API writes per disable", "%.2f to children, %.2f status writes, %.2f Events (%d disables: %s)",
		per(children), per(statuses), per(events), changes, strings.Join(detail, ", "))
	var h promscrape.Hist
	for i := range min(len(before.hooks), len(after.hooks)) {
		h.Add(before.hooks[i], after.hooks[i], "dittofs_hook_request_duration_seconds", `hook="sync"`)
	}
	r.figure("breakdown: the hook's answer to /sync (dittofs_hook_request_duration_seconds, both replicas)", "%s", h.Summary(0.5, 0.99))
	var outcomes []string
	for i := range min(len(before.hooks), len(after.hooks)) {
		outcomes = append(outcomes, strings.Join(requestsBy(before.hooks[i], after.hooks[i], "dittofs_hook_requests_total", 0, "hook", "outcome"), ", "))
	}
	r.figure("breakdown: the hook's answers by outcome, per replica", "%s", strings.Join(outcomes, "; "))
	r.figure("breakdown: Metacontroller's queue wait (workqueue_queue_duration_seconds)", "%s",
		promscrape.Histogram(before.mc, after.mc, "workqueue_queue_duration_seconds", `name="CompositeController-`).Summary(0.5, 0.99))
	r.figure("breakdown: Metacontroller's sync of one DittoServer (workqueue_work_duration_seconds)", "%s",
		promscrape.Histogram(before.mc, after.mc, "workqueue_work_duration_seconds", `name="CompositeController-`).Summary(0.5, 0.99))
	r.figure("breakdown: Metacontroller's hook calls as it timed them (metacontroller_sync_request_duration_histogram_seconds)", "%s",
		promscrape.Histogram(before.mc, after.mc, "metacontroller_sync_request_duration_histogram_seconds").Summary(0.5, 0.99))
	r.figure("breakdown: Metacontroller's API requests (rest_client_requests_total)", "%s",
		strings.Join(requestsBy(before.mc, after.mc, "rest_client_requests_total", 0, "method", "code"), ", "))
	waits := after.throttled[min(len(before.throttled), len(after.throttled)):]
	var total, longest float64
	for _, v := range waits {
		total += v
		longest = max(longest, v)
	}
	r.figure("breakdown: client-side throttling (waits Metacontroller's client-go logged)", "%d waits, %.1f s in all, longest %.2f s", len(waits), total, longest)
	r.figure("the API server's requests over the disables (apiserver_request_total)", "%s over %.1f s",
		strings.Join(requestsBy(before.apiserver, after.apiserver, "apiserver_request_total", window, "verb"), ", "), window.Seconds())
	r.figure("CPU over the disables, cores", "%s (load average %s)", cpu(before, after), loadavg())
}
