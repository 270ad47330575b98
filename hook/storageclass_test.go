package hook_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// TestCustomizeAsksNoStorageClasses: the customize answer never asks for
// StorageClasses, whatever the spec names. Metacontroller v4.17.2 answers
// such a rule of a namespaced parent with an always-empty map under hook
// version v1 (storageclass.go), which the core would read as every class
// missing: no StatefulSet naming one would ever be made.
func TestCustomizeAsksNoStorageClasses(t *testing.T) {
	for _, c := range []struct {
		name string
		mods []Modifier
	}{
		{"no class named", nil},
		{"storage.storageClassName", []Modifier{WithSpecField("storage.storageClassName", "fast")}},
		{"percona's", []Modifier{WithSpecField("percona", map[string]any{"enabled": true, "storageClassName": "db"})}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req hook.CustomizeRequest
			if err := json.Unmarshal(Captured(FirstSync, c.mods...).JSON(), &req); err != nil {
				t.Fatal(err)
			}
			for _, r := range hook.Customize(&req).RelatedResources {
				if r.Resource != "secrets" {
					t.Errorf("the customize answer asks for %s %s %v", r.APIVersion, r.Resource, r.Names)
				}
			}
		})
	}
}

// TestStorageClassNeverChangesWhatExists: a StorageClass missing (deleted
// under a running server, or never sent: a Metacontroller whose customize
// answer named none) changes no child of the answer; only ConfigReady and
// Ready say it. Children that do not exist yet are held back only when
// the request says the class is missing, never when it says nothing.
func TestStorageClassNeverChangesWhatExists(t *testing.T) {
	fast := WithSpecField("storage.storageClassName", "fast")
	notSent := func(r *Request) { delete(r.Tree()["related"].(map[string]any), hook.KeyStorageClass) }
	children := func(t *testing.T, r *Request) (string, []any) {
		t.Helper()
		var resp struct {
			Status struct {
				Conditions []struct{ Type, Reason string } `json:"conditions"`
			} `json:"status"`
			Children []any `json:"children"`
		}
		if err := json.Unmarshal(answer(t, syncCase{request: r, dittofs: listed(DittoFSBody("adapters-fresh.body"))}), &resp); err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Status.Conditions {
			if c.Type == hook.CondConfigReady {
				return c.Reason, resp.Children
			}
		}
		return "", resp.Children
	}
	for _, c := range []struct {
		name       string
		base       *Request
		mod        Modifier
		wantReason string
	}{
		{"running server, class deleted", Steady(fast, WithStorageClasses("fast")), WithStorageClasses("other"), hook.ReasonStorageClassNotFound},
		{"running server, classes not sent", Steady(fast, WithStorageClasses("fast")), notSent, hook.ReasonConfigValid},
		{"new server, classes not sent", Captured(FirstSync, fast, WithStorageClasses("fast")), notSent, hook.ReasonConfigValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, want := children(t, c.base)
			reason, got := children(t, c.base.With(c.mod))
			if reason != c.wantReason {
				t.Errorf("ConfigReady reason %q, want %q", reason, c.wantReason)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("the children changed (-class present +%s):\n%s", c.name, d)
			}
		})
	}
}
