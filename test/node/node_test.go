// Package node runs the product on a real one-node Kubernetes cluster
// (node.Start: kubelet, containerd and runc, kube-proxy, bridge CNI,
// kube-router for NetworkPolicies, CoreDNS, local-path-provisioner):
// Metacontroller v4.17.2 from upstream's manifests/production kustomization,
// the hook from `kubectl apply -k manifests`, a DittoServer whose pod starts from
// the rendered StatefulSet, real NFS and SMB clients through the adapter
// Services, and NetworkPolicies enforced. It needs root and the Debian
// packages test/run.sh installs; run it with `test/run.sh node`.
package node

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
)

const (
	ns   = "files-demo"
	name = "files"
	// clientLabel is what the DittoServer's networkPolicy admits.
	clientLabel = "dittofs-client"
)

func TestNode(t *testing.T) {
	start := time.Now()
	n := node.Start(t, node.Options{})
	t.Logf("node: %-44s %6.1f s", "node up (total)", time.Since(start).Seconds())
	s := &scenario{t: t, n: n, want: map[string]int{}}
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"1 Metacontroller from its production kustomization, then kubectl apply -k manifests: both Ready on the node", s.installHook},
		{"2 a LoadBalancer DittoServer: pod Ready by its probes, claims bound, adapters at addresses", s.dittoServer},
		{"3 a share through DittoFS's API, written and read back with smbclient and libnfs", s.clients},
		{"4 NetworkPolicies are enforced; SMB disabled and re-enabled", s.policies},
		{"4b the hook's port open to a pod of another namespace: 401 for it, 200 for Metacontroller", s.hookAuth},
		{"5 the DittoFS pod never restarted", s.noRestart},
		{"6 deletion: k8s-operator removed, children gone, claims kept", s.deletion},
		{"7 a DittoServer on PostgreSQL from a connection string: DittoFS in its pod connects to PostgreSQL on the host", s.postgres},
	}
	for _, st := range steps {
		begin := time.Now()
		ok := t.Run(st.name, st.run)
		t.Logf("node: scenario %-60.60s %6.1f s", st.name, time.Since(begin).Seconds())
		if !ok {
			return
		}
	}
	t.Run("8 teardown leaves the host as it was", func(t *testing.T) {
		if why := n.CheckGuards(); why != "" {
			t.Errorf("a network guard went missing while the node ran: %s", why)
		}
		n.Teardown()
		if diff := n.CheckHostClean(); len(diff) > 0 {
			t.Errorf("the host is not as it was before the node started:\n%s", strings.Join(diff, "\n"))
		} else {
			t.Logf("node: host clean: no interface, route, iptables rule, ipset, mount, directory, sysctl, cgroup or process left")
		}
	})
}

type scenario struct {
	t          *testing.T
	n          *node.Node
	controller *controller.ClusterMetacontroller
	hookURL    string
	adminPW    string
	podUID     string
	restarts   string
	lbSMB      string
	api        *dfsAPI
	userPW     string
	// want counts the hook's Events the steps so far expect, by reason.
	want map[string]int
}

func (s *scenario) installHook(t *testing.T) {
	n := s.n
	// As a user installs it, first: the hook's CompositeController needs
	// Metacontroller's CRDs.
	s.controller = controller.InstallMetacontroller(t, n, controller.MetacontrollerInstall{})
	t.Logf("$ kubectl get pods -n metacontroller\n%s", n.KubectlT(t, "get", "pods", "-n", "metacontroller"))
	// As the README installs it: the token first (the pods do not start
	// without it), then the manifests.
	controller.CreateHookToken(t, n.Cluster, t.TempDir())
	out := n.KubectlT(t, "apply", "--server-side", "-k", filepath.Join(harness.RepoRoot(), "manifests"))
	t.Logf("$ kubectl apply -k manifests\n%s", out)
	n.WaitRollout(t, "dittofs-system", "deployment/dittofs-hook", 180*time.Second)
	got := n.KubectlT(t, "get", "deployment", "-n", "dittofs-system", "dittofs-hook", "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}")
	if got != "2/2" {
		t.Fatalf("the hook's Deployment has %s replicas ready, want 2/2", got)
	}
	pods := n.KubectlT(t, "get", "pods", "-n", "dittofs-system", "-o", "wide")
	t.Logf("$ kubectl get pods -n dittofs-system -o wide\n%s", pods)
	// Restricted Pod Security is enforced on the namespace: the pods ran.
	if lbl := n.KubectlT(t, "get", "namespace", "dittofs-system", "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`); lbl != "restricted" {
		t.Errorf("dittofs-system enforces %q, want restricted", lbl)
	}
	ip := n.ServiceIP(t, "dittofs-system", "dittofs-hook")
	s.hookURL = "http://" + ip
	s.t.Cleanup(func() {
		if errs := s.controller.Errors(); len(errs) > 0 {
			s.t.Logf("Metacontroller logged errors:\n%s", strings.Join(errs, "\n"))
		}
	})
	t.Logf("Metacontroller runs in its pod and calls the hook through the cluster DNS name of its Service (%s), with the install's token", s.hookURL)
}

func (s *scenario) dittoServer(t *testing.T) {
	n := s.n
	n.KubectlT(t, "create", "namespace", ns)
	manifest := fmt.Sprintf(`apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: %s
  namespace: %s
spec:
  storage:
    metadataSize: 1Gi
    contentSize: 1Gi
    controlPlaneSize: 1Gi
  adapterServices:
    type: LoadBalancer
  adapterDiscovery:
    pollingInterval: 5s
  networkPolicy:
    apiFrom:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: dittofs-system
    - podSelector:
        matchLabels:
          %s: "true"
    adapterFrom:
    - podSelector:
        matchLabels:
          %s: "true"
`, name, ns, clientLabel, clientLabel)
	t.Logf("$ kubectl apply -f - <<EOF\n%sEOF\n%s", manifest, n.Apply(t, manifest))
	n.WaitFor(t, "the DittoFS pod Ready by its own probes", 240*time.Second, func() (bool, string) {
		out, err := n.KubectlErr("get", "pod", "-n", ns, name+"-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.phase}`)
		return err == nil && strings.HasPrefix(out, "True"), out
	})
	claims := n.KubectlT(t, "get", "pvc", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}`)
	if strings.Count(claims, "=Bound") != 3 {
		t.Errorf("claims: %s, want 3 Bound", claims)
	}
	n.WaitFor(t, "DittoServer Ready with both adapters at load balancer addresses", 180*time.Second, func() (bool, string) {
		out, _ := n.KubectlErr("get", "dittoserver", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.adapters[*].endpoints[0]}`)
		f := strings.Fields(out)
		return len(f) == 3 && f[0] == "True" && strings.HasPrefix(f[1], "10.97.") && strings.HasPrefix(f[2], "10.97."), out
	})
	if auth := n.KubectlT(t, "get", "dittoserver", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Authenticated")].status}`); auth != "True" {
		t.Errorf("Authenticated=%s, want True", auth)
	}
	t.Logf("$ kubectl get dittofs -n %s -o wide\n%s", ns, n.KubectlT(t, "get", "dittofs", "-n", ns, "-o", "wide"))
	t.Logf("$ kubectl get pods,pvc,services,networkpolicies -n %s\n%s", ns, n.KubectlT(t, "get", "pods,pvc,services,networkpolicies", "-n", ns))

	pw := n.KubectlT(t, "get", "secret", "-n", ns, name+"-admin-bootstrap-credentials", "-o", "jsonpath={.data.password}")
	b, err := base64.StdEncoding.DecodeString(pw)
	if err != nil {
		t.Fatal(err)
	}
	s.adminPW = string(b)
	s.api = &dfsAPI{DittoFSAPI: dittofstest.DittoFSAPI{Base: "http://" + n.ServiceIP(t, ns, name+"-api") + ":8080", Password: s.adminPW}}
	// The hook provisioned its operator account through the cluster DNS
	// name: DittoFS has it.
	if code, body := s.api.Call("GET", "/api/v1/users/k8s-operator", nil); code != 200 || !strings.Contains(body, `"operator"`) {
		t.Errorf("GET /api/v1/users/k8s-operator: %d %s, want the operator account", code, body)
	}
	s.podUID = n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.metadata.uid}")
	s.restarts = n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
	// The hook, in its pod, recorded each transition once, through the
	// Kubernetes API its egress policy admits by default.
	s.expectEvents(t, "the DittoServer reached Ready", map[string]int{
		"AuthProvisioned": 1, "AdapterServiceCreated": 2, "AdapterNetworkPolicyCreated": 2, "LoadBalancerAssigned": 2,
	}, "LoadBalancerPending", "AuthAPIUnreachable", "DittoFSRecovered")
}

// adapter is one adapter as the DittoServer's status shows it.
type adapter struct {
	Type      string   `json:"type"`
	Port      int      `json:"port"`
	Service   string   `json:"service"`
	Endpoints []string `json:"endpoints"`
}

func (s *scenario) adapters(t *testing.T) map[string]adapter {
	var st struct {
		Adapters []adapter `json:"adapters"`
	}
	if err := json.Unmarshal([]byte(s.n.KubectlT(t, "get", "dittoserver", "-n", ns, name, "-o", "jsonpath={.status}")), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]adapter{}
	for _, a := range st.Adapters {
		out[a.Type] = a
	}
	return out
}

func (s *scenario) clients(t *testing.T) {
	n := s.n
	s.userPW = "Alice-pass-1234"
	s.api.createShare(t, "alice", s.userPW)
	ad := s.adapters(t)
	nfs, smb := ad["nfs"], ad["smb"]
	if nfs.Service == "" || smb.Service == "" {
		t.Fatalf("adapters in status: %+v", ad)
	}
	n.RunPod(t, ns, "client", map[string]string{clientLabel: "true"})
	n.RunPod(t, ns, "stranger", map[string]string{"role": "stranger"})
	// kube-router admits a new pod once it has seen it (its address joins
	// the policy's source set): wait for that, not a fixed time.
	n.WaitFor(t, "the client pod admitted to both adapters", 60*time.Second, func() (bool, string) {
		out, err := n.Exec(ns, "client", 20*time.Second, fmt.Sprintf("timeout 6 smbclient -L //%s -p %d -U alice%%%s -m SMB3 && timeout 6 nfs-ls %s",
			smb.Service, smb.Port, s.userPW, nfsURL(nfs.Service, nfs.Port, "")))
		return err == nil, out
	})

	// In the cluster, by the adapter Services' names.
	s.transfer(t, "client pod", "client", smb.Service, smb.Port, nfs.Service, nfs.Port, "pod")
	// On one replica, by its per-pod name under the headless Service,
	// which lists every enabled adapter's port (issue 23).
	replica := name + "-0." + name + "-headless." + ns + ".svc.cluster.local"
	s.transfer(t, "client pod via "+replica, "client", replica, smb.Port, replica, nfs.Port, "replica")
	// From the host, through each Service's node port and load balancer
	// address (kube-proxy on the node).
	smbNP, nfsNP := n.NodePort(t, ns, smb.Service, smb.Port), n.NodePort(t, ns, nfs.Service, nfs.Port)
	s.hostTransfer(t, "host via NodePort", host.NodeIP, smbNP, host.NodeIP, nfsNP, "nodeport")
	smbHost, smbPort := splitHostPort(smb.Endpoints[0])
	nfsHost, nfsPort := splitHostPort(nfs.Endpoints[0])
	s.hostTransfer(t, "host via LoadBalancer", smbHost, smbPort, nfsHost, nfsPort, "lb")
	s.lbSMB = smb.Endpoints[0]
}

func splitHostPort(hp string) (string, string) {
	i := strings.LastIndex(hp, ":")
	return hp[:i], hp[i+1:]
}

// smbCmd and nfsURL are the client commands, the same in a pod and on the
// host.
func (s *scenario) smbCmd(host string, port any, commands string) string {
	return fmt.Sprintf("smbclient //%s/export -p %v -U alice%%%s -m SMB3 -c '%s'", host, port, s.userPW, commands)
}

func nfsURL(host string, port any, file string) string {
	path := "/export"
	if file != "" {
		path += "/" + file
	}
	return fmt.Sprintf("'nfs://%s%s?nfsport=%v&mountport=%v&uid=1000&gid=1000'", host, path, port, port)
}

func (s *scenario) transfer(t *testing.T, who, pod, smbHost string, smbPort int, nfsHost string, nfsPort int, tag string) {
	n := s.n
	smbFile, nfsFile := "smb-"+tag+".txt", "nfs-"+tag+".txt"
	steps := []struct{ cmd, want string }{
		{fmt.Sprintf("echo 'written over SMB by the %s' > /tmp/%s", who, smbFile), ""},
		{s.smbCmd(smbHost, smbPort, fmt.Sprintf("put /tmp/%s %s; get %s /tmp/back-%s", smbFile, smbFile, smbFile, smbFile)), "putting file"},
		{"cat /tmp/back-" + smbFile, "written over SMB by the " + who},
		{fmt.Sprintf("echo 'written over NFS by the %s' > /tmp/%s", who, nfsFile), ""},
		{fmt.Sprintf("nfs-cp /tmp/%s %s", nfsFile, nfsURL(nfsHost, nfsPort, nfsFile)), ""},
		{"nfs-cat " + nfsURL(nfsHost, nfsPort, nfsFile), "written over NFS by the " + who},
		{"nfs-ls " + nfsURL(nfsHost, nfsPort, ""), nfsFile},
	}
	for _, st := range steps {
		out, err := n.Exec(ns, pod, 30*time.Second, st.cmd)
		t.Logf("client (%s)$ %s\n%s", who, st.cmd, indent(out))
		if err != nil || !strings.Contains(out, st.want) {
			t.Fatalf("%s: %v; want output containing %q", st.cmd, err, st.want)
		}
	}
}

func (s *scenario) hostTransfer(t *testing.T, who, smbHost, smbPort, nfsHost, nfsPort, tag string) {
	dir, err := os.MkdirTemp("", "client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	smbFile, nfsFile := "smb-"+tag+".txt", "nfs-"+tag+".txt"
	steps := []struct{ cmd, want string }{
		{fmt.Sprintf("echo 'written over SMB by the %s' > %s/%s", who, dir, smbFile), ""},
		{s.smbCmd(smbHost, smbPort, fmt.Sprintf("put %s/%s %s; get %s %s/back-%s", dir, smbFile, smbFile, smbFile, dir, smbFile)), "putting file"},
		{fmt.Sprintf("cat %s/back-%s", dir, smbFile), "written over SMB by the " + who},
		{fmt.Sprintf("echo 'written over NFS by the %s' > %s/%s", who, dir, nfsFile), ""},
		{fmt.Sprintf("nfs-cp %s/%s %s", dir, nfsFile, nfsURL(nfsHost, nfsPort, nfsFile)), ""},
		{"nfs-cat " + nfsURL(nfsHost, nfsPort, nfsFile), "written over NFS by the " + who},
		{"nfs-ls " + nfsURL(nfsHost, nfsPort, ""), nfsFile},
	}
	for _, st := range steps {
		out, err := hostShell(30*time.Second, st.cmd)
		t.Logf("client (%s)$ %s\n%s", who, st.cmd, indent(out))
		if err != nil || !strings.Contains(out, st.want) {
			t.Fatalf("%s: %v; want output containing %q", st.cmd, err, st.want)
		}
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (no output)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// probe is one reachability check from a pod.
type probe struct {
	what, cmd string
}

func (s *scenario) reach(t *testing.T, pod string, p probe, want bool) {
	out, err := s.n.Exec(ns, pod, 20*time.Second, "timeout 6 "+p.cmd)
	got := err == nil
	verdict := map[bool]string{true: "admitted", false: "refused"}
	mark := "ok"
	if got != want {
		mark = "WRONG"
	}
	t.Logf("policy: %-8s → %-34s %-8s (want %s) %s", pod, p.what, verdict[got], verdict[want], mark)
	if got != want {
		t.Errorf("%s from %s: %s, want %s\n$ %s\n%s", p.what, pod, verdict[got], verdict[want], p.cmd, out)
	}
}

func (s *scenario) policies(t *testing.T) {
	n := s.n
	ad := s.adapters(t)
	nfs, smb := ad["nfs"], ad["smb"]
	podIP := n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.status.podIP}")
	smbList := func(host string, port int) string {
		return fmt.Sprintf("smbclient -L //%s -p %d -U alice%%%s -m SMB3", host, port, s.userPW)
	}
	nfsLs := func(host string, port int) string { return "nfs-ls " + nfsURL(host, port, "") }
	api := func(host string) string { return fmt.Sprintf("wget -q -O- http://%s:8080/health", host) }
	probes := []probe{
		{"SMB via " + smb.Service, smbList(smb.Service, smb.Port)},
		{"SMB on the pod IP", smbList(podIP, smb.Port)},
		{"NFS via " + nfs.Service, nfsLs(nfs.Service, nfs.Port)},
		{"NFS on the pod IP", nfsLs(podIP, nfs.Port)},
		{"API via " + name + "-api", api(name + "-api")},
		{"API on the pod IP", api(podIP)},
	}
	for _, p := range probes {
		s.reach(t, "client", p, true)
		s.reach(t, "stranger", p, false)
	}
	// The cluster DNS answers cluster names and nothing else: it has no
	// upstream, so no query leaves the machine.
	s.reach(t, "client", probe{"DNS: " + name + "-api (cluster)", "nslookup " + name + "-api." + ns + ".svc.cluster.local"}, true)
	s.reach(t, "client", probe{"DNS: example.com (outside)", "nslookup example.com"}, false)

	// Disable SMB through DittoFS's API: within the polling interval the
	// Service goes (then its policy), SMB is refused to everyone, NFS works.
	oldIP, oldNodePort := n.ServiceIP(t, ns, smb.Service), n.NodePort(t, ns, smb.Service, smb.Port)
	s.api.mustCall(t, "PUT", "/api/v1/adapters/smb", map[string]any{"enabled": false}, 200)
	begin := time.Now()
	n.WaitFor(t, "the SMB Service and NetworkPolicy removed", 60*time.Second, func() (bool, string) {
		// The policy is read first: gone then, with the Service still
		// there after, it went before its Service.
		np, _ := n.KubectlErr("get", "networkpolicies", "-n", ns, "-l", "dittofs.io/adapter-type=smb", "-o", "name")
		svc, _ := n.KubectlErr("get", "services", "-n", ns, "-l", "dittofs.io/adapter-type=smb", "-o", "name")
		if strings.TrimSpace(svc) != "" && strings.TrimSpace(np) == "" {
			t.Fatalf("the SMB NetworkPolicy was removed while its Service exists (%s): the Service must go first", strings.TrimSpace(svc))
		}
		return strings.TrimSpace(np+svc) == "", np + svc
	})
	t.Logf("SMB disabled: Service and NetworkPolicy %s-adapter-smb gone after %.1f s (polling interval 5 s)", name, time.Since(begin).Seconds())
	t.Logf("$ kubectl get services,networkpolicies -n %s\n%s", ns, n.KubectlT(t, "get", "services,networkpolicies", "-n", ns))
	s.expectEvents(t, "SMB disabled", map[string]int{"AdapterServiceDeleted": 1, "AdapterNetworkPolicyDeleted": 1})
	for _, pod := range []string{"client", "stranger"} {
		s.reach(t, pod, probe{"SMB on the pod IP (disabled)", smbList(podIP, smb.Port)}, false)
		s.reach(t, pod, probe{"SMB via " + smb.Service + " (disabled)", smbList(smb.Service, smb.Port)}, false)
	}
	s.reach(t, "client", probe{"NFS via " + nfs.Service, "nfs-cat " + nfsURL(nfs.Service, nfs.Port, "nfs-pod.txt")}, true)

	s.api.mustCall(t, "PUT", "/api/v1/adapters/smb", map[string]any{"enabled": true}, 200)
	begin = time.Now()
	n.WaitFor(t, "the SMB adapter back at its address", 60*time.Second, func() (bool, string) {
		a := s.adapters(t)["smb"]
		return len(a.Endpoints) > 0 && a.Endpoints[0] == s.lbSMB, fmt.Sprint(a)
	})
	t.Logf("SMB re-enabled: back at %s after %.1f s; the Service was created again: cluster IP %s → %s, node port %s → %s",
		s.lbSMB, time.Since(begin).Seconds(), oldIP, n.ServiceIP(t, ns, smb.Service), oldNodePort, n.NodePort(t, ns, smb.Service, smb.Port))
	n.WaitFor(t, "SMB admitted again", 60*time.Second, func() (bool, string) {
		out, err := n.Exec(ns, "client", 20*time.Second, "nslookup "+smb.Service+"; timeout 6 "+s.smbCmd(smb.Service, smb.Port, "ls"))
		return err == nil, out + " (Service address " + n.ServiceIP(t, ns, smb.Service) + ")"
	})
	s.reach(t, "client", probe{"SMB via " + smb.Service + " (re-enabled)", s.smbCmd(smb.Service, smb.Port, "get smb-pod.txt /tmp/again.txt")}, true)
	s.reach(t, "stranger", probe{"SMB via " + smb.Service + " (re-enabled)", smbList(smb.Service, smb.Port)}, false)
	s.expectEvents(t, "SMB re-enabled", map[string]int{"AdapterServiceCreated": 1, "AdapterNetworkPolicyCreated": 1, "LoadBalancerAssigned": 1}, "LoadBalancerPending")
}

// hookAuth: with the hook's ingress NetworkPolicy lifted (as on a cluster
// whose network plugin enforces none), a pod of another namespace reaches
// the hook's port and gets 401 for every hook call, with or without a
// token of its own making, while Metacontroller's calls (the install's
// token) get 200 all along. The policy is put back after.
func (s *scenario) hookAuth(t *testing.T) {
	n := s.n
	hook := "http://dittofs-hook.dittofs-system.svc.cluster.local"
	post := func(path, header string) string {
		return fmt.Sprintf(`wget -S -O- --header 'Content-Type: application/json' %s --post-data '{"parent":{}}' %s%s 2>&1`, header, hook, path)
	}
	// With its policy in place nothing answers at all.
	if out, _ := n.Exec(ns, "stranger", 20*time.Second, "timeout 6 "+post("/sync", "")); strings.Contains(out, "HTTP/") {
		t.Errorf("the hook answered a pod of namespace %s through its NetworkPolicy:\n%s", ns, out)
	}
	counts := func() (ok, unauthorized float64) {
		for _, ip := range strings.Fields(n.KubectlT(t, "get", "pods", "-n", "dittofs-system", "-l", "app.kubernetes.io/name=dittofs-hook", "-o", "jsonpath={.items[*].status.podIP}")) {
			out, err := n.Exec(ns, "stranger", 20*time.Second, "wget -q -O- http://"+ip+":9090/metrics")
			if err != nil {
				t.Fatalf("the hook's metrics at %s: %v\n%s", ip, err, out)
			}
			for _, line := range strings.Split(out, "\n") {
				var v float64
				if _, err := fmt.Sscanf(line, `dittofs_hook_requests_total{hook="sync",outcome="ok"} %g`, &v); err == nil {
					ok += v
				}
				if _, err := fmt.Sscanf(line, `dittofs_hook_requests_total{hook="sync",outcome="unauthorized"} %g`, &v); err == nil {
					unauthorized += v
				}
			}
		}
		return ok, unauthorized
	}
	t.Logf("$ kubectl delete networkpolicy -n dittofs-system dittofs-hook\n%s", n.KubectlT(t, "delete", "networkpolicy", "-n", "dittofs-system", "dittofs-hook"))
	defer func() {
		// Back as the install made it (only it: the CompositeController
		// points at the hook's address on the host).
		for _, doc := range strings.Split(n.KubectlT(t, "kustomize", filepath.Join(harness.RepoRoot(), "manifests")), "\n---\n") {
			if strings.Contains(doc, "kind: NetworkPolicy") && strings.Contains(doc, "\n  name: dittofs-hook\n") {
				if out, err := n.KubectlInput(doc, "apply", "--server-side", "-f", "-"); err != nil {
					t.Errorf("putting the hook's NetworkPolicy back: %v\n%s", err, out)
				}
			}
		}
		t.Logf("the hook's NetworkPolicy is back: %s", n.KubectlT(t, "get", "networkpolicy", "-n", "dittofs-system", "dittofs-hook", "-o", "name"))
	}()
	n.WaitFor(t, "the hook's port open to the stranger", 60*time.Second, func() (bool, string) {
		out, _ := n.Exec(ns, "stranger", 20*time.Second, "timeout 6 "+post("/sync", ""))
		return strings.Contains(out, "401"), out
	})
	okBefore, unauthBefore := counts()
	for _, c := range []struct{ path, header string }{
		{"/sync", ""}, {"/finalize", ""}, {"/customize", ""},
		{"/sync", "--header 'Authorization: Bearer guessed'"},
	} {
		out, _ := n.Exec(ns, "stranger", 20*time.Second, "timeout 6 "+post(c.path, c.header))
		if !strings.Contains(out, "HTTP/1.1 401") {
			t.Errorf("POST %s %s from a pod of namespace %s: want 401, got\n%s", c.path, c.header, ns, out)
		}
		t.Logf("POST %s from namespace %s %s: %s", c.path, ns, c.header, firstLine(out, "HTTP/"))
	}
	time.Sleep(3 * 5 * time.Second) // three polling intervals of Metacontroller's calls
	okAfter, unauthAfter := counts()
	t.Logf("the hook's syncs meanwhile: %.0f answered 200 (Metacontroller's), %.0f refused 401 (the stranger's)", okAfter-okBefore, unauthAfter-unauthBefore)
	if okAfter <= okBefore {
		t.Errorf("no sync answered 200 in three polling intervals: Metacontroller's calls are refused too")
	}
	if got := unauthAfter - unauthBefore; got != 2 {
		t.Errorf("%.0f syncs refused, want the stranger's 2: Metacontroller's calls were refused too", got)
	}
	if errs := s.controller.Errors(); len(errs) > 0 {
		t.Errorf("the controller saw errors: %s", strings.Join(errs, "\n"))
	}
}

// firstLine is the first line of out holding prefix, trimmed.
func firstLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return strings.TrimSpace(out)
}

func (s *scenario) noRestart(t *testing.T) {
	uid := s.n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.metadata.uid}")
	restarts := s.n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
	t.Logf("DittoFS pod: UID %s (was %s), restarts %s (was %s)", uid, s.podUID, restarts, s.restarts)
	if uid != s.podUID || restarts != s.restarts {
		t.Errorf("the DittoFS pod changed: UID %s → %s, restarts %s → %s", s.podUID, uid, s.restarts, restarts)
	}
	// What a user sees of it all (the README's excerpt).
	t.Logf("$ kubectl describe dittoserver -n %s %s\n%s", ns, name, s.n.KubectlT(t, "describe", "dittoserver", "-n", ns, name))
	t.Logf("$ kubectl events -n %s --for dittoserver/%s\n%s", ns, name, s.n.KubectlT(t, "events", "-n", ns, "--for", "dittoserver/"+name))
}

func (s *scenario) deletion(t *testing.T) {
	n := s.n
	token := s.api.login(t)
	podIP := n.KubectlT(t, "get", "pod", "-n", ns, name+"-0", "-o", "jsonpath={.status.podIP}")
	direct := &dfsAPI{DittoFSAPI: dittofstest.DittoFSAPI{Base: "http://" + podIP + ":8080", Password: s.adminPW}}
	// Hold the StatefulSet (and so its pod) with a finalizer of the test's
	// own, so that DittoFS can be asked what the finalize hook did after
	// the DittoServer is gone; released below.
	const hold = "test.dittofs-hook.io/hold"
	n.KubectlT(t, "patch", "statefulset", "-n", ns, name, "--type=merge", "-p", `{"metadata":{"finalizers":["`+hold+`"]}}`)
	t.Logf("$ kubectl delete dittoserver %s\n%s", name, n.KubectlT(t, "delete", "dittoserver", "-n", ns, name, "--wait=false"))
	n.WaitFor(t, "the DittoServer deleted (finalize hook answered finalized)", 120*time.Second, func() (bool, string) {
		out, _ := n.KubectlErr("get", "dittoservers", "-n", ns, "-o", "name")
		return strings.TrimSpace(out) == "", out
	})
	code, body := direct.CallToken(token, "GET", "/api/v1/users/k8s-operator", nil)
	t.Logf("after the finalize hook: GET /api/v1/users/k8s-operator → %d", code)
	s.expectEvents(t, "deletion", map[string]int{"OperatorAccountDeleted": 1})
	if code != 404 {
		t.Errorf("k8s-operator after the finalize hook: %d %s, want 404 (removed)", code, body)
	}
	n.KubectlT(t, "patch", "statefulset", "-n", ns, name, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	n.WaitFor(t, "the DittoServer's pod and children gone", 240*time.Second, func() (bool, string) {
		out, _ := n.KubectlErr("get", "statefulsets,pods,services,networkpolicies,configmaps,secrets", "-n", ns,
			"-l", "app.kubernetes.io/instance="+name, "-o", "name")
		pod, _ := n.KubectlErr("get", "pod", "-n", ns, name+"-0", "-o", "name", "--ignore-not-found")
		left := strings.TrimSpace(out + pod)
		return left == "", left
	})
	claims := n.KubectlT(t, "get", "pvc", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}`)
	t.Logf("claims after deletion: %s", claims)
	if strings.Count(claims, "=Bound") != 3 {
		t.Errorf("claims after deletion: %s, want the 3 claims kept (Retain)", claims)
	}
}

func hostShell(timeout time.Duration, script string) (string, error) {
	return node.HostShell(timeout, script)
}
