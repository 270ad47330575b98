package hook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

func newTestServer(t *testing.T, o hook.Options) *httptest.Server {
	t.Helper()
	if o.Secrets == nil {
		o.Secrets = hook.NewFixedSecretSource("server-test")
	}
	srv, err := hook.NewServer(o)
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
	ts := newTestServer(t, hook.Options{})
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
		{"child filed under another name", "/sync", "application/json", miskeyed, 400, `filed under "wrong-name" but named "demo-config"`},
		{"child not an object", "/sync", "application/json", notObject, 400, "not a Kubernetes object"},
		{"namespace not a DNS label", "/sync", "application/json", badNamespace, 400, "parent.metadata.namespace: is not a DNS-1123 label"},
		{"name not a DNS subdomain", "/sync", "application/json", badName, 400, "parent.metadata.name: is not a DNS-1123 subdomain"},
		{"customize, namespace not a DNS label", "/customize", "application/json", badNamespace, 400, "parent.metadata.namespace"},
		{"trailing data", "/sync", "application/json", first + "{}", 400, "trailing data"},
		{"too large", "/sync", "application/json", `{"controller":"` + strings.Repeat("x", hook.MaxBodyBytes) + `"}`, 413, "larger than"},
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
	ts := newTestServer(t, hook.Options{})
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
	ts := newTestServer(t, hook.Options{AuthToken: func() string { return "s3cret-token" }})
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

// TestCustomize: the related Secret is asked for only when the spec names one.
func TestCustomize(t *testing.T) {
	ts := newTestServer(t, hook.Options{})
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
	if got, want := post(req), `{"relatedResources":[{"apiVersion":"v1","resource":"secrets","names":["demo-admin-password"]}]}`; got != want {
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
		opts   hook.Options
		second string
	}{
		{"count", hook.Options{MaxConcurrentSyncs: 1}, captured(t, "sync-first.json")},
		{"bytes", hook.Options{MaxConcurrentSyncs: 10, MaxSyncBytes: int64(len(steady)) + 1000}, captured(t, "sync-first.json")},
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
		ts := newTestServer(t, hook.Options{MaxSyncBytes: 10})
		if resp, body := post(ts.URL+"/sync", captured(t, "sync-first.json")); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}
