package hook_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// TestRemovalWritesOnce follows an adapter's removal through the syncs
// Metacontroller makes of it, each request carrying what the previous
// answer made of the cluster (its children, its status), and counts what
// Metacontroller writes: a child deleted when an answer leaves it out, the
// status written when it differs from the stored one (its
// updateParentStatus compares them whole). At scale every write queues
// behind Metacontroller's client rate limit (issue 27), so a removal must
// cost the two deletes it needs and one status write:
//   - sync 1 deletes the Service, and its status is already final (the
//     adapter disabled or gone, with no Service and no address);
//   - sync 2 (the Service's deletion seen) deletes the NetworkPolicy and
//     answers the same status: no second status write. The policy cannot go
//     in sync 1: the address goes before its policy, and the order is
//     observable (the soak's invariant), since Metacontroller's deletes are
//     separate requests;
//   - sync 3 changes nothing.
func TestRemovalWritesOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		dittofs dittofsSaid
		removed []string // the adapter types whose children go
	}{
		{"smb disabled", listedJSON([]map[string]any{
			{"type": "nfs", "enabled": true, "running": true, "port": 12049},
			{"type": "smb", "enabled": false, "running": false, "port": 1445},
		}), []string{"smb"}},
		{"smb deleted", listedJSON([]map[string]any{{"type": "nfs", "enabled": true, "running": true, "port": 12049}}), []string{"smb"}},
		{"every adapter gone", listedJSON([]adapter{}), []string{"nfs", "smb"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var (
				gone        []Modifier // children deleted so far
				status      map[string]any
				statusWrite = 0
				deletes     [][]string // per sync
			)
			observed := func() []string {
				var out []string
				for _, typ := range []string{"nfs", "smb"} {
					out = append(out, "Service/demo-adapter-"+typ, "NetworkPolicy/demo-adapter-"+typ)
				}
				return out
			}()
			for sync := 1; sync <= 3; sync++ {
				mods := slices.Clone(gone)
				if status != nil {
					st := status
					mods = append(mods, WithParentEdit(func(p map[string]any) { p["status"] = st }))
				}
				req := Steady(mods...)
				var prev struct {
					Parent struct {
						Status map[string]any `json:"status"`
					} `json:"parent"`
				}
				if err := json.Unmarshal(req.JSON(), &prev); err != nil {
					t.Fatal(err)
				}
				a := newAnswered(t, req.JSON(), answer(t, syncCase{request: req, dittofs: c.dittofs}))
				var resp struct {
					Status map[string]any `json:"status"`
				}
				resp.Status = obj(a.resp["status"])
				// Metacontroller adds observedGeneration, then compares.
				resp.Status["observedGeneration"] = prev.Parent.Status["observedGeneration"]
				if !cmp.Equal(prev.Parent.Status, resp.Status) {
					statusWrite++
					if sync > 1 {
						t.Errorf("sync %d writes the status again (-before +after):\n%s", sync, cmp.Diff(prev.Parent.Status, resp.Status))
					}
				}
				status = resp.Status
				var del []string
				var still []string
				for _, child := range observed {
					if a.children[child] != nil {
						still = append(still, child)
						continue
					}
					del = append(del, child)
					kind, name, _ := strings.Cut(child, "/")
					gone = append(gone, WithoutChild(kind, name))
				}
				observed = still
				deletes = append(deletes, del)
			}
			var wantDeletes [][]string
			var services, policies []string
			for _, typ := range c.removed {
				services = append(services, "Service/demo-adapter-"+typ)
				policies = append(policies, "NetworkPolicy/demo-adapter-"+typ)
			}
			wantDeletes = append(wantDeletes, services, policies, nil)
			if d := cmp.Diff(wantDeletes, deletes); d != "" {
				t.Errorf("children deleted by sync 1, 2, 3 (-want +got):\n%s", d)
			}
			if statusWrite != 1 {
				t.Errorf("%d status writes for one removal, want 1", statusWrite)
			}
		})
	}
}
