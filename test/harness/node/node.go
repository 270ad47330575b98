package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/image"
)

// Node is a one-node Kubernetes cluster from real components on this
// machine: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kubelet, kube-proxy (iptables), containerd with Debian's runc, the bridge
// CNI plugin, kube-router (NetworkPolicy only), CoreDNS without any upstream
// and Rancher's local-path-provisioner. Every image is built here
// (package image). The harness plays the cloud: LoadBalancer Services get
// an address from LoadBalancerCIDR, which is routed to the bridge.
//
// Nothing leaves the machine (package host has the guards). Teardown puts
// the host back as it was; the tests check that it did.
type Node struct {
	*cluster.Cluster
	// Dir holds the node's state; LogDir every component's log (kept when
	// the test failed, and named in its output).
	Dir, LogDir string

	t        harness.T
	orig     harness.T // the caller's T (t may be wrapped for logging)
	before   *host.HostSnapshot
	lock     *os.File
	cgroupFD int
	// procMu guards procs and down: a teardown from another goroutine (the
	// demo's signal handler) may run while Start is still starting
	// components, and nothing may start once it has begun.
	procMu  sync.Mutex
	down    bool
	procs   []*harness.Process
	kubelet *harness.Process
	ctr     string
	sock    string
	dumps   int

	lbMu     sync.Mutex
	lbAddrs  map[string]string // namespace/name → address, kept across re-creation
	lbNext   int
	stopLB   context.CancelFunc
	lbDone   chan struct{}
	sigStop  chan struct{}
	teardown sync.Once
	errs     []string
	// interrupted: torn down by a signal, so the logs are kept.
	interrupted bool
	keepLogs    bool
}

// Options configure Start.
type Options struct {
	// CRDs are applied before kube-controller-manager starts (files or
	// kustomize directories), as for cluster.Start.
	CRDs []string
	// Logf receives the phase lines ("node: … took …"); default t.Logf.
	Logf func(format string, args ...any)
	// OwnSignals: the caller handles SIGINT and SIGTERM itself and calls
	// Teardown (the demo); by default a signal tears the node down and
	// exits.
	OwnSignals bool
	// KeepLogs keeps every component's log after a successful teardown too
	// (the demo advertises the folder); by default only a failure keeps them.
	KeepLogs bool
}

// NodePackages are the Debian packages the node tier needs; test/run.sh
// installs them when it runs as root. PostgreSQL (PostgresPackage) serves
// a DittoServer's control plane from the node's host network.
var NodePackages = []string{"runc", "containernetworking-plugins", "iptables", "conntrack", "ipset", "smbclient", "libnfs-utils", "busybox-static", dittofstest.PostgresPackage}

// nodeHostTools are what those packages provide, to say which is missing.
var nodeHostTools = map[string]string{
	"/usr/sbin/runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins", "/usr/lib/cni/host-local": "containernetworking-plugins",
	"/usr/lib/cni/loopback": "containernetworking-plugins", "/usr/sbin/iptables": "iptables", "/usr/sbin/conntrack": "conntrack",
	"/usr/sbin/ipset": "ipset", "/usr/bin/smbclient": "smbclient", "/usr/bin/nfs-ls": "libnfs-utils", "/bin/busybox": "busybox-static",
}

// NodeUnavailable says why no node can run here ("" when one can): it
// needs root and the Debian packages above.
func NodeUnavailable() string {
	if os.Geteuid() != 0 {
		return "the node tier needs root (it creates a bridge, iptables rules, mounts and cgroups)"
	}
	var missing []string
	seen := map[string]bool{}
	for path, pkg := range nodeHostTools {
		if _, err := os.Stat(path); err != nil && !seen[pkg] {
			seen[pkg] = true
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		return "missing Debian packages: apt-get install -y --no-install-recommends " + strings.Join(missing, " ")
	}
	if _, err := os.Stat(filepath.Join(host.CgroupRoot, "cgroup.procs")); err != nil {
		return "no cgroup v2 hierarchy at " + host.CgroupRoot + " (the network guard matches the node's processes by it)"
	}
	return ""
}

func (n *Node) logf(format string, args ...any) { n.t.Logf("node: "+format, args...) }

// phase runs f and prints how long it took.
func (n *Node) phase(name string, f func()) {
	start := time.Now()
	f()
	n.logf("%-44s %6.1f s", name, time.Since(start).Seconds())
}

// Start brings up the node, holding a host-wide lock until Teardown
// (concurrent runs wait for each other). It fails the test when the node
// cannot run here (NodeUnavailable) or does not come up; a test's end, a
// failure, SIGINT or SIGTERM all tear it down.
func Start(t harness.T, o Options) *Node {
	t.Helper()
	if why := NodeUnavailable(); why != "" {
		t.Fatalf("cannot start the node: %s", why)
	}
	n := &Node{t: t, orig: t, lbAddrs: map[string]string{}, lbNext: 10, cgroupFD: -1, keepLogs: o.KeepLogs}
	if o.Logf != nil {
		n.t = logfT{T: t, logf: o.Logf}
	}

	n.phase("waiting for the host-wide node lock", func() {
		f, err := os.OpenFile(host.LockPath, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			n.logf("another node runs on this machine; waiting for it to finish (%s)", host.LockPath)
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
		}
		n.lock = f
		if errs := host.RecoverLocked(); len(errs) > 0 {
			t.Fatalf("a previous node left state this run cannot remove:\n%s", strings.Join(errs, "\n"))
		}
	})
	n.before = host.TakeHostSnapshot()
	dir, err := os.MkdirTemp("", "dfhook-node-")
	if err != nil {
		t.Fatal(err)
	}
	n.Dir, n.LogDir = dir, filepath.Join(dir, "logs")
	for _, d := range []string{n.LogDir, filepath.Join(dir, "bin"), filepath.Join(dir, "images")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := host.WriteState(host.State{Dir: n.Dir, LogDir: n.LogDir, Before: n.before}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Teardown)
	if !o.OwnSignals {
		n.handleSignals()
	}
	n.logf("state in %s, every component's log in %s", n.Dir, n.LogDir)

	var images []*image.Image
	n.phase("building images (pause, DittoFS, hook, Metacontroller, CoreDNS, busybox, client)", func() {
		images = image.NodeImages(t, filepath.Join(dir, "bin"))
	})
	n.phase("host network: bridge, routes, guards", func() {
		cg := filepath.Join(host.CgroupRoot, host.Cgroup)
		if err := os.Mkdir(cg, 0o755); err != nil {
			t.Fatalf("node cgroup: %v", err)
		}
		fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		n.cgroupFD = fd
		if err := host.SetupNetwork(); err != nil {
			t.Fatalf("host network: %v", err)
		}
	})
	n.phase("control plane: etcd, kube-apiserver, kube-controller-manager", func() {
		n.Cluster = cluster.StartControlPlane(t, dir, cluster.ControlPlane{
			Address: host.NodeIP,
			// The port API servers use (kubeadm's): the hook's egress
			// policy admits it by default, as on a real cluster.
			Port:        6443,
			ServiceCIDR: host.ServiceCIDR,
			APIServerArgs: []string{
				// Without it, kubectl logs/exec made the API server resolve
				// the node's name through the machine's resolver.
				"--kubelet-preferred-address-types", "InternalIP",
			},
			// nodelifecycle: without it the node keeps its not-ready taint.
			// serviceaccount and root-ca-certificate-publisher: pods with an
			// API token (CoreDNS) need their account and kube-root-ca.crt.
			Controllers: "endpointslice-controller,namespace-controller,garbage-collector-controller,deployment-controller," +
				"replicaset-controller,statefulset-controller,node-lifecycle-controller,persistentvolume-binder-controller," +
				"persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,serviceaccount-controller," +
				"root-ca-certificate-publisher-controller",
			KCMArgs: []string{"--root-ca-file", filepath.Join(dir, "certs", "apiserver.crt")},
			Start:   n.start,
		}, o.CRDs)
	})
	n.phase("containerd and the images", func() { n.startContainerd(images) })
	n.phase("kube-scheduler, kubelet, kube-proxy, kube-router: node Ready", n.startNodeComponents)
	n.phase("CoreDNS and local-path-provisioner Ready", n.startAddons)
	n.startLoadBalancers()
	// Cleanups run last-registered first: this one runs while every
	// component still runs, so a failed test's dump sees the cluster.
	t.Cleanup(func() {
		if f, ok := n.orig.(interface{ Failed() bool }); ok && f.Failed() {
			n.logf("the test failed; cluster state in %s", n.Dump("the test failed"))
		}
	})
	if why := host.GuardsInPlace(); why != "" {
		t.Fatalf("a network guard is missing after start: %s", why)
	}
	return n
}

// logfT sends Logf elsewhere (the demo prints phases its own way).
type logfT struct {
	harness.T
	logf func(format string, args ...any)
}

func (l logfT) Logf(format string, args ...any) { l.logf(format, args...) }

// start runs a component in the node's cgroup, with its log in LogDir.
func (n *Node) start(t harness.T, name, bin string, args ...string) *harness.Process {
	return n.startEnv(t, name, bin, nil, args...)
}

func (n *Node) startEnv(t harness.T, name, bin string, env []string, args ...string) *harness.Process {
	t.Helper()
	// (No lock held while starting: a failure calls t.Fatalf, whose
	// cleanups tear the node down and take the lock.)
	n.procMu.Lock()
	down := n.down
	n.procMu.Unlock()
	if down {
		t.Fatalf("not starting %s: the node is being torn down", name)
	}
	p := harness.StartWithAttr(t, n.LogDir, name, bin, env, func(a *syscall.SysProcAttr) {
		a.UseCgroupFD, a.CgroupFD = true, n.cgroupFD
	}, args...)
	n.procMu.Lock()
	down = n.down
	if !down {
		n.procs = append(n.procs, p)
	}
	n.procMu.Unlock()
	if down { // the teardown began while it started: it missed this one
		_ = p.Stop()
		t.Fatalf("not starting %s: the node is being torn down", name)
	}
	return p
}

func (n *Node) write(name, content string) string {
	p := filepath.Join(n.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
	return p
}

// link makes bin/<name> point at a cached binary, for components that look
// others up by name (containerd finds its shim on PATH).
func (n *Node) link(name, component string) string {
	p := filepath.Join(n.Dir, "bin", name)
	if err := os.Symlink(harness.Binary(n.t, component), p); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func (n *Node) startContainerd(images []*image.Image) {
	t := n.t
	cd := filepath.Join(n.Dir, "containerd")
	n.sock = filepath.Join(cd, "containerd.sock")
	n.link("containerd-shim-runc-v2", "containerd-shim-runc-v2")
	n.ctr = harness.Binary(t, "ctr")
	// No registry may ever be asked: every registry resolves to a closed
	// loopback port, so a missing image fails at once instead of reaching
	// for the network.
	n.write("containerd/certs.d/_default/hosts.toml", "server = \"http://127.0.0.1:1\"\n\n[host.\"http://127.0.0.1:1\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	n.write("cni/net.d/10-dittofs-hook.conflist", fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "dittofs-hook",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": %q}, {"dst": %q}],
      "dataDir": %q
    }
  }]
}
`, host.NodeBridge, host.PodCIDR, host.NodeIP, host.ServiceCIDR, host.LoadBalancerCIDR, filepath.Join(n.Dir, "cni", "ipam")))
	cfg := n.write("containerd/config.toml", fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
# Plugins that would create host directories or reach out; none is needed.
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[5]q
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %[6]q

[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '/usr/sbin/runc'
      Root = %[7]q
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = %[8]q

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
`, filepath.Join(cd, "root"), filepath.Join(cd, "state"), n.sock, n.sock+".ttrpc", image.PauseImage,
		filepath.Join(cd, "certs.d"), filepath.Join(cd, "runc"), filepath.Join(n.Dir, "cni", "net.d")))
	p := n.startEnv(t, "containerd", harness.Binary(t, "containerd"),
		[]string{"PATH=" + filepath.Join(n.Dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		"--config", cfg)
	n.WaitFor(t, "containerd's socket", 60*time.Second, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("containerd exited:\n%s", p.Tail())
		}
		_, err := os.Stat(n.sock)
		return err == nil, fmt.Sprint(err)
	})
	for _, img := range images {
		b, err := img.Archive()
		if err != nil {
			t.Fatalf("image %s: %v", img.Ref, err)
		}
		f := filepath.Join(n.Dir, "images", strings.NewReplacer("/", "_", ":", "_").Replace(img.Ref)+".tar")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(n.ctr, "--address", n.sock, "-n", "k8s.io", "images", "import", "--local", f).CombinedOutput(); err != nil {
			t.Fatalf("ctr images import %s: %v\n%s", img.Ref, err, out)
		}
	}
}

func (n *Node) startNodeComponents() {
	t := n.t
	c := n.Cluster
	n.start(t, "kube-scheduler", harness.Binary(t, "kube-scheduler"), "--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--v=1")
	// The pods' resolv.conf: only the cluster DNS is a nameserver (the
	// kubelet puts clusterDNS first for ClusterFirst pods; Default pods get
	// this file, whose loopback nameserver is inside their own namespace).
	resolv := n.write("kubelet/resolv.conf", "nameserver 127.0.0.1\n")
	cfg := n.write("kubelet/config.yaml", fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
resolvConf: %s
clusterDNS: [%s]
clusterDomain: cluster.local
podLogsDir: %s
volumePluginDir: %s
address: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
evictionHard:
  memory.available: 50Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
# Imported images can never be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
`, n.sock, resolv, host.ClusterDNS, filepath.Join(n.LogDir, "pods"), filepath.Join(n.Dir, "kubelet-plugins"), host.NodeIP, harness.FreePort(t)))
	n.kubelet = n.start(t, "kubelet", harness.Binary(t, "kubelet"), "--config", cfg, "--kubeconfig", c.Kubeconfig,
		"--root-dir", filepath.Join(n.Dir, "kubelet"), "--hostname-override", host.NodeName, "--node-ip", host.NodeIP, "--v=1")
	n.WaitFor(t, "the Node object", 90*time.Second, func() (bool, string) {
		if n.kubelet.Exited() {
			t.Fatalf("kubelet exited:\n%s", n.kubelet.Tail())
		}
		_, err := c.KubectlErr("get", "node", host.NodeName)
		return err == nil, fmt.Sprint(err)
	})
	// kube-router exits when the Node does not exist yet.
	n.start(t, "kube-router", harness.Binary(t, "kube-router"), "--kubeconfig", c.Kubeconfig,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--hostname-override", host.NodeName, "--health-port=0", "--metrics-port=0",
		"--service-cluster-ip-range", host.ServiceCIDR, "--service-external-ip-range", host.LoadBalancerCIDR, "--v=1")
	proxyCfg := n.write("kube-proxy.yaml", fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
iptables:
  localhostNodePorts: false
# 0: write no conntrack sysctls.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.Kubeconfig, host.NodeName, host.PodCIDR, host.NodeIP, harness.FreePort(t), harness.FreePort(t)))
	n.start(t, "kube-proxy", harness.Binary(t, "kube-proxy"), "--config", proxyCfg, "--v=1")
	n.WaitFor(t, "the node to be Ready", 120*time.Second, func() (bool, string) {
		out, err := c.KubectlErr("get", "node", host.NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
		return err == nil && strings.HasPrefix(out, "True"), out
	})
}

// WaitFor polls cond until it holds; after timeout it writes a dump of the
// cluster (pods, events, logs) into LogDir and fails the test with cond's
// last detail and the dump's path. Conditions, never sleeps.
func (n *Node) WaitFor(t harness.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)\nstate of the cluster: %s", what, timeout, strings.TrimSpace(detail), n.Dump(what))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Dump writes what one needs to see why something did not happen: nodes,
// pods, Services, endpoints, policies, claims, DittoServers, events, and
// every pod's log. It returns the file's path.
func (n *Node) Dump(reason string) string {
	if n.Cluster == nil {
		return n.LogDir
	}
	n.dumps++
	p := filepath.Join(n.LogDir, fmt.Sprintf("dump-%d.txt", n.dumps))
	var b strings.Builder
	fmt.Fprintf(&b, "dump: %s (%s)\n", reason, time.Now().Format(time.RFC3339))
	section := func(args ...string) {
		out, err := n.KubectlErr(args...)
		fmt.Fprintf(&b, "\n$ kubectl %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	section("get", "nodes,pods,services,endpointslices,networkpolicies,pvc,pv,statefulsets,deployments", "-A", "-o", "wide")
	section("get", "dittoservers", "-A", "-o", "yaml")
	section("get", "events", "-A", "--sort-by=.lastTimestamp")
	section("describe", "pods", "-A")
	pods, _ := n.KubectlErr("get", "pods", "-A", "-o", `jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name}{"\n"}{end}`)
	for _, l := range strings.Split(strings.TrimSpace(pods), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			section("logs", "-n", f[0], f[1], "--all-containers", "--tail=100")
		}
	}
	_ = os.WriteFile(p, []byte(b.String()), 0o644)
	return p
}

func (n *Node) handleSignals() {
	ch := make(chan os.Signal, 1)
	n.sigStop = make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(os.Stderr, "\nnode: %s: tearing the node down (logs: %s)\n", s, n.LogDir)
			n.interrupted = true
			n.Teardown()
			os.Exit(1)
		case <-n.sigStop:
			signal.Stop(ch)
		}
	}()
}

// Teardown stops every component, removes every container, mount, network
// change and directory the node made, restores the sysctls, and releases
// the lock. It runs once, at the test's end at the latest; call it earlier
// to check the host with CheckHostClean. The logs stay when the test failed.
func (n *Node) Teardown() {
	n.teardown.Do(func() {
		start := time.Now()
		if n.sigStop != nil {
			close(n.sigStop)
		}
		if n.stopLB != nil {
			n.stopLB()
			<-n.lbDone
		}
		failed := n.interrupted
		if f, ok := n.orig.(interface{ Failed() bool }); ok && f.Failed() {
			failed = true
		}
		if failed && n.Cluster != nil && !n.Cluster.APIServer().Exited() {
			n.Dump("the test failed")
		}
		// The kubelet first, so it restarts nothing; then the others in
		// reverse order of start.
		stop := func(p *harness.Process) {
			begin := time.Now()
			_ = p.Stop()
			if d := time.Since(begin); d > 2*time.Second {
				n.logf("%s took %.1f s to stop", p.Name, d.Seconds())
			}
		}
		n.procMu.Lock()
		n.down = true
		procs, kubelet := n.procs, n.kubelet
		n.procMu.Unlock()
		if kubelet != nil {
			stop(kubelet)
		}
		for i := len(procs) - 1; i >= 0; i-- {
			stop(procs[i])
		}
		if n.cgroupFD >= 0 {
			syscall.Close(n.cgroupFD)
			n.cgroupFD = -1
		}
		if n.before != nil {
			n.errs = host.Restore(n.before)
		}
		if n.Dir != "" {
			host.RemoveNodeDir(n.Dir, n.LogDir, failed || n.keepLogs)
		}
		if failed {
			fmt.Fprintf(os.Stderr, "node: FAILED; every component's log is kept in %s\n", n.LogDir)
		}
		_ = os.Remove(host.StatePath)
		if n.lock != nil {
			_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
			n.lock.Close()
		}
		n.logf("%-44s %6.1f s", "teardown", time.Since(start).Seconds())
		for _, e := range n.errs {
			n.t.Logf("node: teardown: %s", e)
		}
	})
}

// CheckHostClean compares the host with its state before the node started
// and lists every difference (Teardown must have run).
func (n *Node) CheckHostClean() []string {
	return append(append([]string(nil), n.errs...), n.before.Diff(host.TakeHostSnapshot())...)
}

// Processes lists every component the node started, in order.
func (n *Node) Processes() []*harness.Process {
	n.procMu.Lock()
	defer n.procMu.Unlock()
	return append([]*harness.Process(nil), n.procs...)
}

// CheckGuards says which network guard or route is missing ("" when all
// are in place): kube-proxy and kube-router rewrite rules all the time, and
// the guards must survive them.
func (n *Node) CheckGuards() string { return host.GuardsInPlace() }
