package controller

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/image"
)

// TestCompositeController renders the project's CompositeController as the
// tiers apply it: with the opt-in components of manifests/components, its
// webhooks pointed at another base URL.
func TestCompositeController(t *testing.T) {
	kubectl := harness.Binary(t, "kubectl")
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
// Metacontroller: the repository's manifests/metacontroller over upstream's
// production kustomization, a component, extra flags, as `kubectl apply -k`
// sees it.
func TestMetacontrollerKustomization(t *testing.T) {
	kubectl := harness.Binary(t, "kubectl")
	prod := filepath.Join(MetacontrollerManifests(t), "production")
	dir := t.TempDir()
	writeMetacontrollerKustomization(t, dir, prod, MetacontrollerInstall{
		Args:       []string{"--leader-election=false"},
		Components: []string{MetacontrollerComponent("fleet-50")},
	})
	out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	for _, w := range []string{"kind: CustomResourceDefinition", "name: compositecontrollers.metacontroller.k8s.io", "kind: ClusterRole",
		"image: " + image.MetacontrollerImage, "- /usr/bin/metacontroller", "- --discovery-interval=20s", "- --client-go-qps=50", "- --leader-election=false"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the rendered install lacks %q", w)
		}
	}
}

// TestMetacontrollerSizing renders manifests/metacontroller with each
// sizing component users are told to add (docs/sizing.md): the
// StatefulSet's container gets exactly upstream's flags and the
// component's, once each, and nothing else of upstream's install changes.
func TestMetacontrollerSizing(t *testing.T) {
	kubectl := harness.Binary(t, "kubectl")
	prod := filepath.Join(MetacontrollerManifests(t), "production")
	if !strings.HasSuffix(MetacontrollerUpstream, "?ref="+image.MetacontrollerImage[strings.LastIndex(image.MetacontrollerImage, ":")+1:]) {
		t.Fatalf("manifests/metacontroller names %s, another release than the image %s", MetacontrollerUpstream, image.MetacontrollerImage)
	}
	upstream := []string{"--zap-log-level=4", "--discovery-interval=20s"}
	render := func(t *testing.T, components ...string) (args []string, rest string) {
		dir := t.TempDir()
		var cs []string
		for _, c := range components {
			cs = append(cs, MetacontrollerComponent(c))
		}
		writeMetacontrollerKustomization(t, dir, prod, MetacontrollerInstall{Components: cs})
		out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		var docs []string
		for _, doc := range strings.Split(string(out), "\n---\n") {
			var sts appsv1.StatefulSet
			if err := yaml.Unmarshal([]byte(doc), &sts); err != nil {
				t.Fatalf("%v:\n%s", err, doc)
			}
			if sts.Kind != "StatefulSet" {
				docs = append(docs, doc)
				continue
			}
			if args != nil || len(sts.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("want one StatefulSet of one container:\n%s", out)
			}
			args = sts.Spec.Template.Spec.Containers[0].Args
		}
		return args, strings.Join(docs, "\n---\n")
	}
	_, base := render(t)
	for _, c := range []struct {
		component string
		want      []string
	}{
		{"", upstream},
		{"fleet-50", append(upstream[:2:2], "--workers=10", "--client-go-qps=50", "--client-go-burst=100")},
		{"fleet-200", append(upstream[:2:2], "--workers=32", "--client-go-qps=100", "--client-go-burst=200")},
	} {
		t.Run("component "+c.component, func(t *testing.T) {
			var cs []string
			if c.component != "" {
				cs = append(cs, c.component)
			}
			args, rest := render(t, cs...)
			if d := cmp.Diff(c.want, args); d != "" {
				t.Errorf("Metacontroller's args (-want +got):\n%s", d)
			}
			if d := cmp.Diff(base, rest); d != "" {
				t.Errorf("the component changes more than the StatefulSet (-without +with):\n%s", d)
			}
		})
	}
}
