package hook_test

import (
	"crypto/rand"
	"encoding/json"
	"testing"

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
