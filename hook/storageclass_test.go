package hook_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// TestCustomizeAsksForStorageClasses: the customize answer asks for the
// StorageClasses the spec names when the sync hook speaks hook version v2,
// and never under v1: Metacontroller v4.17.2 answers such a rule of a
// namespaced parent with an always-empty map under v1 (storageclass.go),
// which would read as every class missing.
func TestCustomizeAsksForStorageClasses(t *testing.T) {
	classes := func(names ...string) hook.RelatedResourceRule {
		return hook.RelatedResourceRule{APIVersion: "storage.k8s.io/v1", Resource: "storageclasses", Names: names}
	}
	secrets := hook.RelatedResourceRule{APIVersion: "v1", Resource: "secrets", Namespace: "default", Names: []string{"demo-admin-password"}}
	// With Percona, DittoFS reads Percona's user Secret too.
	withPercona := secrets
	withPercona.Names = []string{"demo-admin-password", "demo-postgres-pguser-dittofs"}
	fast := WithSpecField("storage.storageClassName", "fast")
	percona := WithSpecField("percona", map[string]any{"enabled": true, "storageClassName": "db"})
	for _, c := range []struct {
		name string
		mods []Modifier
		want []hook.RelatedResourceRule
	}{
		{"v2, no class named", []Modifier{HookV2()}, []hook.RelatedResourceRule{secrets}},
		{"v2, storage.storageClassName", []Modifier{fast, HookV2()}, []hook.RelatedResourceRule{secrets, classes("fast")}},
		{"v2, both, sorted", []Modifier{fast, percona, HookV2()}, []hook.RelatedResourceRule{withPercona, classes("db", "fast")}},
		{"v2, the same class twice", []Modifier{fast, WithSpecField("percona", map[string]any{"enabled": true, "storageClassName": "fast"}), HookV2()}, []hook.RelatedResourceRule{withPercona, classes("fast")}},
		{"v2, no dynamic provisioning", []Modifier{WithSpecField("storage.storageClassName", ""), HookV2()}, []hook.RelatedResourceRule{secrets}},
		{"v1, storage.storageClassName", []Modifier{fast}, []hook.RelatedResourceRule{secrets}},
		{"v1, percona's", []Modifier{percona}, []hook.RelatedResourceRule{withPercona}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := hook.DecodeCustomizeRequest(Captured(CustomizeCall, c.mods...).JSON())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, hook.Customize(req).RelatedResources); d != "" {
				t.Errorf("related resources (-want +got):\n%s", d)
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
		{"running server, class deleted", Steady(fast, WithStorageClasses("fast"), HookV2()), WithStorageClasses("other"), hook.ReasonStorageClassNotFound},
		{"running server, classes not sent", Steady(fast, WithStorageClasses("fast"), HookV2()), notSent, hook.ReasonConfigValid},
		{"new server, classes not sent", Captured(FirstSync, fast, WithStorageClasses("fast"), HookV2()), notSent, hook.ReasonConfigValid},
		// What Metacontroller v4.17.2 sends under v1 whatever exists: the
		// key, empty. It says nothing.
		{"new server, v1's empty classes", Captured(FirstSync, fast, WithStorageClasses("fast")), WithStorageClasses(), hook.ReasonConfigValid},
		{"running server, v1's empty classes", Steady(fast, WithStorageClasses("fast")), WithStorageClasses(), hook.ReasonConfigValid},
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
