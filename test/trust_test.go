package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// The trust boundary (issue 11): whoever may create a DittoServer controls
// what answers at its API address. Each test here reproduces one way such a
// server, or such a request, could make the hook misbehave.

// prepareFixture decodes a fixture case's request for the pure core.
func prepareFixture(t *testing.T, name string, change func(map[string]any)) *hook.Input {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "sync", name, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		body = mutateJSON(t, body, change)
	}
	req, err := hook.DecodeSyncRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	in, err := hook.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestConditionMessagesBounded: a condition message is one line of at most
// 1,024 characters whatever the failure says (a 500 with a 40 KB multi-line
// detail made 40 KB messages, beyond the CRD's maxLength of 32,768, so the
// status write was refused).
func TestConditionMessagesBounded(t *testing.T) {
	in := prepareFixture(t, "steady", nil)
	detail := strings.Repeat("line of an error page\r\n\tdeeper\n", 40*1024/32)
	fail := hook.Step{State: hook.Failed, Reason: hook.ReasonAPIError, Message: detail}
	resp := in.Desired(hook.Observation{Auth: hook.Step{State: hook.Succeeded}, Poll: fail}, defaultNow, hook.NewFixedSecretSource("k"))
	c := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAdaptersDiscovered)
	if c == nil || c.Reason != hook.ReasonAPIError {
		t.Fatalf("AdaptersDiscovered = %+v", c)
	}
	for _, c := range resp.Status.Conditions {
		if n := len([]rune(c.Message)); n > 1024 {
			t.Errorf("%s message has %d characters, want at most 1024", c.Type, n)
		}
		if strings.ContainsAny(c.Message, "\r\n\t") {
			t.Errorf("%s message is not one line: %.80q…", c.Type, c.Message)
		}
	}
}

// mutateJSON decodes a JSON object, changes it and encodes it again.
func mutateJSON(t *testing.T, body []byte, change func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
