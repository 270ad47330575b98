package helm

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestCeilingValues: both installs run the hook with the restricted
// ceiling by default (an argument a kustomize patch can change); the
// chart's podSecurityCeiling values become the flags.
func TestCeilingValues(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const dep = "Deployment dittofs-system/dittofs-hook"
	args := func(objs map[string]map[string]any) []string {
		return toStrings(dig(objs[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"])
	}
	for name, a := range map[string][]string{
		"kustomize": args(objects(t, run(t, kubectl, "kustomize", "manifests"))),
		"chart":     args(objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system"))),
	} {
		if !slices.Contains(a, "--pod-security-ceiling=restricted") {
			t.Errorf("%s: the hook runs without --pod-security-ceiling=restricted: %v", name, a)
		}
	}
	set := args(objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system",
		"--set", "podSecurityCeiling.level=baseline,podSecurityCeiling.allowedPriorityClasses={storage,batch},podSecurityCeiling.secretSelector=dittofs.example.com/use=true",
		"--set-json", `podSecurityCeiling.reservedNodeKeys=["node-role.kubernetes.io/control-plane","pool"]`)))
	var got []string
	for _, a := range set {
		for _, p := range []string{"--pod-security-ceiling=", "--allowed-priority-classes=", "--reserved-node-keys=", "--secret-selector="} {
			if len(a) > len(p) && a[:len(p)] == p {
				got = append(got, a)
			}
		}
	}
	want := []string{"--pod-security-ceiling=baseline", "--allowed-priority-classes=storage,batch", "--reserved-node-keys=node-role.kubernetes.io/control-plane,pool", "--secret-selector=dittofs.example.com/use=true"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("podSecurityCeiling values (-want +got):\n%s", d)
	}
}
