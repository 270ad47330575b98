package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestOptInChildTypes: each opt-in child type (manifests/components/*, the
// chart's metacontroller.childTypes.*) adds exactly its entry to the
// CompositeController's childResources, after the five the hook always
// declares, and kustomize with the component renders the same
// CompositeController as the chart with the value. Without them, neither
// declares a type whose CRD may be absent (Metacontroller would then sync
// nothing).
func TestOptInChildTypes(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const cc = "CompositeController /dittofs-hook"
	serviceMonitor := map[string]any{"apiVersion": "monitoring.coreos.com/v1", "resource": "servicemonitors", "updateStrategy": map[string]any{"method": "InPlace"}}
	percona := map[string]any{"apiVersion": "pgv2.percona.com/v2", "resource": "perconapgclusters", "updateStrategy": map[string]any{"method": "OnDelete"}}

	base := objects(t, run(t, kubectl, "kustomize", "manifests"))[cc]
	always, _ := dig(base, "spec", "childResources").([]any)
	if len(always) != 5 {
		t.Fatalf("the base CompositeController declares %d child types, want the hook's five: %v", len(always), always)
	}
	for _, c := range []struct {
		name       string
		components []string
		values     []string
		want       []any
	}{
		{"servicemonitor", []string{"servicemonitor"}, []string{"metacontroller.childTypes.serviceMonitor=true"}, []any{serviceMonitor}},
		{"percona", []string{"percona"}, []string{"metacontroller.childTypes.percona=true"}, []any{percona}},
		{"both", []string{"servicemonitor", "percona"}, []string{"metacontroller.childTypes.serviceMonitor=true", "metacontroller.childTypes.percona=true"}, []any{serviceMonitor, percona}},
	} {
		t.Run(c.name, func(t *testing.T) {
			kust := objects(t, run(t, kubectl, "kustomize", overlay(t, c.components...)))[cc]
			chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", strings.Join(c.values, ",")))[cc]
			want := append(append([]any{}, always...), c.want...)
			if d := cmp.Diff(want, dig(kust, "spec", "childResources")); d != "" {
				t.Errorf("kustomize with the components: childResources (-want +got):\n%s", d)
			}
			if d := cmp.Diff(kust["spec"], chart["spec"]); d != "" {
				t.Errorf("CompositeController differs (-kustomize +helm):\n%s", d)
			}
		})
	}
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system"))[cc]
	if d := cmp.Diff(always, dig(chart, "spec", "childResources")); d != "" {
		t.Errorf("the chart's defaults declare other child types (-kustomize base +helm):\n%s", d)
	}
}

// overlay writes a kustomization in a temporary directory that installs
// manifests/ with the named components, as a user's own would, and returns
// its path. Kustomize takes only relative paths to other kustomizations.
func overlay(t *testing.T, components ...string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, filepath.Join(harness.RepoRoot(), "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + filepath.Join(rel, "components", c) + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDittoFSClientIdentity: the component manifests/components/dittofs-client-tls
// and the chart's dittofsClientTLS.secretName give the hook the same client
// identity: the flags, the mount and the Secret volume; without them the
// hook has none (and is started without the flags, which would otherwise
// stop it at start for a missing file).
func TestDittoFSClientIdentity(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const dep = "Deployment dittofs-system/dittofs-hook"
	kust := objects(t, run(t, kubectl, "kustomize", overlay(t, "dittofs-client-tls")))[dep]
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "dittofsClientTLS.secretName=dittofs-hook-dittofs-client-tls"))[dep]
	container := func(o map[string]any) map[string]any {
		return dig(o, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	}
	for _, field := range []string{"args", "volumeMounts"} {
		if d := cmp.Diff(container(kust)[field], container(chart)[field]); d != "" {
			t.Errorf("hook container %s differs (-kustomize +helm):\n%s", field, d)
		}
	}
	if d := cmp.Diff(dig(kust, "spec", "template", "spec", "volumes"), dig(chart, "spec", "template", "spec", "volumes")); d != "" {
		t.Errorf("volumes differ (-kustomize +helm):\n%s", d)
	}
	args := strings.Join(toStrings(container(kust)["args"]), " ")
	if !strings.Contains(args, "--dittofs-client-cert-file=/var/run/dittofs-hook/dittofs-client/tls.crt") || !strings.Contains(args, "--dittofs-client-key-file=/var/run/dittofs-hook/dittofs-client/tls.key") {
		t.Errorf("the component's hook args lack the client identity: %s", args)
	}
	base := objects(t, run(t, kubectl, "kustomize", "manifests"))[dep]
	if strings.Contains(strings.Join(toStrings(container(base)["args"]), " "), "dittofs-client") {
		t.Error("the base install passes a client identity")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
