package helm

import (
	"bytes"
	"os/exec"
	"path/filepath"
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
	run(t, helm, "lint", "--strict", "charts/dittofs-hook", "--set", "authToken.secretName=hook-token,tls.secretName=hook-tls,tls.caBundle=Y2E=")
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--include-crds"))
	kust := objects(t, run(t, kubectl, "kustomize", "manifests"))
	// The one intended difference: Helm's release namespace comes from
	// `helm install --create-namespace` (Helm stores the release there
	// before it applies templates), kustomize's from a Namespace object.
	delete(kust, "Namespace /dittofs-system")
	if _, ok := chart["Namespace /dittofs-system"]; ok {
		t.Fatal("the chart renders a Namespace by default; helm install --create-namespace would then fail")
	}
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
	for _, path := range [][]string{{"spec", "replicas"}, {"spec", "template", "spec", "securityContext"}, {"spec", "template", "spec", "automountServiceAccountToken"}} {
		if d := cmp.Diff(dig(kust[dep], path...), dig(chart[dep], path...)); d != "" {
			t.Errorf("Deployment %s differs (-kustomize +helm):\n%s", strings.Join(path, "."), d)
		}
	}
	kc := dig(kust[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	hc := dig(chart[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	for _, field := range []string{"args", "env", "ports", "securityContext", "resources", "livenessProbe", "readinessProbe"} {
		if d := cmp.Diff(kc[field], hc[field]); d != "" {
			t.Errorf("hook container %s differs (-kustomize +helm):\n%s", field, d)
		}
	}
	if d := cmp.Diff(kust["CustomResourceDefinition /dittoservers.dittofs.dittofs.com"], chart["CustomResourceDefinition /dittoservers.dittofs.dittofs.com"]); d != "" {
		t.Errorf("CRD differs:\n%s", d)
	}
}

// TestHookEgressPolicy: the hook's own pods may reach the cluster DNS
// (kube-dns in kube-system, UDP and TCP 53) and the DittoFS API of every
// DittoServer (pods labelled app.kubernetes.io/name=dittofs, any namespace,
// on the API ports), nothing else: no API server, no link-local metadata
// address, no address block at all. Kustomize and the chart render the same
// policy; the chart's ports are a value.
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
	if off := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "networkPolicy.enabled=false"))[key]; off != nil {
		t.Error("networkPolicy.enabled=false still renders the egress policy")
	}
}
