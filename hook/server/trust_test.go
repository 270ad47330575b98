package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// The trust boundary (issue 11): whoever may create a DittoServer controls
// what answers at its API address. Each test here reproduces one way such a
// server, or such a request, could make the hook misbehave.

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
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), HTTPClient: loopbackOnly()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	evil := "ns@" + ln.Addr().String() + "/#"
	for _, c := range []struct{ field, value string }{
		{"namespace", evil},
		{"namespace", "Default"},
		{"namespace", strings.Repeat("n", 64)},
		{"name", "demo@" + ln.Addr().String() + "/#"},
		{"name", "demo/../../x"},
	} {
		t.Run(c.field+" "+c.value, func(t *testing.T) {
			// A ready server: the hook would call DittoFS.
			req := hooktest.Steady(hooktest.WithParentEdit(func(p map[string]any) {
				p["metadata"].(map[string]any)[c.field] = c.value
			})).JSON()
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
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), HTTPClient: &http.Client{Transport: rec}})
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
		if _, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: tmpl}); err == nil {
			t.Errorf("template %q accepted", tmpl)
		}
	}
	for _, tmpl := range []string{"http://127.0.0.1:{{.Port}}", "https://{{.Name}}-api.{{.Namespace}}.svc.example.org.:{{.Port}}/"} {
		if _, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: tmpl}); err != nil {
			t.Errorf("template %q refused: %v", tmpl, err)
		}
	}
}
