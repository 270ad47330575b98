package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// TestMoveFromUpstream hands a DittoServer from the upstream operator to
// the hook, on a real API server, as docs/upstream.md's "Moving from the
// upstream operator" says: its children exist in upstream's shape (names,
// labels, the immutable StatefulSet selector {app: dittofs-server,
// instance}, the adapter Services' ports under upstream's names, node ports,
// the Secrets with upstream's keys and the operator account upstream made in
// DittoFS), and upstream's finalizer on the DittoServer. The page's own
// commands of steps 2 and 3 remove the finalizer, label the children
// controller-uid=<the DittoServer's UID> and remove the NFS Service's UDP
// ports, run as written against this API server. Then the hook and the
// real Metacontroller start, once per apply strategy, and the test checks:
// no apply is refused (no 422 on the selector; under dynamic-apply, no
// duplicate node port: found by this test when it first ran the real
// Metacontroller, which the page's UDP step prevents), the StatefulSet's template is
// the hook's while its selector stays upstream's and the pod carries both
// label sets, every Service keeps its cluster IP and node ports (the NFS TCP
// port's and the portmapper's found under upstream's port names), the
// Secrets keep their values, the hook logs in with the k8s-operator
// password upstream stored (no account repair), adapters are discovered,
// and at steady state nothing is written.
func TestMoveFromUpstream(t *testing.T) {
	for _, strategy := range []string{"dynamic-apply", "server-side-apply"} {
		t.Run(strategy, func(t *testing.T) { moveFromUpstream(t, strategy) })
	}
}

// moveFromUpstream is TestMoveFromUpstream under one of Metacontroller's
// apply strategies.
func moveFromUpstream(t *testing.T, strategy string) {
	const (
		moveNS   = "move"
		name     = "moved"
		adminPW  = "upstream-Adm1n-password"
		operPW   = "upstream-0perator-password"
		interval = 5 * time.Second
	)
	root := harness.RepoRoot()
	dir := logDir(t)
	c := cluster.Start(t, dir, filepath.Join(root, "manifests", "crd"))
	c.Kubectl("create", "namespace", moveNS)

	// DittoFS as upstream left it: bootstrapped with the admin password,
	// the k8s-operator account upstream made.
	apiPort := harness.FreePort(t)
	dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{AdminPassword: adminPW, LogDir: dir, Port: apiPort})
	tok := dfs.AdminToken()
	dfs.Admin(tok, http.MethodPost, "/api/v1/users", map[string]string{"username": "k8s-operator", "password": operPW, "role": "operator"}, http.StatusCreated, nil)
	// A share whose snapshot policy the spec declares (upstream's pushes of
	// it never worked: research §0.4).
	dfs.Admin(tok, http.MethodPost, "/api/v1/store/metadata", map[string]string{"name": "meta", "type": "memory"}, http.StatusCreated, nil)
	dfs.Admin(tok, http.MethodPost, "/api/v1/store/block/local", map[string]string{"name": "local", "type": "fs", "config": fmt.Sprintf(`{"path":%q}`, filepath.Join(dfs.Dir, "blocks"))}, http.StatusCreated, nil)
	dfs.Admin(tok, http.MethodPost, "/api/v1/shares", map[string]string{"name": "/archive", "metadata_store_id": "meta", "local_block_store": "local"}, http.StatusCreated, nil)

	ds := fmt.Sprintf(`{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":%q,"namespace":%q},
		"spec":{"storage":{"metadataSize":"1Gi","contentSize":"1Gi"},"controlPlane":{"port":%d},"identity":{"admin":{"username":"admin"}},
		"adapterDiscovery":{"pollingInterval":"5s"},"service":{"type":"ClusterIP"},
		"adapterServices":{"type":"NodePort","overrides":{"nfs":{"portmapper":true}}},
		"snapshotPolicies":[{"share":"/archive","interval":"@daily","keepLast":7}]}}`, name, moveNS, apiPort)
	ds = strings.Replace(ds, `"namespace":`, `"finalizers":["dittofs.dittofs.com/finalizer"],"namespace":`, 1)
	apply := func(file, content string) {
		t.Helper()
		f := filepath.Join(dir, file)
		_ = os.WriteFile(f, []byte(content), 0o644)
		c.Kubectl("create", "-f", f)
	}
	apply("dittoserver.json", ds)
	uid := c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "jsonpath={.metadata.uid}")
	// Under dynamic-apply, an upstream from before v0.29.0 renamed its admin
	// Secret: <name>-admin-credentials, which the hook adopts as upstream
	// does (the README's move section); under server-side apply, v0.29.0's.
	adminSecret, bootstrap := name+"-admin-bootstrap-credentials", name+"-admin-bootstrap-credentials"
	legacy := strategy == "dynamic-apply"
	if legacy {
		adminSecret = name + "-admin-credentials"
	}
	apply("upstream-children.json", upstreamChildren(name, moveNS, uid, apiPort, dfs.NFSPort, dfs.SMBPort, adminSecret, adminPW, operPW))

	// docs/upstream.md's steps 2 and 3, as written (its placeholders filled in),
	// with kubectl on the PATH pointed at this API server.
	bins := t.TempDir()
	if err := os.Symlink(c.KubectlPath(), filepath.Join(bins, "kubectl")); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"dittofs.dittofs.com/finalizer", "controller-uid=", "protocol}"} {
		cmd := exec.Command("bash", "-c", strings.NewReplacer("NAMESPACE", moveNS, "NAME", name).Replace(readmeMoveCommand(t, step)))
		cmd.Env = append(os.Environ(), "PATH="+bins+":"+os.Getenv("PATH"), "KUBECONFIG="+c.Kubeconfig)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docs/upstream.md's command for %s: %v\n%s", step, err, out)
		}
	}
	if f := c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "jsonpath={.metadata.finalizers}"); f != "" {
		t.Fatalf("upstream's finalizer is still there after docs/upstream.md's step 2: %s", f)
	}
	for _, kind := range []string{"statefulsets", "services", "networkpolicies", "configmaps", "secrets"} {
		all := strings.Fields(c.Kubectl("get", kind, "-n", moveNS, "-o", "jsonpath={.items[*].metadata.name}"))
		labelled := strings.Fields(c.Kubectl("get", kind, "-n", moveNS, "-l", "controller-uid="+uid, "-o", "jsonpath={.items[*].metadata.name}"))
		if len(all) == 0 || len(labelled) != len(all) {
			t.Fatalf("%s: %v labelled of %v after docs/upstream.md's step 3", kind, labelled, all)
		}
	}

	services := []string{name + "-headless", name + "-api", name + "-adapter-nfs", name + "-adapter-smb"}
	secrets := []string{name + "-jwt-secret", adminSecret, name + "-operator-credentials"}
	getJSON := func(kind, n string) map[string]any {
		t.Helper()
		var out map[string]any
		if err := json.Unmarshal([]byte(c.Kubectl("get", kind, n, "-n", moveNS, "-o", "json")), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	addresses := func() map[string]string {
		out := map[string]string{}
		for _, s := range services {
			spec := getJSON("service", s)["spec"].(map[string]any)
			out[s+" clusterIP"] = fmt.Sprint(spec["clusterIP"])
			for _, p := range spec["ports"].([]any) {
				pm := p.(map[string]any)
				if np, ok := pm["nodePort"]; ok {
					out[fmt.Sprintf("%s %v/%v nodePort", s, pm["port"], pm["protocol"])] = fmt.Sprint(np)
				}
			}
		}
		return out
	}
	secretData := func() map[string]any {
		out := map[string]any{}
		for _, s := range secrets {
			out[s] = getJSON("secret", s)["data"]
		}
		return out
	}
	// DittoFS runs and is ready under upstream when the hook takes over
	// (docs/upstream.md's step 1 stops the operator, not DittoFS): the hook's first
	// sync reads the adapters and renders their Services.
	c.MarkStatefulSetReady(moveNS, name)
	addrBefore, secretsBefore := addresses(), secretData()
	selectorBefore := getJSON("statefulset", name)["spec"].(map[string]any)["selector"]

	// The hook and the real Metacontroller.
	mc, hookURL := startHookAndMetacontroller(t, c, dir, strategy)

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s; Metacontroller's errors %v\nstatus %s", what, mc.Errors(), c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "jsonpath={.status}"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	condition := func(typ string) string {
		return c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", `jsonpath={.status.conditions[?(@.type=="`+typ+`")].status}/{.status.conditions[?(@.type=="`+typ+`")].reason}`)
	}
	// The hook's template reaches the StatefulSet (its generation moves);
	// then the kubelet would restart the pod with it.
	wait("the StatefulSet updated with the hook's template", func() bool {
		return c.Kubectl("get", "statefulset", name, "-n", moveNS, "-o", "jsonpath={.metadata.generation}") != "1"
	})
	wait("adapters discovered", func() bool { return condition("AdaptersDiscovered") == "True/PollSucceeded" })
	wait("Ready", func() bool {
		if g := strings.Split(c.Kubectl("get", "statefulset", name, "-n", moveNS, "-o", "jsonpath={.metadata.generation}/{.status.observedGeneration}"), "/"); g[0] != g[1] {
			c.MarkStatefulSetReady(moveNS, name) // the kubelet restarted the pod with the hook's template
		}
		return condition("Ready") == "True/Ready"
	})

	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("applies refused while taking over upstream's children:\n%s", strings.Join(errs, "\n"))
	}
	sts := getJSON("statefulset", name)
	spec := sts["spec"].(map[string]any)
	if !reflect.DeepEqual(spec["selector"], selectorBefore) {
		t.Errorf("StatefulSet selector %v, want upstream's %v", spec["selector"], selectorBefore)
	}
	tmpl := spec["template"].(map[string]any)["metadata"].(map[string]any)
	podLabels := tmpl["labels"].(map[string]any)
	for k, v := range map[string]string{"app": "dittofs-server", "instance": name, "app.kubernetes.io/name": "dittofs", "app.kubernetes.io/instance": name} {
		if podLabels[k] != v {
			t.Errorf("pod label %s = %v, want %s (both label sets)", k, podLabels[k], v)
		}
	}
	if h := tmpl["annotations"].(map[string]any)["dittofs.io/config-hash"]; h != c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "jsonpath={.status.configHash}") {
		t.Errorf("pod template hash %v is not the hook's", h)
	}
	if d := diffMaps(addrBefore, addresses()); d != "" {
		t.Errorf("Service addresses changed (cluster IPs, node ports):\n%s\n%s", d, c.Kubectl("get", "service", name+"-adapter-nfs", "-n", moveNS, "-o", "yaml", "--show-managed-fields"))
	}
	if legacy {
		// The bootstrap Secret made with the legacy one's values, which
		// then goes (upstream deletes it once adopted).
		wait("the legacy admin Secret adopted, then deleted", func() bool {
			_, err := c.KubectlErr("get", "secret", adminSecret, "-n", moveNS)
			return err != nil
		})
		secrets[1] = bootstrap
		before := secretsBefore[adminSecret]
		delete(secretsBefore, adminSecret)
		secretsBefore[bootstrap] = before
	}
	if !reflect.DeepEqual(secretsBefore, secretData()) {
		t.Errorf("a Secret's data changed: before %v, after %v", secretsBefore, secretData())
	}
	nfsPorts := map[string]string{}
	for _, p := range getJSON("service", name+"-adapter-nfs")["spec"].(map[string]any)["ports"].([]any) {
		pm := p.(map[string]any)
		nfsPorts[fmt.Sprintf("%v/%v", pm["port"], pm["protocol"])] = fmt.Sprint(pm["name"])
	}
	if nfsPorts[fmt.Sprintf("%d/TCP", dfs.NFSPort)] != "nfs" || nfsPorts["111/TCP"] != "portmapper" {
		t.Errorf("nfs Service ports %v: want the hook's nfs and portmapper on upstream's entries", nfsPorts)
	}
	if got := condition("SnapshotPoliciesApplied"); got != "True/PoliciesApplied" {
		t.Errorf("SnapshotPoliciesApplied = %s", got)
	}
	if h := c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "jsonpath={.status.snapshotPolicies.appliedHash}/{.status.snapshotPolicies.shares}"); !strings.HasSuffix(h, `/["/archive"]`) || len(h) < 64 {
		t.Errorf("status.snapshotPolicies as stored: %s (pruned by the schema?)", h)
	}
	if code, body := dfs.Call(tok, http.MethodGet, "/api/v1/shares/archive/snapshot-policy", nil); code != 200 || !strings.Contains(string(body), `"keep_last":7`) {
		t.Errorf("the snapshot policy in DittoFS: %d %s", code, body)
	}
	if code, _ := dfs.Call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "k8s-operator", "password": operPW}); code != 200 {
		t.Errorf("k8s-operator no longer logs in with upstream's password (%d)", code)
	}
	resp, err := http.Get(hookURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(metrics), `dittofs_hook_operator_provisions_total{result="ok"} 1`) {
		t.Error("the hook repaired the operator account instead of using upstream's password")
	}

	// Steady state: nothing to write.
	time.Sleep(2 * time.Second)
	before := c.Writes()
	time.Sleep(2*interval + time.Second)
	var writes []string
	for k, v := range c.Writes() {
		res := k[strings.Index(k, " ")+1:]
		switch strings.SplitN(res, "/", 2)[0] {
		case "statefulsets", "services", "networkpolicies", "configmaps", "secrets", "dittoservers":
			if d := v - before[k]; d > 0 {
				writes = append(writes, fmt.Sprintf("%s ×%d", k, d))
			}
		}
	}
	sort.Strings(writes)
	if len(writes) > 0 {
		t.Errorf("writes at steady state after the move: %v", writes)
	}
	t.Logf("e2e: moved from upstream: %d Services kept their addresses, %d Secrets their values; %s", len(services), len(secrets),
		strings.Join(strings.Fields(c.Kubectl("get", "dittoserver", name, "-n", moveNS, "-o", "wide", "--no-headers")), " "))
}

func diffMaps(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, v, b[k]))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// readmeMoveCommand is the command of docs/upstream.md's "Moving from the
// upstream operator" section that contains marker, continuation lines
// joined.
func readmeMoveCommand(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "docs", "upstream.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	start := strings.Index(md, "## Moving from the upstream operator")
	if start < 0 {
		t.Fatal("docs/upstream.md has no section Moving from the upstream operator")
	}
	md = md[start:]
	if end := strings.Index(md[1:], "\n## "); end > 0 { // the next section of the same level
		md = md[:end+1]
	}
	for _, cmd := range harness.ShellCommands(md) {
		if strings.Contains(cmd, marker) {
			return cmd
		}
	}
	t.Fatalf("no command with %q in docs/upstream.md's move section", marker)
	return ""
}

// upstreamChildren are the children the upstream operator (v0.29.0) makes
// for DittoServer name (research §13), each with its controller
// ownerReference (no controller-uid label: docs/upstream.md's step 3 adds it).
func upstreamChildren(name, ns, uid string, apiPort, nfsPort, smbPort int, adminSecret, adminPW, operPW string) string {
	owner := []any{map[string]any{"apiVersion": "dittofs.dittofs.com/v1alpha1", "kind": "DittoServer", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}}
	sel := map[string]any{"app": "dittofs-server", "instance": name}
	meta := func(n string, extra map[string]any) map[string]any {
		l := map[string]any{}
		for k, v := range extra {
			l[k] = v
		}
		return map[string]any{"name": n, "namespace": ns, "labels": l, "ownerReferences": owner}
	}
	withSel := func(extra map[string]any) map[string]any {
		out := map[string]any{"app": "dittofs-server", "instance": name}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	port := func(n string, p, target int, proto string) map[string]any {
		return map[string]any{"name": n, "port": p, "targetPort": target, "protocol": proto}
	}
	claim := func(n string) map[string]any {
		return map[string]any{"metadata": map[string]any{"name": n}, "spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}}
	}
	policy := func(n string, extra map[string]any, ports []any) map[string]any {
		return map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(n, withSel(extra)),
			"spec": map[string]any{"podSelector": map[string]any{"matchLabels": sel}, "policyTypes": []any{"Ingress"}, "ingress": []any{map[string]any{"ports": ports}}}}
	}
	tcp := func(p int) map[string]any { return map[string]any{"port": p, "protocol": "TCP"} }
	udp := func(p int) map[string]any { return map[string]any{"port": p, "protocol": "UDP"} }
	secret := func(n string, data map[string]string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": meta(n, nil), "type": "Opaque", "stringData": data}
	}
	items := []any{
		map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, nil), "spec": map[string]any{
			"replicas": 1, "serviceName": name + "-headless", "selector": map[string]any{"matchLabels": sel},
			"persistentVolumeClaimRetentionPolicy": map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"},
			"template": map[string]any{
				"metadata": map[string]any{"labels": sel, "annotations": map[string]any{"dittofs.io/config-hash": "upstream"}},
				"spec": map[string]any{
					"automountServiceAccountToken":  false,
					"securityContext":               map[string]any{"fsGroup": 65532},
					"terminationGracePeriodSeconds": 105,
					"containers": []any{map[string]any{
						"name": "dittofs", "image": "marmos91c/dittofs:latest", "command": []any{"/app/dfs"},
						"args":  []any{"start", "--foreground", "--config", "/config/config.yaml"},
						"ports": []any{map[string]any{"name": "api", "containerPort": apiPort, "protocol": "TCP"}},
						"env": []any{
							map[string]any{"name": "DITTOFS_CONTROLPLANE_SECRET", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": name + "-jwt-secret", "key": "jwt-secret"}}},
							map[string]any{"name": "DITTOFS_ADMIN_INITIAL_PASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": adminSecret, "key": "password", "optional": true}}},
						},
						"lifecycle": map[string]any{"preStop": map[string]any{"exec": map[string]any{"command": []any{"/bin/sh", "-c", "sleep 5"}}}},
						"volumeMounts": []any{
							map[string]any{"name": "config", "mountPath": "/config", "readOnly": true},
							map[string]any{"name": "metadata", "mountPath": "/data/store/metadata"},
							map[string]any{"name": "content", "mountPath": "/data/store/block"},
							map[string]any{"name": "controlplane", "mountPath": "/data/controlplane"},
						},
					}},
					"volumes": []any{map[string]any{"name": "config", "configMap": map[string]any{"name": name + "-config"}}},
				},
			},
			"volumeClaimTemplates": []any{claim("metadata"), claim("content"), claim("controlplane")},
		}},
		map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta(name+"-headless", sel), "spec": map[string]any{
			"clusterIP": "None", "selector": sel, "ports": []any{port("api", apiPort, apiPort, "TCP")}}},
		map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta(name+"-api", sel), "spec": map[string]any{
			"type": "ClusterIP", "selector": sel, "ports": []any{port("api", apiPort, apiPort, "TCP")}}},
		map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta(name+"-adapter-nfs", withSel(map[string]any{"dittofs.io/adapter-service": "true", "dittofs.io/adapter-type": "nfs"})), "spec": map[string]any{
			"type": "NodePort", "selector": sel, "ports": []any{
				port("adapter-nfs", nfsPort, nfsPort, "TCP"), port("portmap", 111, 10111, "TCP"), port("portmap-udp", 111, 10111, "UDP"),
				port("adapter-nfs-udp", nfsPort, nfsPort, "UDP"), port("mdns", 5353, 5353, "UDP")}}},
		map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta(name+"-adapter-smb", withSel(map[string]any{"dittofs.io/adapter-service": "true", "dittofs.io/adapter-type": "smb"})), "spec": map[string]any{
			"type": "NodePort", "selector": sel, "ports": []any{
				port("adapter-smb", smbPort, smbPort, "TCP"), port("mdns", 5353, 5353, "UDP"), port("wsd", 3702, 3702, "UDP"), port("wsd-meta", 5357, 5357, "TCP")}}},
		policy(name+"-baseline", map[string]any{"dittofs.io/baseline-networkpolicy": "true"}, []any{tcp(apiPort)}),
		policy(name+"-adapter-nfs", map[string]any{"dittofs.io/adapter-networkpolicy": "true", "dittofs.io/adapter-type": "nfs"}, []any{tcp(nfsPort), tcp(10111), udp(10111), udp(nfsPort)}),
		policy(name+"-adapter-smb", map[string]any{"dittofs.io/adapter-networkpolicy": "true", "dittofs.io/adapter-type": "smb"}, []any{tcp(smbPort)}),
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name+"-config", nil), "data": map[string]any{"config.yaml": "logging:\n    level: INFO\n"}},
		secret(name+"-jwt-secret", map[string]string{"jwt-secret": "upstream-signing-key-0123456789abcdef0123456789"}),
		secret(adminSecret, map[string]string{"username": "admin", "password": adminPW}),
		secret(name+"-operator-credentials", map[string]string{"username": "k8s-operator", "password": operPW, "access-token": "stale", "refresh-token": "stale", "server-url": "http://" + name + "-api." + ns + ".svc.cluster.local:" + strconv.Itoa(apiPort)}),
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	return string(b)
}
