package helm

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

func run(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = harness.RepoRoot()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func objects(t *testing.T, stream []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, doc := range bytes.Split(stream, []byte("\n---")) {
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o == nil {
			continue
		}
		md, _ := o["metadata"].(map[string]any)
		out[o["kind"].(string)+" "+str(md["namespace"])+"/"+md["name"].(string)] = o
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func dig(o map[string]any, path ...string) any {
	var v any = o
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// TestHelmChart lints the chart and checks that, with its default values,
// it renders the same objects as the kustomize install: the same kinds and
// names, the same CompositeController, the same hook container.
func TestHelmChart(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	run(t, helm, "lint", "--strict", "charts/dittofs-hook")
	run(t, helm, "lint", "--strict", "charts/dittofs-hook", "--set", "authToken.secretName=hook-token,tls.secretName=hook-tls", "--set-string", "tls.caBundle=-----BEGIN CERTIFICATE-----")
	run(t, helm, "lint", "--strict", "charts/dittofs-hook", "--set", "tls.enabled=true")
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--include-crds"))
	kust := objects(t, run(t, kubectl, "kustomize", "manifests"))
	// The one intended difference: Helm's release namespace comes from
	// `helm install --create-namespace` (Helm stores the release there
	// before it applies templates), kustomize's from a Namespace object.
	delete(kust, "Namespace /dittofs-system")
	if _, ok := chart["Namespace /dittofs-system"]; ok {
		t.Fatal("the chart renders a Namespace by default; helm install --create-namespace would then fail")
	}
	// The other: the chart generates the hook's token (kept across
	// upgrades); with kustomize, a documented command creates it first.
	if _, ok := chart["Secret dittofs-system/dittofs-hook-token"]; !ok {
		t.Fatal("the chart renders no token Secret")
	}
	delete(chart, "Secret dittofs-system/dittofs-hook-token")
	keys := func(m map[string]map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if d := cmp.Diff(keys(kust), keys(chart)); d != "" {
		t.Fatalf("kinds and names differ (-kustomize +helm):\n%s", d)
	}
	cc := "CompositeController /dittofs-hook"
	if d := cmp.Diff(kust[cc]["spec"], chart[cc]["spec"]); d != "" {
		t.Fatalf("CompositeController differs (-kustomize +helm):\n%s", d)
	}
	dep := "Deployment dittofs-system/dittofs-hook"
	for _, path := range [][]string{{"spec", "replicas"}, {"spec", "template", "spec", "securityContext"}, {"spec", "template", "spec", "automountServiceAccountToken"}, {"spec", "template", "spec", "volumes"}} {
		if d := cmp.Diff(dig(kust[dep], path...), dig(chart[dep], path...)); d != "" {
			t.Errorf("Deployment %s differs (-kustomize +helm):\n%s", strings.Join(path, "."), d)
		}
	}
	kc := dig(kust[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	hc := dig(chart[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	for _, field := range []string{"args", "env", "ports", "securityContext", "resources", "livenessProbe", "readinessProbe", "volumeMounts"} {
		if d := cmp.Diff(kc[field], hc[field]); d != "" {
			t.Errorf("hook container %s differs (-kustomize +helm):\n%s", field, d)
		}
	}
	if d := cmp.Diff(kust["CustomResourceDefinition /dittoservers.dittofs.dittofs.com"], chart["CustomResourceDefinition /dittoservers.dittofs.dittofs.com"]); d != "" {
		t.Errorf("CRD differs:\n%s", d)
	}
}

// TestHookEgressPolicy: the hook's own pods may reach the cluster DNS
// (kube-dns in kube-system, UDP and TCP 53), the DittoFS API of every
// DittoServer (pods labelled app.kubernetes.io/name=dittofs, any namespace,
// on the API ports) and, for Events, the Kubernetes API (the private
// address ranges, on 443 and 6443, unless narrowed), nothing else: never
// the internet, never the link-local metadata address. Kustomize and the chart render the same
// policy; the chart's ports and API server peers are values.
func TestHookEgressPolicy(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const key = "NetworkPolicy dittofs-system/dittofs-hook-egress"
	kust := objects(t, run(t, kubectl, "kustomize", "manifests"))[key]
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system"))[key]
	if kust == nil || chart == nil {
		t.Fatalf("no %s (kustomize: %t, chart: %t)", key, kust != nil, chart != nil)
	}
	if d := cmp.Diff(kust["spec"], chart["spec"]); d != "" {
		t.Errorf("kustomize and the chart differ (-kustomize +helm):\n%s", d)
	}
	want := map[string]any{
		"podSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "dittofs-hook"}},
		"policyTypes": []any{"Egress"},
		"egress": []any{
			map[string]any{
				"to": []any{map[string]any{
					"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}},
					"podSelector":       map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}},
				}},
				"ports": []any{map[string]any{"port": float64(53), "protocol": "UDP"}, map[string]any{"port": float64(53), "protocol": "TCP"}},
			},
			map[string]any{
				"to": []any{map[string]any{
					"namespaceSelector": map[string]any{},
					"podSelector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "dittofs"}},
				}},
				"ports": []any{map[string]any{"port": float64(8080), "protocol": "TCP"}},
			},
			apiServerRule,
		},
	}
	if d := cmp.Diff(want, kust["spec"]); d != "" {
		t.Errorf("egress policy (-want +kustomize):\n%s", d)
	}
	ports := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "networkPolicy.dittofsAPIPorts={8080,9443}"))[key]
	got := dig(ports, "spec", "egress").([]any)[1].(map[string]any)["ports"]
	if d := cmp.Diff([]any{map[string]any{"port": float64(8080), "protocol": "TCP"}, map[string]any{"port": float64(9443), "protocol": "TCP"}}, got); d != "" {
		t.Errorf("networkPolicy.dittofsAPIPorts (-want +got):\n%s", d)
	}
	narrow := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system",
		"--set-json", `networkPolicy.apiServer={"to":[{"ipBlock":{"cidr":"192.0.2.10/32"}}],"ports":[6443]}`))[key]
	want = map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.10/32"}}}, "ports": []any{map[string]any{"port": float64(6443), "protocol": "TCP"}}}
	if d := cmp.Diff(want, dig(narrow, "spec", "egress").([]any)[2]); d != "" {
		t.Errorf("networkPolicy.apiServer (-want +got):\n%s", d)
	}
	if off := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "networkPolicy.enabled=false"))[key]; off != nil {
		t.Error("networkPolicy.enabled=false still renders the egress policy")
	}
}

// apiServerRule is the hook's egress to the Kubernetes API by default: the
// private address ranges, never the internet (it was any address but
// link-local).
var apiServerRule = map[string]any{
	"to": []any{
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "172.16.0.0/12"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "192.168.0.0/16"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "fc00::/7"}},
	},
	"ports": []any{map[string]any{"port": float64(443), "protocol": "TCP"}, map[string]any{"port": float64(6443), "protocol": "TCP"}},
}

// TestEventsRBAC: with Events (the default) the hook's service account may
// create events.k8s.io events in every namespace, and nothing else, and its
// pod mounts the token; without them (components/no-events, the chart's
// events.enabled=false) there is no ClusterRole, no binding, no token, no
// egress to the API server, and the hook runs with --events=false.
// Kustomize and the chart render the same in both cases.
func TestEventsRBAC(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const (
		role    = "ClusterRole /dittofs-hook-events"
		binding = "ClusterRoleBinding /dittofs-hook-events"
		dep     = "Deployment dittofs-system/dittofs-hook"
		egress  = "NetworkPolicy dittofs-system/dittofs-hook-egress"
	)
	for _, c := range []struct {
		name   string
		kust   map[string]map[string]any
		chart  map[string]map[string]any
		events bool
	}{
		{"events", objects(t, run(t, kubectl, "kustomize", "manifests")),
			objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system")), true},
		{"no-events", objects(t, run(t, kubectl, "kustomize", overlay(t, "no-events"))),
			objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "events.enabled=false")), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, objs := range map[string]map[string]map[string]any{"kustomize": c.kust, "chart": c.chart} {
				var rbac []string
				for k, o := range objs {
					if strings.Contains(str(o["apiVersion"]), "rbac.authorization.k8s.io") {
						rbac = append(rbac, k)
					}
				}
				sort.Strings(rbac)
				want := []string{role, binding}
				if !c.events {
					want = nil
				}
				if d := cmp.Diff(want, rbac); d != "" {
					t.Errorf("%s: RBAC objects (-want +got):\n%s", name, d)
				}
				automount := dig(objs[dep], "spec", "template", "spec", "automountServiceAccountToken")
				args := dig(objs[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"].([]any)
				if automount != c.events || slices.Contains(args, any("--events=false")) == c.events {
					t.Errorf("%s: automountServiceAccountToken %v, args %v; want the token and no --events=false exactly when Events are on", name, automount, args)
				}
				if sa := dig(objs["ServiceAccount dittofs-system/dittofs-hook"], "automountServiceAccountToken"); sa != false {
					t.Errorf("%s: the ServiceAccount mounts its token for every pod (%v)", name, sa)
				}
				rules := dig(objs[egress], "spec", "egress").([]any)
				if has := slices.ContainsFunc(rules, func(r any) bool { return cmp.Equal(r, any(apiServerRule)) }); has != c.events || len(rules) != 2+map[bool]int{true: 1}[c.events] {
					t.Errorf("%s: egress rules %v; the API server's rule wanted exactly when Events are on", name, rules)
				}
				if !c.events {
					continue
				}
				wantRules := []any{map[string]any{"apiGroups": []any{"events.k8s.io"}, "resources": []any{"events"}, "verbs": []any{"create"}}}
				if d := cmp.Diff(wantRules, objs[role]["rules"]); d != "" {
					t.Errorf("%s: the ClusterRole grants more or less than create on events.k8s.io events (-want +got):\n%s", name, d)
				}
				wantBinding := map[string]any{
					"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dittofs-hook-events"},
					"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "dittofs-hook", "namespace": "dittofs-system"}},
				}
				if d := cmp.Diff(wantBinding, map[string]any{"roleRef": objs[binding]["roleRef"], "subjects": objs[binding]["subjects"]}); d != "" {
					t.Errorf("%s: the binding (-want +got):\n%s", name, d)
				}
			}
			kc := dig(c.kust[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
			hc := dig(c.chart[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
			if d := cmp.Diff(kc["args"], hc["args"]); d != "" {
				t.Errorf("hook container args differ (-kustomize +helm):\n%s", d)
			}
			if d := cmp.Diff(dig(c.kust[egress], "spec"), dig(c.chart[egress], "spec")); d != "" {
				t.Errorf("egress policy differs (-kustomize +helm):\n%s", d)
			}
		})
	}
}
