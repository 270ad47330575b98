package test

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
