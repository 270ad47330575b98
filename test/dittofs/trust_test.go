package dittofs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// The trust boundary (issue 11): whoever may create a DittoServer controls
// what answers at its API address. Each test here reproduces one way such a
// server, or such a request, could make the hook misbehave.

// TestOperatorAccountConflict runs the hook against the real DittoFS in
// which a person made a k8s-operator of their own (role user, then admin):
// the hook says so (OperatorAccountConflict, with what to do), never lists
// adapters with it, never changes its password, and finalize leaves it.
func TestOperatorAccountConflict(t *testing.T) {
	for _, role := range []string{"user", "admin"} {
		t.Run(role, func(t *testing.T) {
			// Each sync logs in twice (DittoFS checks a bcrypt hash each
			// time): a deadline that a busy machine cannot miss.
			r := newDiscoveryRigTimeout(t, nil, 5*time.Second)
			l := r.loop
			r.start(t)
			const persons = "a-person's-own-password-42"
			admin := r.dfs.AdminToken()
			r.dfs.Admin(admin, http.MethodPost, "/api/v1/users", map[string]string{"username": "k8s-operator", "password": persons, "role": role}, http.StatusCreated, nil)
			r.proxy.ResetCalls()
			l.Sync()
			l.Sync()
			r.expectCondition(t, hook.CondAuthenticated, "False", hook.ReasonOperatorAccountConflict)
			r.expectCondition(t, hook.CondAdaptersDiscovered, "False", hook.ReasonOperatorAccountConflict)
			r.expectCondition(t, hook.CondReady, "False", hook.ReasonOperatorAccountConflict)
			_, _, msg := l.Condition(hook.CondAuthenticated)
			for _, want := range []string{"k8s-operator", "role " + role, "delete"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if n := r.proxy.Calls("GET /api/v1/adapters"); n != 0 {
				t.Errorf("the hook listed adapters %d times", n)
			}
			if n := r.proxy.Calls("POST /api/v1/users/k8s-operator/password"); n != 0 {
				t.Errorf("the hook reset the person's password %d times", n)
			}
			if code, _ := r.dfs.Call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "k8s-operator", "password": persons}); code != http.StatusOK {
				t.Errorf("the person's password no longer works: %d", code)
			}
			l.Finalizing = true
			l.Parent["metadata"].(map[string]any)["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
			if resp := l.Sync(); !resp.Finalized {
				t.Errorf("not finalized, although there is no account of the hook's to remove: %s", resp.Raw)
			}
			if n := r.proxy.Calls("DELETE /api/v1/users"); n != 0 {
				t.Errorf("finalize deleted a user %d times", n)
			}
			if code, body := r.dfs.Call(admin, http.MethodGet, "/api/v1/users/k8s-operator", nil); code != http.StatusOK || !strings.Contains(string(body), `"role":"`+role+`"`) {
				t.Errorf("the person's account changed: %d %s", code, body)
			}
		})
	}
}
