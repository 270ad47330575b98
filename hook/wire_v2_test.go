package hook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// v2Capture is a request a real Metacontroller v4.17.2 sent to hooks at
// version v2 (test/testdata/metacontroller/v2, made by TestWireV2Capture).
func v2Capture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), "metacontroller", "v2", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keysOf is how a request files its objects: "children|related <key>
// <filed as>", sorted; "<ns>/" for the parent's namespace reads "NS/", so
// that two captures of different namespaces compare.
func keysOf(t *testing.T, body []byte) []string {
	t.Helper()
	var req struct {
		Parent struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		} `json:"parent"`
		Children map[string]map[string]json.RawMessage `json:"children"`
		Related  map[string]map[string]json.RawMessage `json:"related"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var out []string
	for field, m := range map[string]map[string]map[string]json.RawMessage{"children": req.Children, "related": req.Related} {
		for key, objs := range m {
			for n := range objs {
				out = append(out, field+" "+key+" "+strings.Replace(n, req.Parent.Metadata.Namespace+"/", "NS/", 1))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestHookV2ModifierFilesAsMetacontroller: HookV2, which the golden cases
// use to speak v2, files objects exactly as the real Metacontroller did at
// the same moment: the v1 capture turned v2 has the v2 capture's keys (the
// v2 capture's parent named a StorageClass, the v1 one none).
func TestHookV2ModifierFilesAsMetacontroller(t *testing.T) {
	for _, c := range []struct{ v1, v2 string }{
		{ChildrenCreated, "sync-children-created.json"},
		{FirstSync, "sync-first.json"},
	} {
		t.Run(c.v2, func(t *testing.T) {
			captured := keysOf(t, v2Capture(t, c.v2))
			made := keysOf(t, Captured(c.v1, WithStorageClasses("capture-sc"), HookV2()).JSON())
			if d := cmp.Diff(captured, made); d != "" {
				t.Fatalf("HookV2 files objects unlike Metacontroller (-real +HookV2):\n%s", d)
			}
			if !slices.Contains(captured, "related Secret.v1 NS/demo-admin-password") || !slices.Contains(captured, "related "+hook.KeyStorageClass+" capture-sc") {
				t.Fatalf("the v2 capture lacks the related Secret or StorageClass: %v", captured)
			}
		})
	}
}

// TestRealHookV2Requests: the real v2 requests decode, and the core reads
// them as it reads v1: the observed children by name (none created anew,
// none removed), the related StorageClass present; and a customize call
// of v2 asks for the StorageClass the parent names.
func TestRealHookV2Requests(t *testing.T) {
	req, err := hook.DecodeSyncRequest(v2Capture(t, "sync-children-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := req.HookVersion(); v != hook.HookV2 {
		t.Fatalf("hook version %q, want v2", v)
	}
	s, err := hook.Prepare(req, testCeiling)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	resp := s.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k"))
	for _, c := range resp.Status.Conditions {
		if c.Reason == hook.ReasonStorageClassNotFound {
			t.Errorf("StorageClass capture-sc is in the request, yet: %s", c.Message)
		}
	}
	b, _ := json.Marshal(resp.Children)
	var answered []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(b, &answered)
	got := map[string]bool{}
	for _, c := range answered {
		got[c.Kind+"/"+c.Metadata.Name] = true
	}
	// The placeholder children the capture observed that the hook makes
	// too: found by name, so kept, not answered twice.
	for _, want := range []string{"StatefulSet/demo", "ConfigMap/demo-config", "Service/demo-api", "Service/demo-headless", "Secret/demo-jwt-secret"} {
		if !got[want] {
			t.Errorf("%s missing from the answer to a request observing it: %v", want, got)
		}
	}
	if s.Finalizing() {
		t.Error("a sync read as a finalize call")
	}

	fin, err := hook.DecodeSyncRequest(v2Capture(t, "finalize-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := fin.HookVersion(); v != hook.HookV2 || !fin.Finalizing {
		t.Fatalf("finalize capture: version %q, finalizing %v", v, fin.Finalizing)
	}
	if _, err := hook.Prepare(fin, testCeiling); err != nil {
		t.Fatalf("prepare the finalize call: %v", err)
	}

	creq, err := hook.DecodeCustomizeRequest(v2Capture(t, "customize-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []hook.RelatedResourceRule{
		{APIVersion: "v1", Resource: "secrets", Namespace: "default", Names: []string{"demo-admin-password"}},
		{APIVersion: "storage.k8s.io/v1", Resource: "storageclasses", Names: []string{"capture-sc"}},
	}
	if d := cmp.Diff(want, hook.Customize(creq).RelatedResources); d != "" {
		t.Fatalf("customize (-want +got):\n%s", d)
	}
}
