package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

func newTestServer(t *testing.T, o server.Options) *httptest.Server {
	t.Helper()
	if o.Secrets == nil {
		o.Secrets = hook.NewSeededSecretSource("server-test")
	}
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func captured(t *testing.T, name string) string {
	t.Helper()
	return string(hooktest.Captured(name).JSON())
}

// mutate returns a captured request with a change.
func mutate(t *testing.T, name string, change func(map[string]any)) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(captured(t, name)), &r); err != nil {
		t.Fatal(err)
	}
	change(r)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBadInput: every request the hook cannot understand gets a 4xx with a
// JSON body naming the problem, never a 200 (which could delete children).
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	first := captured(t, "sync-first.json")
	otherKind := mutate(t, "sync-first.json", func(r map[string]any) { r["parent"].(map[string]any)["kind"] = "Pod" })
	miskeyed := mutate(t, "sync-children-created.json", func(r map[string]any) {
		cms := r["children"].(map[string]any)["ConfigMap.v1"].(map[string]any)
		cms["wrong-name"] = cms["demo-config"]
		delete(cms, "demo-config")
	})
	childrenList := mutate(t, "sync-first.json", func(r map[string]any) { r["children"] = []any{} })
	badNamespace := mutate(t, "sync-first.json", func(r map[string]any) {
		r["parent"].(map[string]any)["metadata"].(map[string]any)["namespace"] = "ns@127.0.0.1:19999/#"
	})
	badName := mutate(t, "sync-first.json", func(r map[string]any) {
		r["parent"].(map[string]any)["metadata"].(map[string]any)["name"] = "demo@127.0.0.1:19999/#"
	})
	// Hook version v2: the controller says so, and the keys must follow.
	v2 := func(r map[string]any) {
		for _, h := range []string{"sync", "finalize", "customize"} {
			r["controller"].(map[string]any)["spec"].(map[string]any)["hooks"].(map[string]any)[h].(map[string]any)["version"] = "v2"
		}
	}
	v1KeysUnderV2 := mutate(t, "sync-children-created.json", v2)
	v2KeysUnderV1 := mutate(t, "sync-children-created.json", func(r map[string]any) {
		cms := r["children"].(map[string]any)["ConfigMap.v1"].(map[string]any)
		cms["default/demo-config"] = cms["demo-config"]
		delete(cms, "demo-config")
	})
	filedTwice := mutate(t, "sync-children-created.json", func(r map[string]any) {
		v2(r)
		children := r["children"].(map[string]any)
		for key, objs := range children {
			filed := map[string]any{}
			for n, o := range objs.(map[string]any) {
				filed["default/"+n] = o
			}
			children[key] = filed
		}
		cms := r["children"].(map[string]any)["ConfigMap.v1"].(map[string]any)
		var o map[string]any
		b, _ := json.Marshal(cms["default/demo-config"])
		_ = json.Unmarshal(b, &o)
		delete(o["metadata"].(map[string]any), "namespace")
		cms["demo-config"] = o
	})
	v3 := mutate(t, "sync-first.json", func(r map[string]any) {
		r["controller"].(map[string]any)["spec"].(map[string]any)["hooks"].(map[string]any)["sync"].(map[string]any)["version"] = "v3"
	})
	notObject := mutate(t, "sync-first.json", func(r map[string]any) {
		r["children"].(map[string]any)["Secret.v1"] = map[string]any{"x": 42}
	})
	cases := []struct {
		name, path, contentType, body string
		code                          int
		want                          string
	}{
		{"not JSON", "/sync", "application/json", "{not json", 400, "not valid JSON"},
		{"empty body", "/sync", "application/json", "", 400, "empty body"},
		{"wrong content type", "/sync", "text/plain", first, 415, "application/json"},
		{"no parent", "/sync", "application/json", `{"children":{}}`, 400, "parent: missing"},
		{"parent of another kind", "/sync", "application/json", otherKind, 400, "this hook serves dittofs.dittofs.com/v1alpha1 DittoServer only"},
		{"children not a map", "/sync", "application/json", childrenList, 400, "children"},
		{"children missing", "/sync", "application/json", `{"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":"a","namespace":"b","uid":"c"}}}`, 400, "children: missing"},
		{"child filed under another name", "/sync", "application/json", miskeyed, 400, `filed under "wrong-name" but is "demo-config"`},
		{"v2 child filed under its name alone", "/sync", "application/json", v1KeysUnderV2, 400, `filed under "demo-config" but is "default/demo-config" (hook version v2`},
		{"v1 child filed under namespace/name", "/sync", "application/json", v2KeysUnderV1, 400, `filed under "default/demo-config" but is "demo-config" (hook version v1`},
		{"v2 child filed twice", "/sync", "application/json", filedTwice, 400, `"demo-config" is filed twice`},
		{"unknown hook version", "/sync", "application/json", v3, 400, "controller.spec.hooks.sync.version: is neither v1 nor v2"},
		{"customize, unknown hook version", "/customize", "application/json", v3, 400, "controller.spec.hooks.sync.version"},
		{"child not an object", "/sync", "application/json", notObject, 400, "not a Kubernetes object"},
		{"namespace not a DNS label", "/sync", "application/json", badNamespace, 400, "parent.metadata.namespace: is not a DNS-1123 label"},
		{"name not a DNS subdomain", "/sync", "application/json", badName, 400, "parent.metadata.name: is not a DNS-1123 subdomain"},
		{"customize, namespace not a DNS label", "/customize", "application/json", badNamespace, 400, "parent.metadata.namespace"},
		{"trailing data", "/sync", "application/json", first + "{}", 400, "trailing data"},
		{"too large", "/sync", "application/json", `{"controller":"` + strings.Repeat("x", server.MaxBodyBytes) + `"}`, 413, "larger than"},
		{"customize without parent", "/customize", "application/json", `{}`, 400, "parent: missing"},
		{"GET on sync", "/sync", "", "", 405, "not allowed"},
		{"unknown path", "/nope", "application/json", "{}", 404, "no such endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := http.MethodPost
			if c.code == 405 {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, ts.URL+c.path, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != c.code || !strings.Contains(body.Error, c.want) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body.Error, c.code, c.want)
			}
		})
	}
}

// TestUnknownKeysIgnored: Metacontroller may add request fields.
func TestUnknownKeysIgnored(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	body := mutate(t, "sync-first.json", func(r map[string]any) { r["futureField"] = map[string]any{"a": 1} })
	resp, err := http.Post(ts.URL+"/sync", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestBearerToken: with a token configured, a wrong or missing one gets 401
// and the right one 200; health endpoints stay open for the kubelet.
func TestBearerToken(t *testing.T) {
	ts := newTestServer(t, server.Options{AuthToken: func() string { return "s3cret-token" }})
	for _, c := range []struct {
		name, header string
		code         int
	}{{"missing", "", 401}, {"wrong", "Bearer nope", 401}, {"basic", "Basic czNjcmV0LXRva2Vu", 401}, {"right", "Bearer s3cret-token", 200}} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/customize", strings.NewReader(captured(t, "customize-request.json")))
			req.Header.Set("Content-Type", "application/json")
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("got %d, want %d", resp.StatusCode, c.code)
			}
		})
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz behind the token: %d", resp.StatusCode)
	}
}

// TestCustomize: the related Secret is asked for, in the parent's
// namespace, only when the spec names one.
func TestCustomize(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	post := func(body string) string {
		resp, err := http.Post(ts.URL+"/customize", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return string(out)
	}
	req := captured(t, "customize-request.json")
	if got, want := post(req), `{"relatedResources":[{"apiVersion":"v1","resource":"secrets","namespace":"default","names":["demo-admin-password"]}]}`; got != want {
		t.Fatalf("with passwordSecretRef: got %s, want %s", got, want)
	}
	var c map[string]any
	_ = json.Unmarshal([]byte(req), &c)
	spec := c["parent"].(map[string]any)["spec"].(map[string]any)
	delete(spec, "identity")
	b, _ := json.Marshal(c)
	if got, want := post(string(b)), `{"relatedResources":[]}`; got != want {
		t.Fatalf("without passwordSecretRef: got %s, want %s", got, want)
	}
}

// blockingTransport holds every DittoFS call until release is closed.
type blockingTransport struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-r.Context().Done():
	}
	return nil, r.Context().Err()
}

// TestThrottle: hook calls beyond --max-concurrent-syncs or
// --max-sync-bytes are answered 429 with Retry-After, before their body is
// read into memory; /healthz and /readyz never wait.
func TestThrottle(t *testing.T) {
	steady := hooktest.Steady().JSON()
	post := func(url, body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct {
		name   string
		opts   server.Options
		second string
	}{
		{"count", server.Options{MaxConcurrentSyncs: 1}, captured(t, "sync-first.json")},
		{"bytes", server.Options{MaxConcurrentSyncs: 10, MaxSyncBytes: int64(len(steady)) + 1000}, captured(t, "sync-first.json")},
	} {
		t.Run(c.name, func(t *testing.T) {
			dfs := &blockingTransport{entered: make(chan struct{}, 1), release: make(chan struct{})}
			c.opts.HTTPClient = &http.Client{Transport: dfs}
			c.opts.Timeout = 10 * time.Second
			ts := newTestServer(t, c.opts)
			first := make(chan int)
			go func() {
				resp, _ := post(ts.URL+"/sync", string(steady))
				first <- resp.StatusCode
			}()
			<-dfs.entered // the first sync is waiting for DittoFS
			resp, body := post(ts.URL+"/sync", c.second)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "retry") {
				t.Errorf("second sync: %d Retry-After %q %s, want 429 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			for _, path := range []string{"/healthz", "/readyz"} {
				r, err := http.Get(ts.URL + path)
				if err != nil || r.StatusCode != 200 {
					t.Errorf("%s while the hook is busy: %v %v", path, r, err)
				}
				if r != nil {
					r.Body.Close()
				}
			}
			close(dfs.release)
			if code := <-first; code != 200 {
				t.Errorf("first sync: %d", code)
			}
			if resp, _ := post(ts.URL+"/sync", c.second); resp.StatusCode != 200 {
				t.Errorf("a sync once the hook is free: %d", resp.StatusCode)
			}
		})
	}
	t.Run("one call larger than the byte bound is admitted alone", func(t *testing.T) {
		ts := newTestServer(t, server.Options{MaxSyncBytes: 10})
		if resp, body := post(ts.URL+"/sync", captured(t, "sync-first.json")); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestPollJudgedOnce: the status, the poll metric and the adapter metric
// tell the same story about one poll. Before, 40 adapter types gave
// AdaptersDiscovered=False InvalidResponse in status while the metrics
// counted a PollSucceeded and 40 adapters; now a list the hook refuses
// counts as InvalidResponse and none of its adapters are counted.
func TestPollJudgedOnce(t *testing.T) {
	var forty []string
	for i := range 40 {
		forty = append(forty, fmt.Sprintf(`{"id":"%d","type":"t%02d","enabled":true,"running":true,"port":%d}`, i, i, 20000+i))
	}
	for _, c := range []struct {
		name, list string
		reason     string
		// adapters is the dittofs_hook_adapters_discovered_total exposition.
		adapters string
	}{
		{"40 adapter types", "[" + strings.Join(forty, ",") + "]", hook.ReasonInvalidResponse, ""},
		{"two types whose children share a name", `[{"id":"a","type":"nfs","enabled":true,"running":true,"port":12049},{"id":"b","type":"nfs-udp","enabled":true,"running":true,"port":2049}]`, hook.ReasonInvalidResponse, ""},
		{"the captured list", string(hooktest.DittoFSBody("adapters-fresh.body")), hook.ReasonPollSucceeded, `
dittofs_hook_adapters_discovered_total{state="running",type="nfs"} 1
dittofs_hook_adapters_discovered_total{state="running",type="smb"} 1
`},
		{"a duplicated type counts once", `[{"id":"a","type":"nfs","enabled":true,"running":true,"port":12049},{"id":"b","type":"nfs","enabled":false,"running":false,"port":2049}]`, hook.ReasonPollSucceeded, `
dittofs_hook_adapters_discovered_total{state="running",type="nfs"} 1
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dfs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/api/v1/auth/login":
					_, _ = w.Write(hooktest.DittoFSBody("login-operator.body"))
				case "/api/v1/adapters":
					_, _ = io.WriteString(w, c.list)
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(dfs.Close)
			port := dfs.Listener.Addr().(*net.TCPAddr).Port
			reg := prometheus.NewRegistry()
			ts := newTestServer(t, server.Options{URLTemplate: "http://127.0.0.1:{{.Port}}", Metrics: server.NewMetrics(reg, nil)})
			body := hooktest.Steady(hooktest.WithSpecField("controlPlane", map[string]any{"port": port})).JSON()
			resp, err := http.Post(ts.URL+"/sync", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var answer hook.SyncResponse
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(answer.Status.Conditions, hook.CondAdaptersDiscovered)
			if cond == nil || cond.Reason != c.reason {
				t.Errorf("AdaptersDiscovered reason %s (%s), want %s", cond.Reason, cond.Message, c.reason)
			}
			polls := fmt.Sprintf("\n# HELP dittofs_hook_adapter_polls_total Adapter list polls by outcome (the AdaptersDiscovered reason).\n# TYPE dittofs_hook_adapter_polls_total counter\ndittofs_hook_adapter_polls_total{reason=%q} 1\n", c.reason)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(polls), "dittofs_hook_adapter_polls_total"); err != nil {
				t.Errorf("the poll metric disagrees with the status: %v", err)
			}
			adapters := ""
			if c.adapters != "" {
				adapters = "\n# HELP dittofs_hook_adapters_discovered_total Adapters reported by successful polls, by type (nfs, smb, other) and state (running, stopped, disabled).\n# TYPE dittofs_hook_adapters_discovered_total counter" + c.adapters
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(adapters), "dittofs_hook_adapters_discovered_total"); err != nil {
				t.Errorf("adapters counted: %v", err)
			}
		})
	}
}
