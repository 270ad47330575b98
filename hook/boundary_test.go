package hook_test

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// The trust boundary, second round (issue 21).

// childrenOf decodes an answer's children by kind and name.
func childrenOf(t *testing.T, resp *hook.SyncResponse) map[string]map[string]any {
	t.Helper()
	b, err := json.Marshal(resp.Children)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, c := range list {
		out[c["kind"].(string)+"/"+c["metadata"].(map[string]any)["name"].(string)] = c
	}
	return out
}

// TestGeneratedSecretsRollNothing: generated values are drawn afresh for
// every answer (no oracle), and nothing else in an answer depends on them.
// Two first answers differ in the Secrets' values only; once the Secrets
// exist, the answer keeps them, and the StatefulSet (its pod template and
// config hash), the ConfigMap and the status are those of the first
// answers: creating the Secrets rolls no pod.
func TestGeneratedSecretsRollNothing(t *testing.T) {
	spec := WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}})
	first := prepare(t, Captured(FirstSync, spec, WithoutRelatedSecrets()).JSON())
	a := first.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	b := first.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	ac, bc := childrenOf(t, a), childrenOf(t, b)
	secrets := []string{"Secret/demo-jwt-secret", "Secret/demo-admin-bootstrap-credentials", "Secret/demo-operator-credentials"}
	var observed []Modifier
	for _, n := range secrets {
		if cmp.Equal(ac[n]["data"], bc[n]["data"]) {
			t.Errorf("%s: two answers drew the same values", n)
		}
		for k, v := range ac[n]["data"].(map[string]any) {
			if k != "username" && len(v.(string)) < 40 {
				t.Errorf("%s key %s: %d base64 characters, want 256 bits", n, k, len(v.(string)))
			}
		}
		created := ac[n]
		created["metadata"].(map[string]any)["namespace"] = "default"
		created["metadata"].(map[string]any)["uid"] = "uid-of-" + n
		observed = append(observed, WithChild(created))
		delete(ac, n)
		delete(bc, n)
	}
	if d := cmp.Diff(ac, bc); d != "" {
		t.Errorf("two first answers differ in more than the Secrets' values (-first +second):\n%s", d)
	}
	if d := cmp.Diff(a.Status, b.Status); d != "" {
		t.Errorf("two first answers' status differ:\n%s", d)
	}
	after := prepare(t, Captured(FirstSync, append([]Modifier{spec, WithoutRelatedSecrets()}, observed...)...).JSON())
	c := after.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	cc := childrenOf(t, c)
	for _, n := range secrets {
		if !cmp.Equal(cc[n]["data"], childrenOf(t, a)[n]["data"]) {
			t.Errorf("%s: the answer after creation does not keep the created values", n)
		}
	}
	for _, n := range []string{"StatefulSet/demo", "ConfigMap/demo-config"} {
		if d := cmp.Diff(ac[n], cc[n]); d != "" {
			t.Errorf("%s changes once the Secrets exist (-before +after):\n%s", n, d)
		}
	}
	if a.Status.ConfigHash != c.Status.ConfigHash {
		t.Errorf("status.configHash %s before the Secrets exist, %s after", a.Status.ConfigHash, c.Status.ConfigHash)
	}
}

// exposedPorts are the pod ports the answer's adapter Services target and
// its adapter NetworkPolicies admit, by child.
func exposedPorts(t *testing.T, resp *hook.SyncResponse) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for key, c := range childrenOf(t, resp) {
		spec, _ := c["spec"].(map[string]any)
		switch c["kind"] {
		case "Service":
			for _, p := range spec["ports"].([]any) {
				target := p.(map[string]any)["targetPort"]
				if target == nil {
					target = p.(map[string]any)["port"]
				}
				out[key] = append(out[key], target.(float64))
			}
		case "NetworkPolicy":
			for _, rule := range spec["ingress"].([]any) {
				for _, p := range rule.(map[string]any)["ports"].([]any) {
					out[key] = append(out[key], p.(map[string]any)["port"].(float64))
				}
			}
		}
	}
	return out
}

// TestAdapterOnReservedPort: an adapter DittoFS reports on a port another
// child of the hook's exposes on the pod (the API's, the metrics', the
// portmapper's) gets no Service and no NetworkPolicy, its existing ones go
// (both at once: the policy admits everyone to the API port), AdaptersReady
// says why (AdapterPortReserved) and an Event records it once; the other
// adapters go on. Before, an adapter reported on 8080 got a LoadBalancer
// Service and a policy admitting everyone to 8080: the control-plane API
// went public, whatever networkPolicy.apiFrom said.
func TestAdapterOnReservedPort(t *testing.T) {
	metrics := WithSpecField("metrics", map[string]any{"enabled": true, "port": 9090})
	portmapper := WithSpecField("adapterServices", map[string]any{"overrides": map[string]any{"nfs": map[string]any{"portmapper": true}}})
	for _, c := range []struct {
		name     string
		mods     []Modifier
		adapters []adapter
		refused  string
		port     float64
	}{
		{"API port", nil, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 8080}}, "smb", 8080},
		{"metrics port", []Modifier{metrics}, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 9090}}, "smb", 9090},
		{"portmapper's port", []Modifier{portmapper}, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 10111}}, "smb", 10111},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := prepare(t, Steady(c.mods...).JSON())
			o := listedJSON(c.adapters)(s)
			resp := s.Desired(o, now, hook.NewSeededSecretSource("k"))
			children := childrenOf(t, resp)
			for _, key := range []string{"Service/demo-adapter-" + c.refused, "NetworkPolicy/demo-adapter-" + c.refused} {
				if children[key] != nil {
					t.Errorf("%s is answered: %v", key, children[key]["spec"])
				}
			}
			for key, ports := range exposedPorts(t, resp) {
				if key == "Service/demo-api" || key == "Service/demo-headless" || key == "NetworkPolicy/demo-baseline" || key == "Service/demo-metrics" {
					continue
				}
				for _, p := range ports {
					if p == c.port && !(key == "Service/demo-adapter-nfs" && p == 10111) && !(key == "NetworkPolicy/demo-adapter-nfs" && p == 10111) {
						t.Errorf("%s exposes the reserved port %v", key, p)
					}
				}
			}
			if children["Service/demo-adapter-nfs"] == nil || children["NetworkPolicy/demo-adapter-nfs"] == nil {
				t.Error("the other adapter, nfs, lost its Service or policy")
			}
			ready := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAdaptersReady)
			if ready == nil || ready.Reason != hook.ReasonAdapterPortReserved || !strings.Contains(ready.Message, c.refused) {
				t.Errorf("AdaptersReady = %+v, want AdapterPortReserved naming %s", ready, c.refused)
			}
			evs := s.Events(o, resp)
			if !slices.ContainsFunc(evs, func(e hook.Event) bool { return e.Reason == hook.EventAdapterPortReserved }) {
				t.Errorf("Events %v lack %s", summaries(evs), hook.EventAdapterPortReserved)
			}
		})
	}
}

// TestOtherNamespacesIgnored: a related object or an observed child whose
// metadata.namespace is not the parent's is ignored, as if absent: its
// password is never sent to DittoFS, its CA never trusted, its data never
// answered back. (Metacontroller v4.10.2 and older handed over same-named
// Secrets of other namespaces; a forged request can hold anything.)
func TestOtherNamespacesIgnored(t *testing.T) {
	elsewhere := func(section, name string) Modifier {
		return func(r *Request) {
			obj := r.Tree()[section].(map[string]any)[hook.KeySecret].(map[string]any)[name].(map[string]any)
			obj["metadata"].(map[string]any)["namespace"] = "victim"
		}
	}
	t.Run("the admin password's Secret", func(t *testing.T) {
		s := prepare(t, Steady(elsewhere("related", "demo-admin-password")).JSON())
		if s.Plan().Admin != nil {
			t.Error("the plan carries an administrator password read from another namespace")
		}
		resp := s.Desired(s.ObservePoll(nil, noAdmin, api), now, hook.NewSeededSecretSource("k"))
		if c := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAuthenticated); c == nil || c.Reason != hook.ReasonAdminSecretMissing {
			t.Errorf("Authenticated = %+v, want AdminSecretMissing", c)
		}
	})
	t.Run("the API's certificate Secret", func(t *testing.T) {
		s := prepare(t, Steady(WithSpecField("controlPlane", tlsSpec), certSecret, elsewhere("related", "demo-tls")).JSON())
		if p := s.Plan(); p.Contact || p.Why.Reason != hook.ReasonTLSSecretMissing {
			t.Errorf("plan %+v, want no contact, TLSSecretMissing", p)
		}
	})
	t.Run("an observed Secret child", func(t *testing.T) {
		s := prepare(t, Steady(elsewhere("children", "demo-operator-credentials")).JSON())
		if p := s.Plan(); p.Contact || p.Why.Reason != hook.ReasonWaitingForCredentials {
			t.Errorf("plan %+v, want no contact, WaitingForCredentials", p)
		}
		resp := s.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k"))
		data := childrenOf(t, resp)["Secret/demo-operator-credentials"]["data"].(map[string]any)
		if data["password"] == OperatorSecret()["data"].(map[string]any)["password"] {
			t.Error("the answer repeats the other namespace's password")
		}
	})
}
