package hook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// TestDefaultsMatchCRD checks that hook.Default fills in exactly the CRD's
// defaults: the API server applies the CRD's, `hook render` and old objects
// rely on the hook's, and the two must give the same children. And a
// section a spec leaves out defaults as an empty one does, so that the
// hook reads no field that Default did not set.
func TestDefaultsMatchCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "manifests", "crd", "bases", "dittofs.dittofs.com_dittoservers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	// Every optional object of the DittoServer's own types present and
	// empty, so that structural defaulting reaches each of their fields.
	in := `{"storage":{"metadataSize":"1Gi"},"database":{"sqlite":{}},"controlPlane":{},
		"identity":{"jwt":{},"admin":{}},"adapterDiscovery":{},"adapterServices":{},"service":{},
		"networkPolicy":{},"logging":{},"metrics":{},"percona":{"backup":{}}}`
	var input map[string]any
	_ = json.Unmarshal([]byte(in), &input)
	all := map[string]any{}
	collectDefaults(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"], "", all)
	want := map[string]any{}
	for path, v := range all {
		if parentPresent(input, path) {
			want[path] = v
		}
	}
	var spec hook.DittoServerSpec
	if err := json.Unmarshal([]byte(in), &spec); err != nil {
		t.Fatal(err)
	}
	hook.Default(&spec)
	b, _ := json.Marshal(spec)
	var defaulted map[string]any
	_ = json.Unmarshal(b, &defaulted)
	got := map[string]any{}
	collectLeaves(defaulted, "", got)
	delete(got, ".storage.metadataSize") // set above, not defaulted
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("hook.Default and the CRD's defaults differ (-CRD +hook.Default):\n%s", d)
	}
	if len(want) < 10 {
		t.Fatalf("found only %d CRD defaults: %v", len(want), keys(want))
	}

	var minimal hook.DittoServerSpec
	if err := json.Unmarshal([]byte(`{"storage":{"metadataSize":"1Gi"}}`), &minimal); err != nil {
		t.Fatal(err)
	}
	hook.Default(&minimal)
	if d := cmp.Diff(spec, minimal); d != "" {
		t.Fatalf("absent sections default unlike empty ones (-empty sections +absent ones):\n%s", d)
	}
}

type schema struct {
	Type       string            `json:"type"`
	Default    any               `json:"default"`
	Properties map[string]schema `json:"properties"`
}

func collectDefaults(s schema, path string, out map[string]any) {
	if s.Default != nil {
		out[path] = s.Default
	}
	for name, p := range s.Properties {
		collectDefaults(p, path+"."+name, out)
	}
}

func collectLeaves(v any, path string, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, c := range m {
			collectLeaves(c, path+"."+k, out)
		}
		return
	}
	out[path] = v
}

// parentPresent says whether the object holding a field exists in v (the
// API server defaults a field only inside an existing object).
func parentPresent(v map[string]any, path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "."), ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := v[p].(map[string]any)
		if !ok {
			return false
		}
		v = next
	}
	return true
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}
