package hook_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// The trust boundary (issue 11): whoever may create a DittoServer controls
// what answers at its API address. Each test here reproduces one way such a
// server, or such a request, could make the hook misbehave.

// prepareRequest decodes a built request for the pure core.
func prepareRequest(t *testing.T, r *hooktest.Request) *hook.Sync {
	t.Helper()
	return prepare(t, r.JSON())
}

// TestConditionMessagesBounded: a condition message is one line of at most
// 1,024 characters whatever the failure or the spec says (a 500 with a 40 KB
// multi-line detail made 40 KB messages, beyond the CRD's maxLength of
// 32,768, so the status write was refused). The spec field's message is
// longer than the bound before it is cut, so the bound itself is tested:
// raise it and the message outgrows it.
func TestConditionMessagesBounded(t *testing.T) {
	long := strings.Repeat("DEBUG\r\n\t", 5000/7)
	for _, c := range []struct {
		name    string
		request *hooktest.Request
		fail    error
		// cond is the condition that carries the long text; cut says that
		// it must be cut at the bound (ending in an ellipsis).
		cond, reason string
		cut          bool
	}{
		{"a 40 KB multi-line DittoFS detail", hooktest.Steady(), &dittofs.APIError{Op: "list adapters", Status: 500,
			Message: strings.Repeat("line of an error page\r\n\tdeeper\n", 40*1024/32)}, hook.CondAdaptersDiscovered, hook.ReasonAPIError, false},
		{"a 5,000-character spec field", hooktest.Steady(hooktest.WithSpecField("logging.level", long)), nil, hook.CondReady, hook.ReasonInvalidSpec, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := prepareRequest(t, c.request)
			o := hook.Observation{}
			if c.fail != nil {
				o = in.ObservePoll(nil, c.fail, api)
			}
			resp := in.Desired(o, now, hook.NewSeededSecretSource("k"))
			got := meta.FindStatusCondition(resp.Status.Conditions, c.cond)
			if got == nil || got.Reason != c.reason {
				t.Fatalf("%s = %+v, want reason %s", c.cond, got, c.reason)
			}
			if n := len([]rune(got.Message)); c.cut && (n != 1024 || !strings.HasSuffix(got.Message, "…")) {
				t.Errorf("%s message has %d characters (%.60q…), want it cut to 1024 ending in …", c.cond, n, got.Message)
			}
			for _, cond := range resp.Status.Conditions {
				if n := len([]rune(cond.Message)); n > 1024 {
					t.Errorf("%s message has %d characters, want at most 1024", cond.Type, n)
				}
				if strings.ContainsAny(cond.Message, "\r\n\t") {
					t.Errorf("%s message is not one line: %.80q…", cond.Type, cond.Message)
				}
			}
		})
	}
}

// TestPoliciesDisabledRemovesEveryPolicy: with networkPolicy.enabled false,
// every NetworkPolicy the hook made goes in the same answer, whatever the
// poll did. Before, the adapter policies stayed while polls failed: they
// still selected the pod and admitted only adapter ports, so the API port
// was closed to everyone and the poll could never succeed again.
func TestPoliciesDisabledRemovesEveryPolicy(t *testing.T) {
	in := prepareRequest(t, hooktest.Steady(hooktest.WithSpecField("networkPolicy", map[string]any{"enabled": false})))
	secrets := hook.NewSeededSecretSource("k")
	for name, o := range map[string]hook.Observation{
		"failed poll":     in.ObservePoll(nil, refused, api),
		"not polled":      {},
		"successful poll": in.ObservePoll(nil, nil, api),
	} {
		resp := in.Desired(o, now, secrets)
		children := childNames(t, resp)
		for child := range children {
			if strings.HasPrefix(child, "NetworkPolicy/") {
				t.Errorf("%s: the answer keeps %s although networkPolicy.enabled is false", name, child)
			}
		}
		for _, svc := range []string{"Service/demo-adapter-nfs", "Service/demo-adapter-smb"} {
			if name != "successful poll" && !children[svc] {
				t.Errorf("%s: the answer lost %s", name, svc)
			}
		}
	}
}

// TestDuplicateChildNames: adapters whose children would share a name are
// a malformed answer (keep the last known adapters, InvalidResponse).
// Metacontroller keys desired children by name: before, one silently
// replaced the other — type "nfs-udp" took the NFS UDP Service's name, a raw
// type equal to another type's hashed form took its Service. What the answer
// keeps is read from the request: Steady's last known adapters are nfs on
// 12049 and smb on 1445, each with its Service and policy observed.
func TestDuplicateChildNames(t *testing.T) {
	udp := hooktest.WithSpecField("adapterServices", map[string]any{"overrides": map[string]any{"nfs": map[string]any{"udp": true}}})
	adapter := func(typ string, port int32) dittofs.Adapter {
		return dittofs.Adapter{ID: typ, Type: typ, Enabled: true, Running: true, Port: port}
	}
	lastKnown := []string{"NetworkPolicy/demo-adapter-nfs", "NetworkPolicy/demo-adapter-smb", "Service/demo-adapter-nfs", "Service/demo-adapter-smb"}
	for name, c := range map[string]struct {
		change   hooktest.Modifier
		adapters []dittofs.Adapter
		// want are the adapter children: the last known ones, and nfs's
		// UDP Service when the spec asks for it.
		want []string
	}{
		"nfs-udp next to nfs with udp": {udp, []dittofs.Adapter{adapter("nfs", 12049), adapter("nfs-udp", 2049), adapter("smb", 1445)},
			append(slices.Clone(lastKnown), "Service/demo-adapter-nfs-udp")},
		"nfs-udp next to nfs":              {nil, []dittofs.Adapter{adapter("nfs", 12049), adapter("nfs-udp", 2049), adapter("smb", 1445)}, lastKnown},
		"a raw type equal to a hashed one": {nil, []dittofs.Adapter{adapter("nfs", 12049), adapter("WebDAV", 8443), adapter("webdav-d92634", 8444), adapter("smb", 1445)}, lastKnown},
	} {
		t.Run(name, func(t *testing.T) {
			req := hooktest.Steady()
			if c.change != nil {
				req.With(c.change)
			}
			in := prepareRequest(t, req)
			resp := in.Desired(in.ObservePoll(c.adapters, nil, api), now, hook.NewSeededSecretSource("k"))
			cond := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAdaptersDiscovered)
			if cond.Reason != hook.ReasonInvalidResponse {
				t.Errorf("AdaptersDiscovered %s %s: %s, want InvalidResponse", cond.Status, cond.Reason, cond.Message)
			}
			children := childNames(t, resp) // fails on a name given twice
			for _, n := range observedChildren(t, req.JSON()) {
				if !children[n] {
					t.Errorf("the observed %s was dropped", n)
				}
			}
			slices.Sort(c.want)
			if got := adapterChildren(children, "demo"); !slices.Equal(got, c.want) {
				t.Errorf("adapter children %v, want the last known %v", got, c.want)
			}
			ports := map[string]int32{}
			for _, a := range resp.Status.Adapters {
				ports[a.Type] = a.Port
			}
			if want := map[string]int32{"nfs": 12049, "smb": 1445}; !maps.Equal(ports, want) {
				t.Errorf("status.adapters %v, want the last known %v", ports, want)
			}
		})
	}
}

// TestAdminUsernameMustBeAdmin: DittoFS v0.29.0 always creates its
// bootstrap administrator as "admin", whatever its config says. Before, the
// hook logged in with the configured name (and failed), and changing the
// field rewrote config.yaml, restarting the pod. Now another value is
// InvalidSpec, every child kept as it is.
func TestAdminUsernameMustBeAdmin(t *testing.T) {
	in := prepareRequest(t, hooktest.Steady(hooktest.WithSpecField("identity.admin.username", "root")))
	if p := in.Plan(); p.Contact {
		t.Errorf("the hook would call DittoFS (as %v)", p.Admin)
	}
	resp := in.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k"))
	ready := meta.FindStatusCondition(resp.Status.Conditions, hook.CondReady)
	if ready.Reason != hook.ReasonInvalidSpec || !strings.Contains(ready.Message, "spec.identity.admin.username") || !strings.Contains(ready.Message, `"admin"`) {
		t.Fatalf("Ready %s %s: %s; want InvalidSpec naming spec.identity.admin.username and admin", ready.Status, ready.Reason, ready.Message)
	}
	for _, c := range resp.Children {
		b, _ := json.Marshal(c)
		if strings.Contains(string(b), "username: root") {
			t.Fatalf("a child carries the new user name: %s", b)
		}
	}
}

// TestDatabaseChangeRefused: changing database.type, database.sqlite.path
// or the Postgres Secret starts DittoFS on another control plane, without
// its users, shares and adapters. The CRD refuses such a change unless
// database.allowControlPlaneReset is true (the e2e suite checks the rule on
// a real API server); when one slips through, the hook answers InvalidSpec
// and keeps every child, judging by what the observed ConfigMap and
// StatefulSet say the running server uses.
func TestDatabaseChangeRefused(t *testing.T) {
	secrets := hook.NewSeededSecretSource("k")
	setDB := func(db map[string]any) func(map[string]any) {
		return func(m map[string]any) { m["parent"].(map[string]any)["spec"].(map[string]any)["database"] = db }
	}
	// observe makes the children the hook answers for a spec the observed
	// ones of the next request, as Metacontroller would apply them.
	observe := func(t *testing.T, db map[string]any) []byte {
		body := mutateJSON(t, hooktest.Steady().JSON(), setDB(db))
		resp := prepare(t, body).Desired(hook.Observation{}, now, secrets)
		answer, _ := json.Marshal(resp.Children)
		var children []map[string]any
		_ = json.Unmarshal(answer, &children)
		return mutateJSON(t, body, func(m map[string]any) {
			for _, c := range children {
				key := map[string]string{"StatefulSet": "StatefulSet.apps/v1", "ConfigMap": "ConfigMap.v1"}[c["kind"].(string)]
				if key != "" {
					name := c["metadata"].(map[string]any)["name"].(string)
					m["children"].(map[string]any)[key].(map[string]any)[name] = c
				}
			}
		})
	}
	sqlite := map[string]any{"type": "sqlite"}
	pgA := map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "pg-a"}}
	pgB := map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "pg-b"}}
	otherPath := map[string]any{"type": "sqlite", "sqlite": map[string]any{"path": "/data/controlplane/other.db"}}
	allow := func(db map[string]any) map[string]any {
		out := map[string]any{"allowControlPlaneReset": true}
		for k, v := range db {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		name     string
		from, to map[string]any
		refused  bool
	}{
		{"sqlite to postgres", sqlite, pgA, true},
		{"postgres to sqlite", pgA, sqlite, true},
		{"another sqlite path", sqlite, otherPath, true},
		{"another Postgres Secret", pgA, pgB, true},
		{"sqlite to postgres, allowed", sqlite, allow(pgA), false},
		{"another Postgres Secret, allowed", pgA, allow(pgB), false},
		{"no change", pgA, pgA, false},
		{"no database section to the default sqlite", nil, sqlite, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			observed := observe(t, c.from)
			in := prepare(t, mutateJSON(t, observed, setDB(c.to)))
			resp := in.Desired(hook.Observation{}, now, secrets)
			ready := meta.FindStatusCondition(resp.Status.Conditions, hook.CondReady)
			refused := ready.Reason == hook.ReasonInvalidSpec
			if refused != c.refused {
				t.Fatalf("Ready %s: %s; want refused=%t", ready.Reason, ready.Message, c.refused)
			}
			if !refused {
				return
			}
			for _, want := range []string{"spec.database", "allowControlPlaneReset"} {
				if !strings.Contains(ready.Message, want) {
					t.Errorf("message %q does not say %q", ready.Message, want)
				}
			}
			if p := in.Plan(); p.Contact {
				t.Error("the hook would call DittoFS")
			}
			kept := childNames(t, resp)
			for _, n := range []string{"StatefulSet/demo", "ConfigMap/demo-config", "Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs"} {
				if !kept[n] {
					t.Errorf("%s not kept", n)
				}
			}
		})
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
