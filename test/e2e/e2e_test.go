// Package e2e runs the hook on a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager), with a real DittoFS server, the
// real hook binary and the real Metacontroller v4.17.2 as processes on the
// host (test/tools/build.sh builds it; METACONTROLLER_BIN names another
// build). Every assertion reads the API server, not the hook's answer.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

const (
	ns              = "e2e"
	pollingInterval = 5 * time.Second
)

// TestEndToEnd runs the suite once per Metacontroller apply strategy:
// dynamic-apply (its default, a client-side three-way merge) with one hook
// replica, server-side-apply with two behind one address (each call to the
// next replica). The Events every step records are counted the same way in
// each: once per transition, whichever replica answers.
func TestEndToEnd(t *testing.T) {
	for _, c := range []struct {
		strategy string
		replicas int
	}{{"dynamic-apply", 1}, {"server-side-apply", 2}} {
		t.Run(fmt.Sprintf("metacontroller-%s-%d-replicas", c.strategy, c.replicas), func(t *testing.T) {
			runSuite(t, c.replicas, c.strategy)
		})
	}
}

type rig struct {
	t       *testing.T
	dir     string
	cluster *cluster.Cluster
	// hookURL is the hooks' one address (a round robin over the replicas).
	hookURL string
	hooks   []*harness.Process
	// hookURLs are each replica's own address (for its metrics).
	hookURLs []string
	dfs      *dittofstest.DittoFS
	dfsPort  int
	// events are the counts of the Events each step expects, by reason,
	// so far.
	events map[string]int
	// secrets are the values of the DittoServer's Secrets, read before
	// its deletion, which no Event may hold.
	secrets []string
	// token is the install's bearer token (Secret dittofs-hook-token),
	// which the hooks require (tokenFile) and the controller sends.
	token, tokenFile string
}

// logDir is a folder for every component's log, kept when the test fails
// (Metacontroller's among them: what it refused, and why).
func logDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dittofs-hook-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("e2e: logs of every component in %s", dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("e2e: FAILED; the logs of every component are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func runSuite(t *testing.T, replicas int, strategy string) {
	root := harness.RepoRoot()
	dir := logDir(t)
	start := time.Now()
	r := &rig{t: t, dir: dir, events: map[string]int{}}
	r.cluster = cluster.Start(t, dir,
		controller.MetacontrollerCRDs(t),
		filepath.Join(root, "manifests", "crd"))
	t.Logf("e2e: control plane up in %s", time.Since(start).Round(time.Millisecond))

	bin := harness.BuildHook(t, dir)
	r.dfsPort = harness.FreePort(t)
	if !t.Run("install", func(t *testing.T) { r.install(t) }) {
		return
	}

	// The hook, as the real binary, pointed at DittoFS on loopback,
	// recording Events as the service account the manifests installed:
	// with exactly the permissions they grant.
	kubeconfig := r.cluster.ServiceAccountKubeconfig("dittofs-system", "dittofs-hook", time.Hour)
	// --dittofs-timeout 5s: the loopback DittoFS answers in milliseconds,
	// but on a machine loaded with other builds a 2 s bound once read a
	// slow login as an outage (AuthAPIUnreachable, then DittoFSRecovered,
	// two Events the suite does not expect); no test here waits on it.
	for i := range replicas {
		port := harness.FreePort(t)
		url := harness.URL(port, "")
		p := harness.Start(t, dir, fmt.Sprintf("hook-%d", i), bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
			"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "5s", "--log-format", "text", "--log-level", "debug",
			"--kubeconfig", kubeconfig, "--auth-token-file", r.tokenFile)
		p.WaitHTTP(t, url+"/readyz", 10*time.Second)
		r.hooks, r.hookURLs = append(r.hooks, p), append(r.hookURLs, url)
	}
	r.hookURL = r.hookURLs[0]
	if replicas > 1 {
		r.hookURL = harness.RoundRobin(t, r.hookURLs...)
	}
	t.Logf("e2e: %d hook replica(s) at %s", replicas, r.hookURL)
	// The CompositeController `kubectl apply -k manifests` installed, its
	// webhooks pointed at the hook on loopback.
	controller.ApplyCompositeController(t, r.cluster, dir, r.hookURL)
	mc := controller.StartMetacontroller(t, r.cluster, dir, strategy)
	t.Logf("e2e: Metacontroller v4.17.2 --apply-strategy=%s, log %s", strategy, mc.Log())
	defer func() {
		if errs := mc.Errors(); len(errs) > 0 {
			t.Errorf("Metacontroller saw errors (immutable fields, rejected objects, hook failures):\n%s", strings.Join(errs, "\n"))
		}
	}()
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"children created with owners and an unpruned status", r.created},
		{"ready server: operator account and adapter Services", r.adapters},
		{"adapter changes converge without restarting the pod", r.changes},
		{"DittoFS outage keeps every adapter child", r.outage},
		{"steady state costs no API writes", r.steady},
		{"updates are accepted: no immutable-field errors", r.update},
		{"kubectl describe shows the Events", r.describe},
		{"deletion: finalizer removes the account, GC removes the children", r.deletion},
		{"Events: each transition once, about the DittoServer and its child, without secrets", r.eventsRecorded},
		{"a StorageClass the cluster lacks: StorageClassNotFound, no claim until it exists", r.storageClass},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// install applies everything a user installs: the kustomize manifests (CRD,
// hook Deployment, CompositeController), checks the hook's pod against the
// restricted Pod Security Standard, and checks that every sample and every
// child `hook render` makes of it is accepted by the API server.
func (r *rig) install(t *testing.T) {
	c := r.cluster
	root := harness.RepoRoot()
	r.token, r.tokenFile = controller.CreateHookToken(t, c, r.dir)
	c.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests"))
	c.Kubectl("create", "namespace", ns)

	// The Helm chart renders objects the API server accepts too (a server
	// dry run: the kustomize install above already created them).
	chart, err := exec.Command(harness.Binary(t, "helm"), "template", "dittofs-hook", filepath.Join(root, "charts", "dittofs-hook"),
		"--namespace", "dittofs-system", "--include-crds", "--set", "authToken.secretName=hook-token").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	chartFile := filepath.Join(r.dir, "chart.yaml")
	_ = os.WriteFile(chartFile, chart, 0o644)
	if out, err := c.KubectlErr("apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", chartFile); err != nil {
		t.Fatalf("the rendered Helm chart is refused: %v\n%s", err, out)
	}

	// The hook's pod under the restricted Pod Security Standard.
	c.Kubectl("create", "namespace", "pss-restricted")
	c.Kubectl("label", "namespace", "pss-restricted", "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
	tmpl := c.Kubectl("get", "deployment", "-n", "dittofs-system", "dittofs-hook", "-o", "jsonpath={.spec.template}")
	var pod map[string]any
	if err := json.Unmarshal([]byte(tmpl), &pod); err != nil {
		t.Fatal(err)
	}
	pod["apiVersion"], pod["kind"] = "v1", "Pod"
	pod["metadata"].(map[string]any)["name"] = "hook-pss-check"
	podFile := filepath.Join(r.dir, "hook-pod.json")
	b, _ := json.Marshal(pod)
	_ = os.WriteFile(podFile, b, 0o644)
	out, err := exec.Command(c.KubectlPath(), "--kubeconfig", c.Kubeconfig, "create", "--dry-run=server", "-n", "pss-restricted", "-f", podFile).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Warning") {
		t.Fatalf("the hook's pod does not pass the restricted Pod Security Standard: %v\n%s", err, out)
	}

	// Every sample, and every child the hook renders for it, is accepted
	// (server-side dry run: schema, CEL rules, defaults, admission).
	samples, _ := filepath.Glob(filepath.Join(root, "manifests", "samples", "*.yaml"))
	if len(samples) < 4 {
		t.Fatalf("want at least 4 samples, found %v", samples)
	}
	hookBin := filepath.Join(r.dir, "hook")
	for _, s := range samples {
		c.Kubectl("apply", "--dry-run=server", "-n", ns, "-f", s)
		rendered, err := exec.Command(hookBin, "render", "-f", s, "--adapters", filepath.Join(root, "test", "testdata", "dittofs", "adapters-fresh.body")).Output()
		if err != nil {
			t.Fatalf("hook render %s: %v", s, err)
		}
		var resp struct {
			Children []map[string]any `json:"children"`
		}
		if err := yamlToJSON(rendered, &resp); err != nil {
			t.Fatal(err)
		}
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": resp.Children}
		f := filepath.Join(r.dir, "rendered-"+filepath.Base(s)+".json")
		b, _ := json.Marshal(list)
		_ = os.WriteFile(f, b, 0o644)
		if out, err := c.KubectlErr("apply", "--dry-run=server", "-n", ns, "-f", f); err != nil {
			t.Fatalf("children rendered for %s are refused: %v\n%s", filepath.Base(s), err, out)
		}
	}
	// The CRD's rules refuse bad specs with a clear message.
	for _, bad := range []struct{ spec, want string }{
		{`{"storage":{"metadataSize":"1Gi"},"adapterDiscovery":{"pollingInterval":"1s"}}`, "pollingInterval must be at least 5s"},
		{`{"storage":{"metadataSize":"1Gi"},"replicas":2}`, "should be less than or equal to 1"},
		{`{"storage":{"metadataSize":"lots"}}`, "metadataSize"},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"type":"postgres"}}`, "database.type postgres needs database.postgresSecretRef"},
		{`{"storage":{"metadataSize":"1Gi"},"adapterServices":{"overrides":{"smb":{"udp":true}}}}`, "udp and portmapper exist only for the nfs adapter"},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"admin":{"username":"root"}}}`, "identity.admin.username can only be admin"},
		{`{"storage":{"metadataSize":"1Gi"},"percona":{"enabled":true,"backup":{"enabled":true,"endpoint":"https://s3.example.com"}}}`, "percona.backup.bucket is required when percona.backup.enabled is true"},
		{`{"storage":{"metadataSize":"1Gi"},"percona":{"enabled":true,"backup":{"enabled":true,"bucket":"b","endpoint":""}}}`, "percona.backup.endpoint is required when percona.backup.enabled is true"},
	} {
		obj := fmt.Sprintf(`{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":"bad","namespace":%q},"spec":%s}`, ns, bad.spec)
		code, body := c.Do("POST", "/apis/dittofs.dittofs.com/v1alpha1/namespaces/"+ns+"/dittoservers?dryRun=All", "", []byte(obj))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), bad.want) {
			t.Errorf("spec %s: got %d %s, want 422 mentioning %q", bad.spec, code, body, bad.want)
		}
	}
	// Names up to 52 characters, the most a StatefulSet's pod allows
	// (hook/names.go), and not one more.
	const name52 = "dittofs-s3-smb-server-with-secrets-in-production-eu1"
	for _, n := range []struct {
		name string
		code int
	}{{name52, http.StatusCreated}, {name52 + "x", http.StatusUnprocessableEntity}} {
		obj := fmt.Sprintf(`{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":%q,"namespace":%q},"spec":{"storage":{"metadataSize":"1Gi"}}}`, n.name, ns)
		code, body := c.Do("POST", "/apis/dittofs.dittofs.com/v1alpha1/namespaces/"+ns+"/dittoservers?dryRun=All", "", []byte(obj))
		if code != n.code || (code == http.StatusUnprocessableEntity && !strings.Contains(string(body), "at most 52 characters")) {
			t.Errorf("a %d-character name: got %d %s, want %d", len(n.name), code, body, n.code)
		}
	}
}

// get reads an object as JSON (nil when absent).
func (r *rig) get(t *testing.T, path string) map[string]any {
	t.Helper()
	code, body := r.cluster.Do("GET", path, "", nil)
	if code == http.StatusNotFound {
		return nil
	}
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return out
}

func svcPath(name string) string { return "/api/v1/namespaces/" + ns + "/services/" + name }
func npPath(name string) string {
	return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies/" + name
}
func secretPath(name string) string { return "/api/v1/namespaces/" + ns + "/secrets/" + name }
func stsPath(name string) string    { return "/apis/apps/v1/namespaces/" + ns + "/statefulsets/" + name }
func cmPath(name string) string     { return "/api/v1/namespaces/" + ns + "/configmaps/" + name }
func dsPath(name string) string {
	return "/apis/dittofs.dittofs.com/v1alpha1/namespaces/" + ns + "/dittoservers/" + name
}

// eventually polls cond until it holds or timeout passes, and returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// condition reads a condition of the DittoServer: status and reason.
func (r *rig) condition(t *testing.T, typ string) (string, string) {
	ds := r.get(t, dsPath("demo"))
	st, _ := ds["status"].(map[string]any)
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == typ {
			return m["status"].(string), m["reason"].(string)
		}
	}
	return "", ""
}

func (r *rig) created(t *testing.T) {
	c := r.cluster
	spec := fmt.Sprintf(`apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: demo
  namespace: %s
spec:
  storage:
    metadataSize: 1Gi
  controlPlane:
    port: %d
  adapterDiscovery:
    pollingInterval: %s
`, ns, r.dfsPort, pollingInterval)
	f := filepath.Join(r.dir, "demo.yaml")
	_ = os.WriteFile(f, []byte(spec), 0o644)
	c.Kubectl("apply", "-f", f)
	children := []string{stsPath("demo"), svcPath("demo-headless"), svcPath("demo-api"), cmPath("demo-config"),
		secretPath("demo-jwt-secret"), secretPath("demo-admin-bootstrap-credentials"), secretPath("demo-operator-credentials"), npPath("demo-baseline")}
	took := eventually(t, 30*time.Second, "infrastructure children created", func() bool {
		for _, p := range children {
			if r.get(t, p) == nil {
				return false
			}
		}
		return true
	})
	t.Logf("e2e: infrastructure created in %s", took.Round(time.Millisecond))
	uid := r.get(t, dsPath("demo"))["metadata"].(map[string]any)["uid"]
	for _, p := range children {
		refs, _ := r.get(t, p)["metadata"].(map[string]any)["ownerReferences"].([]any)
		if len(refs) != 1 || refs[0].(map[string]any)["uid"] != uid || refs[0].(map[string]any)["controller"] != true {
			t.Errorf("%s: ownerReferences %v, want the DittoServer as controller", p, refs)
		}
	}
	// The status the hook answers is stored whole: nothing pruned by the
	// schema. (The first syncs move Progressing as the StatefulSet appears:
	// compare once Metacontroller has written the answer to what it sees.)
	eventually(t, 20*time.Second, "status written", func() bool { s, _ := r.condition(t, "Ready"); return s != "" })
	var stored, want []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := r.get(t, dsPath("demo"))
		stored, _ = json.Marshal(ds["status"])
		var st map[string]any
		_ = json.Unmarshal(r.syncNow(t), &st)
		status := st["status"].(map[string]any)
		status["observedGeneration"] = ds["metadata"].(map[string]any)["generation"]
		want, _ = json.Marshal(status)
		if jsonEqual(stored, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored status differs from the hook's answer (pruned by the CRD schema?):\nstored %s\nanswer %s", stored, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, field := range []string{`"phase"`, `"configHash"`, `"replicas"`} {
		if !strings.Contains(string(stored), field) {
			t.Errorf("stored status lacks %s: %s", field, stored)
		}
	}
	if s, reason := r.condition(t, "Available"); s != "False" || reason != "WaitingForReplica" {
		t.Fatalf("Available = %s/%s before the pod is ready", s, reason)
	}
	r.expectEvents(t, "created, the pod not ready", nil)
}

// syncNow posts the request Metacontroller would send now, built from the
// API server's objects, and returns the hook's answer.
func (r *rig) syncNow(t *testing.T) []byte {
	t.Helper()
	ds := r.get(t, dsPath("demo"))
	uid := ds["metadata"].(map[string]any)["uid"].(string)
	children := map[string]map[string]any{}
	for key, path := range map[string]string{
		"StatefulSet.apps/v1":                "/apis/apps/v1/namespaces/" + ns + "/statefulsets",
		"Service.v1":                         "/api/v1/namespaces/" + ns + "/services",
		"NetworkPolicy.networking.k8s.io/v1": "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies",
		"ConfigMap.v1":                       "/api/v1/namespaces/" + ns + "/configmaps",
		"Secret.v1":                          "/api/v1/namespaces/" + ns + "/secrets",
	} {
		children[key] = map[string]any{}
		list := r.get(t, path+"?labelSelector=controller-uid%3D"+uid)
		items, _ := list["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			children[key][m["metadata"].(map[string]any)["name"].(string)] = m
		}
	}
	body, _ := json.Marshal(map[string]any{"controller": map[string]any{}, "parent": ds, "children": children, "related": map[string]any{"Secret.v1": map[string]any{}}})
	// A 429 (the hook at its bound of concurrent calls, Metacontroller's
	// among them) is retried as Metacontroller retries it; any other
	// answer but a 200 fails the test, naming it.
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, r.hookURL+"/sync", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return out
		case resp.StatusCode == http.StatusTooManyRequests && attempt < 20:
			time.Sleep(250 * time.Millisecond)
		default:
			t.Fatalf("POST /sync: %s %s", resp.Status, out)
		}
	}
}

func (r *rig) secret(t *testing.T, name, key string) string {
	sec := r.get(t, secretPath(name))
	data, _ := sec["data"].(map[string]any)
	var v []byte
	b, _ := json.Marshal(data[key])
	_ = json.Unmarshal(b, &v)
	return string(v)
}

func (r *rig) adapters(t *testing.T) {
	c := r.cluster
	// Play the kubelet: DittoFS starts with the Secrets the hook generated,
	// on the port the spec names, and the pod becomes ready.
	r.dfs = dittofstest.StartDittoFS(r.t, dittofstest.DittoFSOptions{AdminPassword: r.secret(t, "demo-admin-bootstrap-credentials", "password"), LogDir: r.dir, Port: r.dfsPort})
	c.MarkStatefulSetReady(ns, "demo")
	took := eventually(t, 30*time.Second, "adapter Services and NetworkPolicies created", func() bool {
		for _, a := range []string{"demo-adapter-nfs", "demo-adapter-smb"} {
			// Access comes no later than the address: a Service seen
			// before its policy (read after it) broke the order.
			svc := r.get(t, svcPath(a)) != nil
			if np := r.get(t, npPath(a)) != nil; svc && !np {
				t.Fatalf("Service %s exists without its NetworkPolicy: the policy must come no later than the Service", a)
			}
		}
		for _, p := range []string{svcPath("demo-adapter-nfs"), svcPath("demo-adapter-smb"), npPath("demo-adapter-nfs"), npPath("demo-adapter-smb")} {
			if r.get(t, p) == nil {
				return false
			}
		}
		return true
	})
	t.Logf("e2e: adapters exposed %s after the pod became ready", took.Round(time.Millisecond))
	if code, _ := r.dfs.Call("", "POST", "/api/v1/auth/login", map[string]string{"username": "k8s-operator", "password": r.secret(t, "demo-operator-credentials", "password")}); code != 200 {
		t.Fatalf("the k8s-operator account was not provisioned in DittoFS (login %d)", code)
	}
	if got := servicePort(t, r.get(t, svcPath("demo-adapter-nfs"))); got != r.dfs.NFSPort {
		t.Fatalf("nfs Service port %d, DittoFS says %d", got, r.dfs.NFSPort)
	}
	// Play the cloud: the nfs Service gets a load balancer address.
	c.Kubectl("patch", "service", "demo-adapter-nfs", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}}}`)
	want := fmt.Sprintf("203.0.113.10:%d", r.dfs.NFSPort)
	eventually(t, 20*time.Second, "nfs endpoint in status", func() bool {
		return c.Kubectl("get", "dittoserver", "demo", "-n", ns, "-o", `jsonpath={.status.adapters[?(@.type=="nfs")].endpoints[0]}`) == want
	})
	for _, line := range strings.Split(strings.TrimSpace(c.Kubectl("get", "dittofs", "-n", ns, "-o", "wide")), "\n") {
		t.Logf("e2e: | %s", line)
	}
	r.expectEvents(t, "ready: account made, adapters exposed, nfs addressed", map[string]int{
		"AuthProvisioned": 1, "AdapterServiceCreated": 2, "AdapterNetworkPolicyCreated": 2, "LoadBalancerPending": 1, "LoadBalancerAssigned": 1,
	})
}

func servicePort(t *testing.T, svc map[string]any) int {
	ports := svc["spec"].(map[string]any)["ports"].([]any)
	return int(ports[0].(map[string]any)["port"].(float64))
}

func template(t *testing.T, r *rig) string {
	sts := r.get(t, stsPath("demo"))
	b, _ := json.Marshal(sts["spec"].(map[string]any)["template"])
	return string(b)
}

func (r *rig) changes(t *testing.T) {
	before := template(t, r)
	nfs := r.get(t, svcPath("demo-adapter-nfs"))
	nfsMD := nfs["metadata"].(map[string]any)
	nfsSpec := nfs["spec"].(map[string]any)
	nodePort := nfsSpec["ports"].([]any)[0].(map[string]any)["nodePort"]

	r.dfs.SetAdapter("smb", map[string]any{"enabled": false})
	took := eventually(t, pollingInterval+2*time.Second, "smb Service removed", func() bool {
		// The policy is read first: gone then, with the Service still
		// there after, it went before its Service.
		np := r.get(t, npPath("demo-adapter-smb")) != nil
		svc := r.get(t, svcPath("demo-adapter-smb")) != nil
		if svc && !np {
			t.Fatal("the smb NetworkPolicy was removed while its Service exists: the Service must go first")
		}
		return !svc
	})
	t.Logf("e2e: smb disabled → Service removed in %s (polling interval %s)", took.Round(time.Millisecond), pollingInterval)
	if r.get(t, npPath("demo-adapter-smb")) == nil {
		// Allowed: the Service went first (the loop above saw it go with
		// its policy still there, or both in one poll of 100 ms, which a
		// sync right after the Service's deletion can do).
		t.Logf("e2e: smb NetworkPolicy already removed too")
	}
	took2 := eventually(t, 10*time.Second, "smb NetworkPolicy removed after its Service", func() bool { return r.get(t, npPath("demo-adapter-smb")) == nil })
	t.Logf("e2e: smb NetworkPolicy removed %s after its Service", took2.Round(time.Millisecond))

	moved := harness.FreePort(t)
	r.dfs.SetAdapter("nfs", map[string]any{"port": moved})
	took = eventually(t, pollingInterval+2*time.Second, "nfs Service moved", func() bool {
		return servicePort(t, r.get(t, svcPath("demo-adapter-nfs"))) == moved
	})
	t.Logf("e2e: nfs moved to %d → Service updated in %s", moved, took.Round(time.Millisecond))
	r.dfs.NFSPort = moved
	after := r.get(t, svcPath("demo-adapter-nfs"))
	amd, aspec := after["metadata"].(map[string]any), after["spec"].(map[string]any)
	if amd["uid"] != nfsMD["uid"] || aspec["clusterIP"] != nfsSpec["clusterIP"] || aspec["ports"].([]any)[0].(map[string]any)["nodePort"] != nodePort {
		t.Fatalf("the nfs Service was replaced or readdressed: uid %v→%v clusterIP %v→%v nodePort %v→%v",
			nfsMD["uid"], amd["uid"], nfsSpec["clusterIP"], aspec["clusterIP"], nodePort, aspec["ports"].([]any)[0].(map[string]any)["nodePort"])
	}
	if template(t, r) != before {
		t.Fatal("the StatefulSet's pod template changed with the adapters (the pod would restart)")
	}
	r.expectEvents(t, "smb disabled, nfs moved", map[string]int{"AdapterServiceDeleted": 1, "AdapterNetworkPolicyDeleted": 1, "AdapterServiceUpdated": 1})
}

func (r *rig) adapterUIDs(t *testing.T) map[string]any {
	out := map[string]any{}
	for _, p := range []string{svcPath("demo-adapter-nfs"), npPath("demo-adapter-nfs")} {
		obj := r.get(t, p)
		if obj == nil {
			t.Fatalf("%s is gone", p)
		}
		out[p] = obj["metadata"].(map[string]any)["uid"]
	}
	return out
}

func (r *rig) outage(t *testing.T) {
	before := r.adapterUIDs(t)
	r.dfs.Stop()
	eventually(t, 3*pollingInterval, "APIUnreachable reported", func() bool {
		s, reason := r.condition(t, "AdaptersDiscovered")
		return s == "False" && reason == "APIUnreachable"
	})
	time.Sleep(3 * pollingInterval) // several polls (backing off) while down
	if after := r.adapterUIDs(t); !equalMaps(before, after) {
		t.Fatalf("adapter children replaced during the outage: %v → %v", before, after)
	}
	r.expectEvents(t, "DittoFS stopped for several polls", map[string]int{"AuthAPIUnreachable": 1})
	r.dfs.Restart()
	took := eventually(t, 6*pollingInterval, "recovered", func() bool {
		s, _ := r.condition(t, "AdaptersDiscovered")
		return s == "True"
	})
	t.Logf("e2e: recovered %s after DittoFS restarted", took.Round(time.Millisecond))
	if after := r.adapterUIDs(t); !equalMaps(before, after) {
		t.Fatalf("adapter children replaced after recovery: %v → %v", before, after)
	}
	r.expectEvents(t, "DittoFS restarted", map[string]int{"DittoFSRecovered": 1})
}

// steady measures, from kube-apiserver's own metrics, the writes made while
// nothing changes, over at least three polling intervals.
func (r *rig) steady(t *testing.T) {
	// Let the recovery settle: Ready stops changing.
	eventually(t, 30*time.Second, "Ready", func() bool { s, _ := r.condition(t, "Ready"); return s == "True" })
	time.Sleep(2 * time.Second)
	before := r.cluster.Writes()
	eventsBefore := len(r.recorded(t))
	window := 3*pollingInterval + time.Second
	time.Sleep(window)
	after := r.cluster.Writes()
	if n := len(r.recorded(t)) - eventsBefore; n != 0 {
		t.Errorf("%d Events recorded at steady state over %s", n, window)
	} else {
		t.Logf("e2e: steady state: 0 Events in %s (%d polling intervals)", window, int(window/pollingInterval))
	}
	var writes []string
	total := 0
	for k, v := range after {
		resource := k[strings.Index(k, " ")+1:]
		switch strings.SplitN(resource, "/", 2)[0] {
		case "statefulsets", "services", "networkpolicies", "configmaps", "secrets", "dittoservers":
		default:
			continue
		}
		if d := v - before[k]; d > 0 {
			writes = append(writes, fmt.Sprintf("%s ×%d", k, d))
			total += d
		}
	}
	sort.Strings(writes)
	t.Logf("e2e: steady state: %d API writes to children or the DittoServer in %s (%d polling intervals) %v", total, window, int(window/pollingInterval), writes)
	if total != 0 {
		t.Fatalf("writes at steady state: %v", writes)
	}
}

// update changes the spec so that the StatefulSet, ConfigMap and Services
// are updated in place: the API server must accept every update.
func (r *rig) update(t *testing.T) {
	c := r.cluster
	c.Kubectl("patch", "dittoserver", "demo", "-n", ns, "--type=merge", "-p", `{"spec":{"logging":{"level":"DEBUG"},"adapterServices":{"type":"NodePort","annotations":{"example.com/x":"y"}},"service":{"type":"NodePort"}}}`)
	eventually(t, 20*time.Second, "config and Services updated", func() bool {
		cm := r.get(t, cmPath("demo-config"))
		svc := r.get(t, svcPath("demo-adapter-nfs"))
		return strings.Contains(cm["data"].(map[string]any)["config.yaml"].(string), "DEBUG") &&
			svc["spec"].(map[string]any)["type"] == "NodePort"
	})
	code, body := c.Do("PATCH", dsPath("demo"), "application/merge-patch+json", []byte(`{"spec":{"storage":{"metadataSize":"2Gi"}}}`))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "storage is immutable") {
		t.Fatalf("changing storage: got %d %s, want 422 storage is immutable", code, body)
	}
	// The control-plane database changes only with the explicit opt-in
	// (the CRD's transition rule; dry runs, so the server keeps its data).
	for _, change := range []struct {
		patch string
		code  int
	}{
		{`{"spec":{"database":{"type":"postgres","postgresSecretRef":{"name":"pg"}}}}`, http.StatusUnprocessableEntity},
		{`{"spec":{"database":{"sqlite":{"path":"/data/controlplane/other.db"}}}}`, http.StatusUnprocessableEntity},
		{`{"spec":{"database":{"type":"sqlite","sqlite":{"path":"/data/controlplane/controlplane.db"}}}}`, http.StatusOK},
		{`{"spec":{"database":{"type":"postgres","postgresSecretRef":{"name":"pg"},"allowControlPlaneReset":true}}}`, http.StatusOK},
		// Upstream's shape: a reference selects Postgres whatever type says.
		{`{"spec":{"database":{"postgresSecretRef":{"name":"pg","key":"connection-string"}}}}`, http.StatusUnprocessableEntity},
		{`{"spec":{"percona":{"enabled":true}}}`, http.StatusUnprocessableEntity},
		{`{"spec":{"percona":{"enabled":true},"database":{"allowControlPlaneReset":true}}}`, http.StatusOK},
	} {
		code, body := c.Do("PATCH", dsPath("demo")+"?dryRun=All", "application/merge-patch+json", []byte(change.patch))
		if code != change.code || (code != http.StatusOK && !strings.Contains(string(body), "set database.allowControlPlaneReset to true")) {
			t.Errorf("patch %s: got %d %s, want %d", change.patch, code, body, change.code)
		}
	}
	// A change the user made themselves is no news: no Event.
	r.expectEvents(t, "spec updated", nil)
}

func (r *rig) deletion(t *testing.T) {
	c := r.cluster
	c.Kubectl("delete", "dittoserver", "demo", "-n", ns, "--wait=false")
	took := eventually(t, 60*time.Second, "DittoServer deleted (finalized)", func() bool { return r.get(t, dsPath("demo")) == nil })
	t.Logf("e2e: DittoServer finalized in %s", took.Round(time.Millisecond))
	code, body := r.dfs.Call(r.dfs.AdminToken(), "GET", "/api/v1/users/k8s-operator", nil)
	if code != http.StatusNotFound {
		t.Fatalf("k8s-operator still exists in DittoFS: %d %s", code, body)
	}
	took = eventually(t, 60*time.Second, "children garbage-collected", func() bool {
		for _, p := range []string{stsPath("demo"), svcPath("demo-api"), svcPath("demo-adapter-nfs"), npPath("demo-baseline"), secretPath("demo-operator-credentials"), cmPath("demo-config")} {
			if r.get(t, p) != nil {
				return false
			}
		}
		return true
	})
	t.Logf("e2e: children garbage-collected in %s", took.Round(time.Millisecond))
	r.expectEvents(t, "deleted", map[string]int{"OperatorAccountDeleted": 1})
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func yamlToJSON(y []byte, out any) error {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, out)
}
