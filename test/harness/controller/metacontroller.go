package controller

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/image"
)

// inClusterHookBase is the hook's address in compositecontroller.yaml.
const inClusterHookBase = "http://dittofs-hook.dittofs-system.svc.cluster.local"

// MetacontrollerManifests is the folder of Metacontroller's release
// manifests (production/, the CRDs), extracted by test/tools/build.sh.
func MetacontrollerManifests(t harness.T) string {
	t.Helper()
	dir := harness.Binary(t, "metacontroller-manifests")
	if _, err := os.Stat(filepath.Join(dir, "production", "kustomization.yaml")); err != nil {
		t.Fatalf("test/tools/build.sh metacontroller-manifests printed %s, which has no production/kustomization.yaml", dir)
	}
	return dir
}

// MetacontrollerCRDs is the file of Metacontroller's CRDs (CompositeController
// and the others), for clusters where the controller runs on the host.
func MetacontrollerCRDs(t harness.T) string {
	t.Helper()
	return filepath.Join(MetacontrollerManifests(t), "production", "metacontroller-crds-v1.yaml")
}

// CompositeController renders the project's CompositeController as a user
// installs it: manifests/compositecontroller.yaml with the given kustomize
// components of manifests/components (e.g. "servicemonitor", "percona"),
// its webhooks' base URL replaced by hookBase ("" keeps the hook's Service
// in the cluster). dir receives the kustomization.
func CompositeController(t harness.T, kubectl, dir, hookBase string, components ...string) string {
	t.Helper()
	root := harness.RepoRoot()
	var out []byte
	if len(components) == 0 {
		b, err := os.ReadFile(filepath.Join(root, "manifests", "compositecontroller.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		out = b
	} else {
		k := filepath.Join(dir, "compositecontroller-kustomization")
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\ncomponents:\n",
			relPath(t, k, filepath.Join(root, "manifests", "compositecontroller.yaml")))
		for _, c := range components {
			fmt.Fprintf(&b, "- %s\n", relPath(t, k, filepath.Join(root, "manifests", "components", c)))
		}
		if err := os.MkdirAll(k, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(k, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		out, err = exec.Command(kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", k).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", k, err, out)
		}
	}
	cc := string(out)
	if hookBase != "" {
		cc = strings.ReplaceAll(cc, inClusterHookBase, hookBase)
	}
	return cc
}

// ApplyCompositeController applies CompositeController's rendering to the
// cluster (server-side, taking over fields an earlier apply owned).
func ApplyCompositeController(t harness.T, c *cluster.Cluster, dir, hookBase string, components ...string) {
	t.Helper()
	f := filepath.Join(dir, "compositecontroller-applied.yaml")
	if err := os.WriteFile(f, []byte(CompositeController(t, c.KubectlPath(), dir, hookBase, components...)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.KubectlErr("apply", "--server-side", "--force-conflicts", "-f", f); err != nil {
		t.Fatalf("apply the CompositeController: %v\n%s", err, out)
	}
}

// HostMetacontroller is the real Metacontroller as a process on the host,
// reaching the API server through a kubeconfig (the end-to-end suite, where
// no kubelet runs). Whatever CompositeController the cluster has, from the
// kustomize install or the Helm chart, it serves.
type HostMetacontroller struct {
	// Strategy is its --apply-strategy.
	Strategy string

	t    harness.T
	c    *cluster.Cluster
	dir  string
	args []string

	mu     sync.Mutex
	p      *harness.Process
	starts int
	logs   []string
}

// StartMetacontroller starts the real Metacontroller on the host with the
// given apply strategy ("dynamic-apply" or "server-side-apply") and extra
// flags; it stops when the test ends. Its discovery refreshes every 5 s
// (upstream's production install says 20 s): CRDs a test installs are seen
// sooner.
func StartMetacontroller(t harness.T, c *cluster.Cluster, dir, strategy string, args ...string) *HostMetacontroller {
	t.Helper()
	m := &HostMetacontroller{Strategy: strategy, t: t, c: c, dir: dir, args: args}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts it again if it is stopped.
func (m *HostMetacontroller) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		return
	}
	m.starts++
	name := "metacontroller-" + m.Strategy
	if m.starts > 1 {
		name += "-" + strconv.Itoa(m.starts)
	}
	args := append([]string{"--kubeconfig", m.c.Kubeconfig, "--discovery-interval=5s", "--apply-strategy=" + m.Strategy,
		"--metrics-address=127.0.0.1:" + strconv.Itoa(harness.FreePort(m.t)),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(harness.FreePort(m.t)),
		"--zap-log-level=4"}, m.args...)
	m.p = harness.Start(m.t, m.dir, name, harness.Binary(m.t, "metacontroller"), nil, args...)
	m.logs = append(m.logs, m.p.Log)
}

// Stop stops it (SIGTERM).
func (m *HostMetacontroller) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		_ = m.p.Stop()
		m.p = nil
	}
}

// PID is the running process's ID (0 when stopped).
func (m *HostMetacontroller) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return 0
	}
	return m.p.Cmd.Process.Pid
}

// Log is the current (or last) process's log file.
func (m *HostMetacontroller) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[len(m.logs)-1]
}

// Errors are the sync errors Metacontroller logged so far, across restarts:
// failed syncs, objects the API server refused, immutable fields.
func (m *HostMetacontroller) Errors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, l := range m.logs {
		out = append(out, metacontrollerErrors(l)...)
	}
	return out
}

// metacontrollerErrors reads the error lines of a Metacontroller log.
func metacontrollerErrors(files ...string) []string {
	var out []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "failed to sync") || strings.Contains(line, "is invalid") || strings.Contains(line, "field is immutable") {
				out = append(out, line)
			}
		}
	}
	return out
}

// relPath is target relative to the kustomization folder dir: kustomize
// refuses absolute paths to other kustomizations.
func relPath(t harness.T, dir, target string) string {
	t.Helper()
	abs, err := filepath.Abs(target)
	if err != nil {
		t.Fatal(err)
	}
	r, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// MetacontrollerArgsEnv names extra flags for the in-cluster Metacontroller
// of every node-tier run (space-separated, e.g. "--workers=10
// --client-go-qps=50"), added to MetacontrollerInstall.Args: a run can be
// measured with another tuning without a code change.
const MetacontrollerArgsEnv = "DITTOFS_HOOK_METACONTROLLER_ARGS"

// MetacontrollerInstall configures InstallMetacontroller.
type MetacontrollerInstall struct {
	// Args are added to the StatefulSet's container args (e.g.
	// "--client-go-qps=50"): a JSON patch in the kustomization, as a user
	// would write one.
	Args []string
	// Components are kustomize components (folders) added to the
	// kustomization, e.g. a tuning component of this repository.
	Components []string
}

// ClusterMetacontroller is the real Metacontroller running in the node's
// cluster, installed from upstream's manifests/production kustomization:
// namespace metacontroller, its CRDs and RBAC, a one-replica StatefulSet
// whose pod runs /usr/bin/metacontroller from MetacontrollerImage (packed
// on this machine from the built binary, never pulled).
type ClusterMetacontroller struct {
	// Kustomization is the folder applied (kubectl apply -k).
	Kustomization string
	n             *node.Node
}

// InstallMetacontroller installs Metacontroller as a user does, `kubectl
// apply --server-side -k` of the repository's manifests/metacontroller
// (upstream's production kustomization, from the extracted release in
// place of its URL) with o's components and patches, and waits until its
// pod is Ready.
func InstallMetacontroller(t harness.T, n *node.Node, o MetacontrollerInstall) *ClusterMetacontroller {
	t.Helper()
	if v := os.Getenv(MetacontrollerArgsEnv); v != "" {
		o.Args = append(o.Args, strings.Fields(v)...)
	}
	prod := filepath.Join(MetacontrollerManifests(t), "production")
	b, err := os.ReadFile(filepath.Join(prod, "metacontroller.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "image: "+image.MetacontrollerImage) {
		t.Fatalf("%s does not run %s, the image the node packs", filepath.Join(prod, "metacontroller.yaml"), image.MetacontrollerImage)
	}
	dir := filepath.Join(n.Dir, "metacontroller-install")
	writeMetacontrollerKustomization(t, dir, prod, o)
	out, err := n.KubectlInput("", "apply", "--server-side", "-k", dir)
	if err != nil {
		t.Fatalf("kubectl apply --server-side -k %s: %v\n%s", dir, err, out)
	}
	t.Logf("$ kubectl apply --server-side -k %s  # upstream's manifests/production\n%s", dir, strings.TrimRight(out, "\n"))
	m := &ClusterMetacontroller{Kustomization: dir, n: n}
	n.WaitRollout(t, "metacontroller", "statefulset/metacontroller", 3*time.Minute)
	return m
}

// MetacontrollerUpstream is the resource manifests/metacontroller/
// kustomization.yaml names: upstream's production kustomization of the
// release the tiers run. The tiers render that file with the folder
// test/tools/build.sh extracted from the same release in its place (no
// network).
const MetacontrollerUpstream = "https://github.com/metacontroller/metacontroller/manifests/production?ref=v4.17.2"

// MetacontrollerComponent is a sizing component this repository ships for
// users (manifests/metacontroller/components/<name>, e.g. "fleet-50").
func MetacontrollerComponent(name string) string {
	return filepath.Join(harness.RepoRoot(), "manifests", "metacontroller", "components", name)
}

// writeMetacontrollerKustomization writes dir/kustomization.yaml: the
// repository's manifests/metacontroller/kustomization.yaml with upstream's
// URL replaced by the extracted production folder prod, o's components,
// and a JSON patch adding o's flags to the StatefulSet's container.
func writeMetacontrollerKustomization(t harness.T, dir, prod string, o MetacontrollerInstall) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join(harness.RepoRoot(), "manifests", "metacontroller", "kustomization.yaml")
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n- "+MetacontrollerUpstream+"\n") != 1 || strings.Contains(string(b), "\ncomponents:") || strings.Contains(string(b), "\npatches:") {
		t.Fatalf("%s must list %s as its one resource, and no components or patches (the tiers replace the URL and add their own)", shipped, MetacontrollerUpstream)
	}
	var k strings.Builder
	k.WriteString(strings.Replace(string(b), "\n- "+MetacontrollerUpstream+"\n", "\n- "+relPath(t, dir, prod)+"\n", 1))
	if len(o.Components) > 0 {
		k.WriteString("components:\n")
		for _, c := range o.Components {
			fmt.Fprintf(&k, "- %s\n", relPath(t, dir, c))
		}
	}
	if len(o.Args) > 0 {
		k.WriteString("patches:\n- target:\n    kind: StatefulSet\n    name: metacontroller\n    namespace: metacontroller\n  patch: |-\n")
		for _, a := range o.Args {
			fmt.Fprintf(&k, "    - op: add\n      path: /spec/template/spec/containers/0/args/-\n      value: %q\n", a)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Pod is the name of Metacontroller's pod.
func (m *ClusterMetacontroller) Pod() string { return "metacontroller-0" }

// UID is the current pod's UID ("" when there is none).
func (m *ClusterMetacontroller) UID() string {
	out, _ := m.n.KubectlErr("get", "pod", "-n", "metacontroller", m.Pod(), "-o", "jsonpath={.metadata.uid}")
	return strings.TrimSpace(out)
}

// Logs are the log files of every Metacontroller container the kubelet ran,
// restarts and replaced pods included (the kubelet's podLogsDir is in the
// node's LogDir, which outlives the pods).
func (m *ClusterMetacontroller) Logs() []string {
	files, _ := filepath.Glob(filepath.Join(m.n.LogDir, "pods", "metacontroller_"+m.Pod()+"_*", "metacontroller", "*.log"))
	return files
}

// Errors are the sync errors Metacontroller logged so far (every pod's).
func (m *ClusterMetacontroller) Errors() []string { return metacontrollerErrors(m.Logs()...) }

// Count counts the lines of every Metacontroller container's log that
// contain substr.
func (m *ClusterMetacontroller) Count(substr string) int {
	n := 0
	for _, f := range m.Logs() {
		b, _ := os.ReadFile(f)
		n += strings.Count(string(b), substr)
	}
	return n
}

// Delete deletes Metacontroller's pod (grace period in seconds; 0 or 1 kill
// it in the middle of whatever it was doing) and returns at once.
func (m *ClusterMetacontroller) Delete(grace int) error {
	_, err := m.n.KubectlErr("delete", "pod", "-n", "metacontroller", m.Pod(), "--wait=false", fmt.Sprintf("--grace-period=%d", grace))
	return err
}

// WaitReady waits until a pod other than the one with UID old is Ready
// (old "" : any).
func (m *ClusterMetacontroller) WaitReady(old string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, _ := m.n.KubectlErr("get", "pod", "-n", "metacontroller", m.Pod(), "-o",
			`jsonpath={.metadata.uid}/{.metadata.deletionTimestamp}/{.status.conditions[?(@.type=="Ready")].status}`)
		if f := strings.Split(strings.TrimSpace(out), "/"); len(f) == 3 && f[0] != old && f[1] == "" && f[2] == "True" {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("no new Metacontroller pod Ready within %s", timeout)
}

// IP is the pod's address.
func (m *ClusterMetacontroller) IP() string {
	out, _ := m.n.KubectlErr("get", "pod", "-n", "metacontroller", m.Pod(), "-o", "jsonpath={.status.podIP}")
	return strings.TrimSpace(out)
}

// Stats is what Metacontroller's container used (its cgroup).
func (m *ClusterMetacontroller) Stats() (node.ContainerStats, error) {
	rel, err := m.n.PodCgroup("metacontroller", m.Pod(), true)
	if err != nil {
		return node.ContainerStats{}, err
	}
	return node.CgroupStats(rel)
}
