package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
)

// onNode is the demo on the real node.
func onNode(t *demoT, dir string) {
	root := harness.RepoRoot()
	step("Building the real components from the Go module proxy (cached; the first run takes about 25 minutes on 2 cores)")
	harness.BuildLog = os.Stdout
	for _, c := range []string{"dfs", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl",
		"containerd", "containerd-shim-runc-v2", "ctr", "kube-router", "coredns", "local-path-provisioner", "metacontroller", "metacontroller-manifests"} {
		start := time.Now()
		p := harness.Binary(t, c)
		fmt.Printf("   %-24s %s (%s)\n", c, p, time.Since(start).Round(time.Millisecond))
	}

	step("Starting a one-node Kubernetes cluster on this machine (kubelet, containerd, kube-proxy, kube-router, CoreDNS, local-path storage)")
	t.setFinish(func() int {
		fmt.Println("   stopped")
		return 0
	})
	n := node.Start(t, node.Options{
		OwnSignals: true,
		KeepLogs:   true,
		Logf:       func(format string, args ...any) { fmt.Printf("   "+format+"\n", args...) },
	})
	for _, p := range n.Processes() {
		fmt.Printf("   started %s (pid %d)\n", p.Name, p.Cmd.Process.Pid)
	}
	t.setFinish(func() int {
		if diff := n.CheckHostClean(); len(diff) > 0 {
			fmt.Printf("   the host is not as it was:\n%s\n", indent(strings.Join(diff, "\n")))
			return 1
		}
		fmt.Println("   stopped; the host is as it was")
		fmt.Printf("   the logs of every component are kept in %s (rm -rf it when done)\n", n.LogDir)
		_ = os.RemoveAll(dir)
		return 0
	})

	step("Installing Metacontroller v4.17.2 as its README says: kubectl apply -k of its manifests/production (its image packed on this machine)")
	controller.InstallMetacontroller(t, n, controller.MetacontrollerInstall{})
	// Its rollout can be reported done a moment before the pod shows ready.
	n.Kubectl("wait", "--for=condition=Ready", "pod/metacontroller-0", "-n", "metacontroller", "--timeout=180s")
	fmt.Printf("\n$ kubectl get pods -n metacontroller\n%s", n.Kubectl("get", "pods", "-n", "metacontroller"))

	step("Installing the dittofs-hook: its token Secret, then kubectl apply -k manifests")
	controller.CreateHookToken(t, n.Cluster, n.Dir)
	fmt.Print(indent(n.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests"))))
	n.WaitRollout(t, "dittofs-system", "deployment/dittofs-hook", 3*time.Minute)
	fmt.Printf("\n$ kubectl get pods -n dittofs-system\n%s", n.Kubectl("get", "pods", "-n", "dittofs-system"))

	step("Applying manifests/samples/minimal.yaml (plus a 1Gi content volume for a share, polled every 5s)")
	ds, name, spec := loadSample(t, "minimal.yaml")
	spec["storage"].(map[string]any)["contentSize"] = "1Gi"
	spec["adapterDiscovery"] = map[string]any{"pollingInterval": "5s"}
	b, _ := json.Marshal(ds)
	fmt.Print(indent(n.Apply(t, string(b))))

	step("DittoFS starts in its pod; the hook provisions its account and finds the adapters")
	n.WaitFor(t, "the DittoFS pod Ready", 4*time.Minute, func() (bool, string) {
		out, err := n.KubectlErr("get", "pod", name+"-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True", out
	})
	n.WaitFor(t, "both adapters at a load balancer address", 3*time.Minute, func() (bool, string) {
		out, _ := n.KubectlErr("get", "dittoserver", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.adapters[*].endpoints[0]}`)
		f := strings.Fields(out)
		return len(f) == 3 && f[0] == "True", out
	})

	step("Creating a share through DittoFS's API: a metadata store, a block store, the user alice and the share /export")
	pw, err := decodeB64(n.Kubectl("get", "secret", name+"-admin-bootstrap-credentials", "-o", "jsonpath={.data.password}"))
	if err != nil {
		t.Fatal(err)
	}
	apiURL := "http://" + n.ServiceIP(t, "default", name+"-api") + ":8080"
	api := &dittofstest.DittoFSAPI{Base: apiURL, Password: pw}
	const alicePW = "Alice-pass-1234"
	calls, err := api.CreateShare(dittofstest.PodMetadataDir, dittofstest.PodContentDir, "alice", alicePW)
	for _, c := range calls {
		fmt.Printf("   %s\n", c)
	}
	if err != nil {
		t.Fatalf("create the share: %v", err)
	}
	var st struct {
		Adapters []struct {
			Type      string   `json:"type"`
			Endpoints []string `json:"endpoints"`
		} `json:"adapters"`
	}
	_ = json.Unmarshal([]byte(n.Kubectl("get", "dittoserver", name, "-o", "jsonpath={.status}")), &st)
	endpoint := map[string][2]string{}
	for _, a := range st.Adapters {
		if len(a.Endpoints) > 0 {
			i := strings.LastIndex(a.Endpoints[0], ":")
			endpoint[a.Type] = [2]string{a.Endpoints[0][:i], a.Endpoints[0][i+1:]}
		}
	}
	smb, nfs := endpoint["smb"], endpoint["nfs"]

	step("Ready. This is what a user sees")
	fmt.Printf("\n$ kubectl get pods -o wide\n%s", n.Kubectl("get", "pods", "-o", "wide"))
	fmt.Printf("\n$ kubectl get dittofs -o wide\n%s", n.Kubectl("get", "dittofs", "-o", "wide"))
	fmt.Printf("\n$ kubectl get services,networkpolicies -l dittofs.io/adapter-type\n%s", n.Kubectl("get", "services,networkpolicies", "-l", "dittofs.io/adapter-type"))
	fmt.Printf(`
Explore it (in another terminal, as root; the load balancer addresses are routed to the node):

  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s
  kubectl get dittofs,statefulsets,pods,pvc,services,networkpolicies
  kubectl get pods -n metacontroller
  kubectl logs -n metacontroller metacontroller-0 --tail=5
  kubectl logs %[3]s-0
  kubectl events --for dittoserver/%[3]s

Write a file over SMB and list the share over NFS:

  smbclient //%[4]s/export -p %[5]s -U alice%%%[6]s -m SMB3 -c 'put /etc/os-release os-release.txt; ls'
  nfs-ls 'nfs://%[7]s/export?nfsport=%[8]s&mountport=%[8]s&uid=1000&gid=1000'

Disable the SMB adapter through DittoFS's API and watch its Service go
(within the 5s polling interval), then its NetworkPolicy:

  PW=$(kubectl get secret %[3]s-admin-bootstrap-credentials -o jsonpath='{.data.password}' | base64 -d)
  TOKEN=$(curl -s -X POST %[9]s/api/v1/auth/login -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" %[9]s/api/v1/adapters/smb -d '{"enabled":false}'
  kubectl get services -l dittofs.io/adapter-type -w
  kubectl get networkpolicies -l dittofs.io/adapter-type -w

(kubectl watches one kind at a time: run the two watches in two terminals.)

Logs of every component: %[10]s (kept when the demo stops; remove the folder yourself)
`, n.Kubeconfig, n.KubectlPath(), name, smb[0], smb[1], alicePW, nfs[0], nfs[1], apiURL, n.LogDir)
}
