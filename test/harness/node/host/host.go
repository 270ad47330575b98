package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The node's fixed place on the host. Only one node runs on a machine at a
// time (host paths such as /run/containerd and /var/lib/kubelet are fixed),
// so these names are fixed too and guarded by a host-wide lock.
const (
	NodeName    = "dittofs-node"
	NodeBridge  = "dfhook0"
	NodeIP      = "10.244.0.1"
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/24"
	// ClusterDNS is the kube-dns Service's address (CoreDNS).
	ClusterDNS = "10.96.0.10"
	// LoadBalancerCIDR is where the harness, playing the cloud, takes
	// LoadBalancer addresses from. It is routed to the bridge, like the
	// Service range.
	LoadBalancerCIDR = "10.97.0.0/24"

	// LockPath is the host-wide node lock; StatePath is State's file.
	LockPath  = "/run/lock/dittofs-hook-node.lock"
	StatePath = "/run/lock/dittofs-hook-node.state"
	// Cgroup is a cgroup v2 group (under CgroupRoot) every node component
	// runs in: the guard drops anything its processes send out of any
	// interface but loopback and the bridge.
	CgroupRoot = "/sys/fs/cgroup/unified"
	Cgroup     = "dittofs-hook-node"
	guardChain = "DITTOFS-HOOK-GUARD"
)

// hostPaths are directories the node's binaries create whatever they are
// told (NODE.md), plus the ones containerd's default plugins would.
var hostPaths = []string{"/run/containerd", "/var/lib/cni", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods",
	"/run/netns", "/var/run/netns", "/opt/containerd", "/run/nri", "/var/lib/containerd", "/etc/cni", "/opt/cni", "/var/lib/kube-router",
	"/run/flannel", "/var/lib/calico", "/etc/kubernetes", "/run/kube-router",
	// The kubelet's default volume plugin directory (the node sets its
	// own, this is in case) and libmount's state, which the mount
	// command the kubelet runs creates.
	"/usr/libexec/kubernetes", "/run/mount"}

// scannedDirs are searched (two levels deep) for directories that appear
// while the node runs: a component writing somewhere no setting names
// shows up in CheckHostClean even when hostPaths does not list it.
// (Home directories are not searched: other tests' tools write caches there.)
var scannedDirs = []string{"/etc", "/var/lib", "/var/log", "/var/run", "/run", "/opt", "/usr/libexec", "/usr/local"}

// sysctls the node changes (ip_forward, bridge netfilter) or its components
// write (kubelet's kernel tunables); teardown writes back what was there.
var sysctls = []string{
	"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding",
	"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables", "net/bridge/bridge-nf-call-arptables",
	"net/ipv4/conf/all/route_localnet", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter",
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established", "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/ipv4/vs/conntrack", "net/ipv4/ip_local_reserved_ports",
}

// State is written to StatePath while a node runs, so that a run
// killed without its cleanups (SIGKILL, go test's timeout) is cleaned up by
// the next one, or by `go run ./test/harness/node/nodeclean`.
type State struct {
	Dir    string
	LogDir string
	Before *HostSnapshot
}

func WriteState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(StatePath, b, 0o600)
}

func readState() (*State, error) {
	b, err := os.ReadFile(StatePath)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", StatePath, err)
	}
	return &s, nil
}

// HostSnapshot is what the node may change on the host. Teardown must leave
// it as it was: CheckHostClean compares two snapshots.
type HostSnapshot struct {
	Links    []string
	Routes   []string
	IPTables map[string][]string // "ipv4 filter" → rules and chains
	IPSets   []string
	Mounts   []string
	Paths    map[string]bool
	Sysctls  map[string]string
	Cgroups  []string
	Procs    []string
	Dirs     []string
}

// TakeHostSnapshot records the host's state.
func TakeHostSnapshot() *HostSnapshot {
	s := &HostSnapshot{IPTables: map[string][]string{}, Paths: map[string]bool{}, Sysctls: map[string]string{}}
	for _, l := range strings.Split(run("ip", "-o", "link", "show"), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			s.Links = append(s.Links, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	s.Routes = lines(run("ip", "route", "show", "table", "all"))
	for _, fam := range []string{"iptables", "ip6tables"} {
		for table, rules := range iptablesSave(fam) {
			s.IPTables[fam+" "+table] = rules
		}
	}
	s.IPSets = lines(run("ipset", "list", "-n"))
	s.Mounts = append(s.Mounts, mountPoints()...)
	for _, p := range hostPaths {
		_, err := os.Lstat(p)
		s.Paths[p] = err == nil
	}
	for _, k := range sysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	s.Cgroups = nodeCgroups()
	s.Procs = nodeProcesses()
	s.Dirs = scanDirs()
	sort.Strings(s.Links)
	sort.Strings(s.IPSets)
	sort.Strings(s.Mounts)
	return s
}

// Diff lists how after differs from s, one line per difference.
func (s *HostSnapshot) Diff(after *HostSnapshot) []string {
	var out []string
	set := func(what string, a, b []string) {
		in := map[string]bool{}
		for _, x := range a {
			in[x] = true
		}
		got := map[string]bool{}
		for _, x := range b {
			got[x] = true
			if !in[x] {
				out = append(out, fmt.Sprintf("%s left behind: %s", what, x))
			}
		}
		for _, x := range a {
			if !got[x] {
				out = append(out, fmt.Sprintf("%s gone: %s", what, x))
			}
		}
	}
	set("network interface", s.Links, after.Links)
	set("route", s.Routes, after.Routes)
	keys := map[string]bool{}
	for k := range s.IPTables {
		keys[k] = true
	}
	for k := range after.IPTables {
		keys[k] = true
	}
	for k := range keys {
		set(k+" rule", s.IPTables[k], after.IPTables[k])
	}
	set("ipset", s.IPSets, after.IPSets)
	set("mount", s.Mounts, after.Mounts)
	for _, p := range hostPaths {
		if !s.Paths[p] && after.Paths[p] {
			out = append(out, "directory left behind: "+p)
		}
	}
	for k, v := range s.Sysctls {
		if after.Sysctls[k] != v {
			out = append(out, fmt.Sprintf("sysctl %s: %s, was %s", k, after.Sysctls[k], v))
		}
	}
	set("cgroup", s.Cgroups, after.Cgroups)
	set("process", s.Procs, after.Procs)
	set("directory", s.Dirs, after.Dirs)
	sort.Strings(out)
	return out
}

func scanDirs() []string {
	var out []string
	for _, root := range scannedDirs {
		l1, _ := os.ReadDir(root)
		for _, e := range l1 {
			if !e.IsDir() {
				continue
			}
			p := filepath.Join(root, e.Name())
			out = append(out, p)
			l2, _ := os.ReadDir(p)
			for _, e2 := range l2 {
				if e2.IsDir() {
					out = append(out, filepath.Join(p, e2.Name()))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func run(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	return string(out)
}

// sh runs a command and returns an error with its output when it fails.
func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// iptablesSave returns each table's chains and rules without counters. A
// table holding nothing but empty built-in chains that accept is left out:
// iptables-nft creates such tables on first use and cannot delete them, and
// they change nothing.
func iptablesSave(fam string) map[string][]string {
	out := map[string][]string{}
	table := ""
	var rules []string
	trivial := true
	flush := func() {
		if table != "" && !trivial {
			sort.Strings(rules)
			out[table] = rules
		}
		table, rules, trivial = "", nil, true
	}
	for _, l := range strings.Split(run(fam+"-save"), "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			flush()
			table = l[1:]
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l)
			if len(f) >= 2 {
				rules = append(rules, f[0]+" "+f[1])
				if f[1] != "ACCEPT" {
					trivial = false
				}
			}
		case strings.HasPrefix(l, "-A "):
			rules = append(rules, l)
			trivial = false
		case l == "COMMIT":
			flush()
		}
	}
	flush()
	return out
}

func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// nodeCgroups lists the cgroups the node creates: its own v2 group and the
// kubelet's kubepods trees in every v1 hierarchy.
func nodeCgroups() []string {
	var out []string
	if _, err := os.Stat(filepath.Join(CgroupRoot, Cgroup)); err == nil {
		out = append(out, filepath.Join(CgroupRoot, Cgroup))
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		for _, name := range []string{"kubepods", "kubepods.slice"} {
			if _, err := os.Stat(filepath.Join(h, name)); err == nil {
				out = append(out, filepath.Join(h, name))
			}
		}
	}
	sort.Strings(out)
	return out
}

// nodeProcesses lists processes that run one of the binaries the node
// starts (built into the cache, or runc), by PID and binary.
func nodeProcesses() []string {
	cache := filepath.Dir(cacheDir())
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		base := filepath.Base(exe)
		if strings.HasPrefix(exe, cache) && nodeBinary(base) || base == "runc" {
			out = append(out, fmt.Sprintf("%d %s", pid, base))
		}
	}
	sort.Strings(out)
	return out
}

func nodeBinary(base string) bool {
	for _, c := range []string{"kubelet", "kube-proxy", "kube-router", "containerd", "containerd-shim-runc-v2", "coredns", "local-path-provisioner", "kube-scheduler"} {
		if strings.HasPrefix(base, c+"-v") {
			return true
		}
	}
	return false
}

// cacheDir is where test/tools/build.sh caches binaries.
func cacheDir() string {
	if d := os.Getenv("DITTOFS_HOOK_CACHE"); d != "" {
		return filepath.Join(d, "bin")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "dittofs-hook", "bin")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "dittofs-hook", "bin")
}

func writeSysctl(k, v string) error {
	return os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
}

// SetupNetwork creates the bridge with the node's address, routes the
// Service and load-balancer ranges to it (never the default route), and
// installs the guards; it turns on forwarding and bridge netfilter, which
// kube-proxy and kube-router need. The guards, in the mangle table so that
// no ACCEPT of kube-proxy or kube-router can come before them:
//
//   - FORWARD: a packet from the bridge may only leave by the bridge, and
//     only packets from the bridge may be forwarded to it (pods reach
//     nothing but each other and the node; nothing outside reaches pods);
//   - POSTROUTING: a packet leaving by any interface but loopback and the
//     bridge is dropped when a node component sent it (its cgroup) or when
//     it is from or to the pod, Service or load-balancer range.
func SetupNetwork() error {
	for _, kv := range [][2]string{
		{"net/ipv4/ip_forward", "1"},
		{"net/bridge/bridge-nf-call-iptables", "1"},
		{"net/bridge/bridge-nf-call-ip6tables", "1"},
	} {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	cmds := [][]string{
		{"ip", "link", "add", NodeBridge, "type", "bridge"},
		{"ip", "addr", "add", NodeIP + "/24", "dev", NodeBridge},
		{"ip", "link", "set", NodeBridge, "up"},
		{"ip", "route", "add", ServiceCIDR, "dev", NodeBridge, "src", NodeIP},
		{"ip", "route", "add", LoadBalancerCIDR, "dev", NodeBridge, "src", NodeIP},
	}
	for _, fam := range []string{"iptables", "ip6tables"} {
		cmds = append(cmds,
			[]string{fam, "-w", "-t", "mangle", "-N", guardChain},
			[]string{fam, "-w", "-t", "mangle", "-A", guardChain, "-o", "lo", "-j", "RETURN"},
			[]string{fam, "-w", "-t", "mangle", "-A", guardChain, "-o", NodeBridge, "-j", "RETURN"},
			[]string{fam, "-w", "-t", "mangle", "-A", guardChain, "-m", "cgroup", "--path", Cgroup, "-j", "DROP"},
			[]string{fam, "-w", "-t", "mangle", "-I", "POSTROUTING", "1", "-j", guardChain},
			[]string{fam, "-w", "-t", "mangle", "-I", "FORWARD", "1", "-i", NodeBridge, "!", "-o", NodeBridge, "-j", "DROP"},
			[]string{fam, "-w", "-t", "mangle", "-I", "FORWARD", "1", "!", "-i", NodeBridge, "-o", NodeBridge, "-j", "DROP"},
		)
	}
	for _, cidr := range []string{PodCIDR, ServiceCIDR, LoadBalancerCIDR} {
		cmds = append(cmds,
			[]string{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-s", cidr, "-j", "DROP"},
			[]string{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-d", cidr, "-j", "DROP"})
	}
	for _, c := range cmds {
		if err := sh(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// GuardsInPlace reports a guard that is missing (kube-proxy or kube-router
// must not have removed any), or "".
func GuardsInPlace() string {
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, rule := range [][]string{
			{"POSTROUTING", "-j", guardChain},
			{"FORWARD", "-i", NodeBridge, "!", "-o", NodeBridge, "-j", "DROP"},
			{"FORWARD", "!", "-i", NodeBridge, "-o", NodeBridge, "-j", "DROP"},
		} {
			if err := sh(fam, append([]string{"-w", "-t", "mangle", "-C"}, rule...)...); err != nil {
				return err.Error()
			}
		}
	}
	for _, cidr := range []string{ServiceCIDR, LoadBalancerCIDR} {
		if !strings.Contains(run("ip", "route", "show", cidr), "dev "+NodeBridge) {
			return cidr + " is not routed to " + NodeBridge
		}
	}
	return ""
}

// Restore undoes everything the node did to the host, judged against
// the snapshot taken before it started. It is safe to run more than once
// and after a run that died half-way. It returns what it could not undo.
func Restore(before *HostSnapshot) []string {
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	// Processes: everything in the node's cgroup (components, shims and
	// whatever they started), then every container in the kubelet's
	// cgroups, until none is left.
	for i := 0; i < 50; i++ {
		pids := cgroupPIDs()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pids := cgroupPIDs(); len(pids) > 0 {
		errs = append(errs, fmt.Sprintf("processes still running: %v", pids))
	}
	// Mounts under the node's directories (container root filesystems,
	// pod volumes, network namespaces, shm), deepest first.
	for i := 0; i < 5; i++ {
		var ours []string
		was := map[string]bool{}
		for _, m := range before.Mounts {
			was[m] = true
		}
		for _, m := range mountPoints() {
			if !was[m] {
				ours = append(ours, m)
			}
		}
		if len(ours) == 0 {
			break
		}
		sort.Slice(ours, func(a, b int) bool { return len(ours[a]) > len(ours[b]) })
		for _, m := range ours {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	for _, p := range hostPaths {
		if !before.Paths[p] {
			if _, err := os.Lstat(p); err == nil {
				note(os.RemoveAll(p))
			}
		}
	}
	// Network: veths left on the bridge, the bridge (its routes go with it).
	for _, l := range strings.Split(run("ip", "-o", "link", "show", "master", NodeBridge), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			_ = sh("ip", "link", "del", strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	if _, err := os.Stat("/sys/class/net/" + NodeBridge); err == nil {
		note(sh("ip", "link", "del", NodeBridge))
	}
	// iptables: every rule and chain that was not there before (the guards,
	// kube-proxy's, kube-router's and the kubelet's KUBE-* chains).
	for _, fam := range []string{"iptables", "ip6tables"} {
		note(restoreIPTables(fam, before))
	}
	was := map[string]bool{}
	for _, s := range before.IPSets {
		was[s] = true
	}
	for _, s := range lines(run("ipset", "list", "-n")) {
		if !was[s] {
			note(sh("ipset", "destroy", s))
		}
	}
	for _, cidr := range []string{PodCIDR, ServiceCIDR, LoadBalancerCIDR} {
		_ = exec.Command("conntrack", "-D", "-s", cidr).Run()
		_ = exec.Command("conntrack", "-D", "-d", cidr).Run()
	}
	for k, v := range before.Sysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil && strings.TrimSpace(string(b)) != v {
			note(writeSysctl(k, v))
		}
	}
	// cgroups, deepest first.
	for _, root := range nodeCgroups() {
		var dirs []string
		_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(a, b int) bool { return len(dirs[a]) > len(dirs[b]) })
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Sprintf("cgroup %s: %v", d, err))
			}
		}
	}
	return errs
}

// cgroupPIDs lists the processes in the node's cgroup and the kubelet's
// kubepods trees.
func cgroupPIDs() []int {
	var pids []int
	seen := map[int]bool{}
	for _, root := range nodeCgroups() {
		_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] && pid != os.Getpid() {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// restoreIPTables deletes the rules of built-in chains and the chains that
// were not there before, with one iptables-restore --noflush per table.
func restoreIPTables(fam string, before *HostSnapshot) error {
	var errs []string
	for table, rules := range iptablesSave(fam) {
		was := map[string]bool{}
		for _, r := range before.IPTables[fam+" "+table] {
			was[r] = true
		}
		builtin := map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}
		var script bytes.Buffer
		fmt.Fprintf(&script, "*%s\n", table)
		var chains []string
		for _, r := range rules {
			if strings.HasPrefix(r, ":") {
				name := strings.Fields(r)[0][1:]
				if !builtin[name] && !was[r] {
					chains = append(chains, name)
				}
			}
		}
		for _, r := range rules {
			if strings.HasPrefix(r, "-A ") && !was[r] {
				chain := strings.Fields(r)[1]
				if builtin[chain] {
					fmt.Fprintf(&script, "-D %s\n", r[3:])
				}
			}
		}
		for _, c := range chains {
			fmt.Fprintf(&script, "-F %s\n", c)
		}
		for _, c := range chains {
			fmt.Fprintf(&script, "-X %s\n", c)
		}
		script.WriteString("COMMIT\n")
		cmd := exec.Command(fam+"-restore", "-w", "--noflush")
		cmd.Stdin = &script
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("%s-restore %s: %v: %s", fam, table, err, out))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
