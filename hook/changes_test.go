package hook_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// TestChanges: the decisions of an answer, derived from the request and the
// answer alone: the children it adds and removes, the conditions it moves.
func TestChanges(t *testing.T) {
	cases := map[string]syncCase{}
	for _, c := range syncCases() {
		cases[c.name] = c
	}
	for _, c := range []struct {
		name                      string
		added, removed, condition []string
	}{
		{"steady", nil, nil, nil},
		{"failure-refused", nil, nil, []string{
			"Authenticated True/AuthenticationSucceeded -> False/APIUnreachable",
			"AdaptersDiscovered True/PollSucceeded -> False/APIUnreachable",
			"Ready False/LoadBalancerPending -> False/APIUnreachable",
		}},
		{"empty-adapter-list", nil, []string{"Service.v1/demo-adapter-nfs", "Service.v1/demo-adapter-smb"}, []string{
			"AdaptersReady False/LoadBalancerPending -> True/NoAdaptersEnabled",
			"Ready False/LoadBalancerPending -> True/Ready",
		}},
		{"smb-policy-removed-after-service", nil, []string{"NetworkPolicy.networking.k8s.io/v1/demo-adapter-smb"}, []string{
			"AdaptersReady False/LoadBalancerPending -> True/AllAdaptersReady",
			"Ready False/LoadBalancerPending -> True/Ready",
		}},
		// The captured status has Ready alone (reason Capture, the capture's
		// placeholder hook): every other condition is new.
		{"poll-fresh-server", []string{"NetworkPolicy.networking.k8s.io/v1/demo-adapter-smb"}, nil, []string{
			"ConfigReady / -> True/ConfigValid",
			"Available / -> True/ReplicaReady",
			"Progressing / -> False/RolloutComplete",
			"Authenticated / -> True/AuthenticationSucceeded",
			"AdaptersDiscovered / -> True/PollSucceeded",
			"AdaptersReady / -> False/ServicePending",
			"Ready False/Capture -> False/ServicePending",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, ok := cases[c.name]
			if !ok {
				t.Fatalf("no sync case %s", c.name)
			}
			s := prepare(t, sc.request.JSON())
			ch := s.Changes(s.Desired(sc.dittofs(s), now, hook.NewSeededSecretSource("fixture-key")))
			refs := func(rs []hook.ChildRef) []string {
				var out []string
				for _, r := range rs {
					out = append(out, r.Key+"/"+r.Name)
				}
				return out
			}
			var conds []string
			for _, cc := range ch.Conditions {
				conds = append(conds, fmt.Sprintf("%s %s/%s -> %s/%s", cc.Type, cc.From, cc.FromReason, cc.To, cc.Reason))
			}
			for what, d := range map[string]string{
				"added":      cmp.Diff(c.added, refs(ch.Added)),
				"removed":    cmp.Diff(c.removed, refs(ch.Removed)),
				"conditions": cmp.Diff(c.condition, conds),
			} {
				if d != "" {
					t.Errorf("%s (-want +got):\n%s", what, strings.TrimSpace(d))
				}
			}
		})
	}
}
