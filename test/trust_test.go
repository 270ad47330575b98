package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// The trust boundary (issue 11): whoever may create a DittoServer controls
// what answers at its API address. Each test here reproduces one way such a
// server, or such a request, could make the hook misbehave.

// defaultNow is the clock of these tests: shortly after the captured traffic.
var defaultNow = time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC)

// fixtureAPI is the DittoFS address the conditions name.
const fixtureAPI = "http://demo-api.default.svc.cluster.local.:8080"

// refused is a DittoFS that refuses connections.
var refused = &dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: &dittofs.TransportError{Op: "login", Err: syscall.ECONNREFUSED}}

// prepareRequest decodes a built request for the pure core.
func prepareRequest(t *testing.T, r *hooktest.Request) *hook.Sync {
	t.Helper()
	return prepareBody(t, r.JSON())
}

// prepareBody decodes a sync request for the pure core.
func prepareBody(t *testing.T, body []byte) *hook.Sync {
	t.Helper()
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
	in := prepareRequest(t, hooktest.Steady())
	detail := strings.Repeat("line of an error page\r\n\tdeeper\n", 40*1024/32)
	fail := &dittofs.APIError{Op: "list adapters", Status: 500, Message: detail}
	resp := in.Desired(in.ObservePoll(nil, fail, fixtureAPI), defaultNow, hook.NewFixedSecretSource("k"))
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

// TestNamespaceInjection: a parent whose namespace is not a Kubernetes
// namespace name is refused (400, naming the field, not repeating the value)
// before anything else; the hook never builds a URL from it. Before, the
// namespace "ns@127.0.0.1:PORT/#" made the default address
// http://demo-api.ns@127.0.0.1:PORT/#.svc.cluster.local:8080, and the hook
// posted the operator's credentials to 127.0.0.1:PORT.
func TestNamespaceInjection(t *testing.T) {
	var connections atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	// The default address, and a transport that dials loopback IP literals
	// only: a name is never resolved (no DNS query leaves the machine).
	srv, err := server.New(server.Options{Secrets: hook.NewFixedSecretSource("k"), HTTPClient: loopbackOnly()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	body := hooktest.Steady().JSON() // a ready server: the hook would call DittoFS
	evil := "ns@" + ln.Addr().String() + "/#"
	for _, c := range []struct{ field, value string }{
		{"namespace", evil},
		{"namespace", "Default"},
		{"namespace", strings.Repeat("n", 64)},
		{"name", "demo@" + ln.Addr().String() + "/#"},
		{"name", "demo/../../x"},
	} {
		t.Run(c.field+" "+c.value, func(t *testing.T) {
			req := mutateJSON(t, body, func(m map[string]any) {
				m["parent"].(map[string]any)["metadata"].(map[string]any)[c.field] = c.value
			})
			for _, path := range []string{"/sync", "/finalize", "/customize"} {
				resp, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(req))
				if err != nil {
					t.Fatal(err)
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(answer), "parent.metadata."+c.field) {
					t.Errorf("%s: got %d %s, want 400 naming parent.metadata.%s", path, resp.StatusCode, answer, c.field)
				}
				if strings.Contains(string(answer), c.value) {
					t.Errorf("%s: the answer repeats the value: %s", path, answer)
				}
			}
		})
	}
	if n := connections.Load(); n != 0 {
		t.Fatalf("the hook connected %d times to the address named in the namespace", n)
	}
}

// loopbackOnly is an HTTP client that dials loopback IP literals only and
// refuses anything else without resolving it.
func loopbackOnly() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test guard: %s is not a loopback address; not dialled", addr)
		}
		return d.DialContext(ctx, network, addr)
	}}}
}

// recordingTransport records the URLs the hook calls and answers none of
// them (no network, no DNS).
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return nil, errors.New("recorded, not sent")
}

// TestDittoFSAddress: by default the hook calls <name>-api.<namespace>.svc.cluster.local.
// — a fully qualified name (trailing dot), so no search domain inherited
// from the node can answer it — built from its parts, and a
// --dittofs-url-template whose result is not a plain http(s)://host:port is
// refused when the hook starts.
func TestDittoFSAddress(t *testing.T) {
	rec := &recordingTransport{}
	srv, err := server.New(server.Options{Secrets: hook.NewFixedSecretSource("k"), HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	body := hooktest.Steady().JSON()
	resp, err := http.Post(ts.URL+"/sync", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rec.urls) == 0 || !strings.HasPrefix(rec.urls[0], "http://demo-api.default.svc.cluster.local.:8080/api/v1/") {
		t.Fatalf("the hook called %v, want http://demo-api.default.svc.cluster.local.:8080/api/v1/…", rec.urls)
	}
	for _, tmpl := range []string{
		"http://user:pass@{{.Name}}-api.{{.Namespace}}:{{.Port}}",
		"http://{{.Name}}-api.{{.Namespace}}:{{.Port}}/prefix",
		"http://{{.Name}}-api.{{.Namespace}}:{{.Port}}?x=1",
		"http://{{.Name}}-api.{{.Namespace}}:{{.Port}}#frag",
		"ftp://{{.Name}}-api.{{.Namespace}}:{{.Port}}",
		"{{.Name}}-api.{{.Namespace}}:{{.Port}}",
		"http://:{{.Port}}",
	} {
		if _, err := server.New(server.Options{Secrets: hook.NewFixedSecretSource("k"), URLTemplate: tmpl}); err == nil {
			t.Errorf("template %q accepted", tmpl)
		}
	}
	for _, tmpl := range []string{"http://127.0.0.1:{{.Port}}", "https://{{.Name}}-api.{{.Namespace}}.svc.example.org.:{{.Port}}/"} {
		if _, err := server.New(server.Options{Secrets: hook.NewFixedSecretSource("k"), URLTemplate: tmpl}); err != nil {
			t.Errorf("template %q refused: %v", tmpl, err)
		}
	}
}

// TestPoliciesDisabledRemovesEveryPolicy: with networkPolicy.enabled false,
// every NetworkPolicy the hook made goes in the same answer, whatever the
// poll did. Before, the adapter policies stayed while polls failed: they
// still selected the pod and admitted only adapter ports, so the API port
// was closed to everyone and the poll could never succeed again.
func TestPoliciesDisabledRemovesEveryPolicy(t *testing.T) {
	in := prepareRequest(t, hooktest.Steady(hooktest.WithSpecField("networkPolicy", map[string]any{"enabled": false})))
	secrets := hook.NewFixedSecretSource("k")
	for name, o := range map[string]hook.Observation{
		"failed poll":     in.ObservePoll(nil, refused, fixtureAPI),
		"not polled":      {},
		"successful poll": in.ObservePoll(nil, nil, fixtureAPI),
	} {
		resp := in.Desired(o, defaultNow, secrets)
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		children := harness.ChildNames(t, b)
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
// type equal to another type's hashed form took its Service.
func TestDuplicateChildNames(t *testing.T) {
	udp := hooktest.WithSpecField("adapterServices", map[string]any{"overrides": map[string]any{"nfs": map[string]any{"udp": true}}})
	adapter := func(typ string, port int32) dittofs.Adapter {
		return dittofs.Adapter{ID: typ, Type: typ, Enabled: true, Running: true, Port: port}
	}
	for name, c := range map[string]struct {
		change   hooktest.Modifier
		adapters []dittofs.Adapter
	}{
		"nfs-udp next to nfs with udp":     {udp, []dittofs.Adapter{adapter("nfs", 12049), adapter("nfs-udp", 2049), adapter("smb", 1445)}},
		"nfs-udp next to nfs":              {nil, []dittofs.Adapter{adapter("nfs", 12049), adapter("nfs-udp", 2049), adapter("smb", 1445)}},
		"a raw type equal to a hashed one": {nil, []dittofs.Adapter{adapter("nfs", 12049), adapter("WebDAV", 8443), adapter("webdav-d92634", 8444), adapter("smb", 1445)}},
	} {
		t.Run(name, func(t *testing.T) {
			req := hooktest.Steady()
			if c.change != nil {
				req.With(c.change)
			}
			in := prepareRequest(t, req)
			secrets := hook.NewFixedSecretSource("k")
			resp := in.Desired(in.ObservePoll(c.adapters, nil, fixtureAPI), defaultNow, secrets)
			cond := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAdaptersDiscovered)
			if cond.Reason != hook.ReasonInvalidResponse {
				t.Errorf("AdaptersDiscovered %s %s: %s, want InvalidResponse", cond.Status, cond.Reason, cond.Message)
			}
			got, _ := json.Marshal(resp.Children)
			kept, _ := json.Marshal(in.Desired(in.ObservePoll(nil, refused, fixtureAPI), defaultNow, secrets).Children)
			if string(got) != string(kept) {
				t.Errorf("the children differ from a failed poll's, which keeps the last known adapters")
			}
			var children []struct {
				Kind     string
				Metadata struct{ Name string }
			}
			_ = json.Unmarshal(got, &children)
			seen := map[string]bool{}
			for _, ch := range children {
				if k := ch.Kind + "/" + ch.Metadata.Name; seen[k] {
					t.Errorf("two children named %s", k)
				} else {
					seen[k] = true
				}
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
	resp := in.Desired(hook.Observation{}, defaultNow, hook.NewFixedSecretSource("k"))
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

// TestDatabaseChangeRefused: changing database.type, database.sqlite.path
// or the Postgres Secret starts DittoFS on another control plane, without
// its users, shares and adapters. The CRD refuses such a change unless
// database.allowControlPlaneReset is true (the e2e suite checks the rule on
// a real API server); when one slips through, the hook answers InvalidSpec
// and keeps every child, judging by what the observed ConfigMap and
// StatefulSet say the running server uses.
func TestDatabaseChangeRefused(t *testing.T) {
	secrets := hook.NewFixedSecretSource("k")
	setDB := func(db map[string]any) func(map[string]any) {
		return func(m map[string]any) { m["parent"].(map[string]any)["spec"].(map[string]any)["database"] = db }
	}
	// observe makes the children the hook answers for a spec the observed
	// ones of the next request, as Metacontroller would apply them.
	observe := func(t *testing.T, db map[string]any) []byte {
		body := mutateJSON(t, hooktest.Steady().JSON(), setDB(db))
		resp := prepareBody(t, body).Desired(hook.Observation{}, defaultNow, secrets)
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
			in := prepareBody(t, mutateJSON(t, observed, setDB(c.to)))
			resp := in.Desired(hook.Observation{}, defaultNow, secrets)
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
			kept := harness.ChildNames(t, mustJSON(t, resp))
			for _, n := range []string{"StatefulSet/demo", "ConfigMap/demo-config", "Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs"} {
				if !kept[n] {
					t.Errorf("%s not kept", n)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
