package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// dfsAPI is DittoFS's API as the administrator, failing the test on errors.
type dfsAPI struct{ dittofstest.DittoFSAPI }

func (a *dfsAPI) mustCall(t *testing.T, method, path string, in any, want int) string {
	t.Helper()
	code, body := a.Call(method, path, in)
	t.Logf("DittoFS API: %s %s %v → %d", method, path, in, code)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, body, want)
	}
	return body
}

func (a *dfsAPI) login(t *testing.T) string {
	t.Helper()
	tok, err := a.Login()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (a *dfsAPI) createShare(t *testing.T, user, password string) {
	t.Helper()
	calls, err := a.CreateShare(dittofstest.PodMetadataDir, dittofstest.PodContentDir, user, password)
	for _, c := range calls {
		t.Logf("DittoFS API: %s", c)
	}
	if err != nil {
		t.Fatalf("create the share: %v", err)
	}
}

// events counts the Events the hook recorded in the scenario's namespace,
// by reason, as the API server has them.
func (s *scenario) events(t *testing.T) map[string]int {
	t.Helper()
	var list struct {
		Items []struct {
			Reason              string `json:"reason"`
			ReportingController string `json:"reportingController"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(s.n.KubectlT(t, "get", "events.events.k8s.io", "-n", ns, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range list.Items {
		if e.ReportingController == "dittofs.dittofs.com/dittofs-hook" {
			out[e.Reason]++
		}
	}
	return out
}

// expectEvents waits until the hook's Events are those of the steps before
// plus add, exactly, but for the reasons whose count depends on timing on
// a real node (maybe), which may be up to two more each: a load balancer
// address the cloud assigns before the hook sees the Service without one,
// a first poll that beats kube-router's admission of the hook to the
// DittoFS API (AuthAPIUnreachable, then DittoFSRecovered). Two, because the
// real Metacontroller may sync a DittoServer from a cache that does not yet
// hold the status it just wrote: the same wait for a load balancer is then
// entered from two previous states (WaitingForReplica and ServicePending),
// two transitions by the hook's rule, two Events (seen on the node, 75 ms
// apart; the stand-in never synced from a stale status).
func (s *scenario) expectEvents(t *testing.T, step string, add map[string]int, maybe ...string) {
	t.Helper()
	for k, v := range add {
		s.want[k] += v
	}
	ok := func(got map[string]int) bool {
		for k, v := range got {
			if v != s.want[k] && !(slices.Contains(maybe, k) && v > s.want[k] && v <= s.want[k]+2) {
				return false
			}
		}
		for k, v := range s.want {
			if got[k] < v {
				return false
			}
		}
		return got["AuthAPIUnreachable"] == got["DittoFSRecovered"]
	}
	var got map[string]int
	s.n.WaitFor(t, "the Events of "+step, 30*time.Second, func() (bool, string) {
		got = s.events(t)
		return ok(got), fmt.Sprint(got)
	})
	time.Sleep(3 * time.Second) // and no more
	if got = s.events(t); !ok(got) {
		t.Fatalf("Events after %s: %v, want %v (each of %v maybe up to twice more)", step, got, s.want, maybe)
	}
	for _, k := range maybe {
		if got[k] > s.want[k] {
			s.want[k] = got[k]
		}
	}
	t.Logf("events: after %-44s %v", step, got)
}
