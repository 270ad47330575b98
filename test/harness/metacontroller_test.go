package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompositeController renders the project's CompositeController as the
// tiers apply it: with the opt-in components of manifests/components, its
// webhooks pointed at another base URL.
func TestCompositeController(t *testing.T) {
	kubectl := Binary(t, "kubectl")
	for _, c := range []struct {
		name       string
		components []string
		want       []string
	}{
		{"as installed", nil, []string{"resource: networkpolicies", "url: http://hook.test:81/sync", "url: http://hook.test:81/finalize"}},
		{"with the opt-in child types", []string{"servicemonitor", "percona"}, []string{"resource: servicemonitors", "resource: perconapgclusters", "url: http://hook.test:81/customize"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := CompositeController(t, kubectl, t.TempDir(), "http://hook.test:81", c.components...)
			for _, w := range c.want {
				if !strings.Contains(cc, w) {
					t.Errorf("the CompositeController lacks %q:\n%s", w, cc)
				}
			}
			if strings.Contains(cc, inClusterHookBase) {
				t.Errorf("the in-cluster URL is still there:\n%s", cc)
			}
		})
	}
}

// TestMetacontrollerKustomization renders the node tier's install of
// Metacontroller: upstream's production kustomization, a component, extra
// flags, as `kubectl apply -k` sees it.
func TestMetacontrollerKustomization(t *testing.T) {
	kubectl := Binary(t, "kubectl")
	prod := filepath.Join(MetacontrollerManifests(t), "production")
	dir := t.TempDir()
	writeMetacontrollerKustomization(t, dir, prod, MetacontrollerInstall{
		Args:       []string{"--leader-election=false"},
		Components: []string{filepath.Join(RepoRoot(), "test", "soak", "metacontroller-fleet")},
	})
	out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	for _, w := range []string{"kind: CustomResourceDefinition", "name: compositecontrollers.metacontroller.k8s.io", "kind: ClusterRole",
		"image: " + MetacontrollerImage, "- /usr/bin/metacontroller", "- --discovery-interval=20s", "- --client-go-qps=50", "- --leader-election=false"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the rendered install lacks %q", w)
		}
	}
}
