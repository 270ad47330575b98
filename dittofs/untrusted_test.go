package dittofs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

func newClient(t *testing.T, url string) *dittofs.Client {
	t.Helper()
	client, err := dittofs.NewClient(url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return c
}

// Whoever creates a DittoServer chooses the image that answers at its API
// address. These tests play such a server.

// TestRedirectsNotFollowed: a 3xx is an error naming only its status. The
// redirect target receives nothing: neither the operator's token (a 302 on
// the adapter list) nor its password (a 307 on login, which would re-post
// the body).
func TestRedirectsNotFollowed(t *testing.T) {
	var trapped atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		_, _ = w.Write([]byte(`[{"id":"x","type":"nfs","enabled":true,"running":true,"port":1}]`))
	}))
	defer trap.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", trap.URL+"/secret-sink")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(code)
			_, _ = w.Write([]byte("<html>moved to the sink</html>"))
		}))
		// The client the hook passes follows redirects by default; the
		// DittoFS client must not.
		c, err := dittofs.NewClient(evil.URL, &http.Client{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, listErr := c.ListAdapters(ctx(t), "operator-token")
		_, loginErr := c.Login(ctx(t), "k8s-operator", "operator-password")
		evil.Close()
		for _, err := range []error{listErr, loginErr} {
			var apiErr *dittofs.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != code {
				t.Fatalf("%d: got %v, want an APIError with status %d", code, err, code)
			}
			if !dittofs.IsRedirect(err) {
				t.Errorf("%d: IsRedirect is false", code)
			}
			for _, leak := range []string{trap.URL, "sink", "html", "moved"} {
				if strings.Contains(err.Error(), leak) || strings.Contains(dittofs.Describe(err), leak) {
					t.Errorf("%d: error %q shows %q from the answer", code, err, leak)
				}
			}
		}
	}
	if n := trapped.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}

// TestAPIErrorMessages: only what DittoFS itself says (a problem+json title
// or detail, or one of its middleware's plain-text sentences) reaches an
// error message, bounded and on one line; any other body is replaced by a
// fixed description of the status.
func TestAPIErrorMessages(t *testing.T) {
	long := strings.Repeat("very long detail\n", 3000)
	cases := []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"problem detail", "application/problem+json", `{"type":"about:blank","title":"Conflict","status":409,"detail":"User already exists"}`, 409, "User already exists"},
		{"problem title only", "application/problem+json", `{"title":"Internal Server Error","status":500}`, 500, "Internal Server Error"},
		{"middleware plain text", "text/plain; charset=utf-8", "Invalid or expired token\n", 401, "Invalid or expired token"},
		{"middleware plain text 403", "text/plain; charset=utf-8", "Admin access required\n", 403, "Admin access required"},
		{"password change required", "text/plain; charset=utf-8", "account \"k8s-operator\" must set a new password before performing other operations; run 'dfsctl user change-password' (as \"k8s-operator\") to set one\n", 403,
			"the account must set a new password before performing other operations"},
		{"html error page", "text/html", "<html><body>Bad gateway from evil.example</body></html>", 502, "HTTP 502: Bad Gateway"},
		{"unknown plain text", "text/plain", "token sk-live-123 was rejected by upstream", 500, "HTTP 500: Internal Server Error"},
		{"JSON that is not a problem", "application/json", `{"error":"see http://169.254.169.254/"}`, 500, "HTTP 500: Internal Server Error"},
		{"problem+json of another shape", "application/problem+json", `{"message":"hello"}`, 500, "HTTP 500: Internal Server Error"},
		{"no body", "", "", 503, "HTTP 503: Service Unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.contentType != "" {
					w.Header().Set("Content-Type", c.contentType)
				}
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl := newClient(t, srv.URL)
			_, err := cl.ListAdapters(ctx(t), "token")
			if got := err.Error(); got != "list adapters: "+c.want && !strings.HasSuffix(got, ": "+c.want) {
				t.Fatalf("got %q, want it to end in %q", got, c.want)
			}
		})
	}
	t.Run("a 40 KB multi-line problem detail", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"title":"Internal Server Error","status":500,"detail":` + quote(long) + `}`))
		}))
		defer srv.Close()
		cl := newClient(t, srv.URL)
		_, err := cl.ListAdapters(ctx(t), "token")
		msg := err.Error()
		if len(msg) > 300 || strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "list adapters: HTTP 500: very long detail very long detail") {
			t.Fatalf("got %d bytes: %.200q", len(msg), msg)
		}
	})
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

// TestDecodeAdaptersRefusesStrangeTypes: an adapter type ends up in Service
// names, labels, status and condition messages. One that no DittoFS would
// report (longer than 63 characters, or with control characters) makes that
// item unusable (its Problem set, its type dropped), never the list, and
// the problem never repeats the type.
func TestDecodeAdaptersRefusesStrangeTypes(t *testing.T) {
	for _, typ := range []string{strings.Repeat("x", 64), "nfs\nforged line", "smb\x00", "\u202enfs"} {
		q, _ := json.Marshal(typ)
		body := `[{"id":"a","type":` + string(q) + `,"enabled":true,"running":true,"port":2049},{"id":"b","type":"nfs","enabled":true,"running":true,"port":12049}]`
		got, err := dittofs.DecodeAdapters([]byte(body))
		if err != nil || len(got) != 2 {
			t.Fatalf("type %q: the whole list refused: %v", typ, err)
		}
		if got[0].Problem == "" || got[0].Type != "" || strings.Contains(got[0].Problem, typ) {
			t.Errorf("type %q: got %+v, want a Problem that does not repeat the type, and no type", typ, got[0])
		}
		if got[1].Problem != "" || got[1].Type != "nfs" {
			t.Errorf("type %q: the other item was not decoded as usual: %+v", typ, got[1])
		}
	}
	for _, typ := range []string{"nfs", "smb", "WebDAV", "NFSv4.1", strings.Repeat("y", 63)} {
		body := `[{"id":"a","type":` + strconv.Quote(typ) + `,"enabled":true,"running":true,"port":2049}]`
		if got, err := dittofs.DecodeAdapters([]byte(body)); err != nil || got[0].Problem != "" {
			t.Errorf("type %q refused: %v %+v", typ, err, got)
		}
	}
}

// TestDecodeAdaptersItemByItem: a malformed element of a well-formed list,
// or a type with no default port on port 0, is that item's problem alone;
// a body that is no array of objects is refused whole.
func TestDecodeAdaptersItemByItem(t *testing.T) {
	good := `{"id":"n","type":"nfs","enabled":true,"running":true,"port":0,"status":{"status":"healthy","checked_at":"2026-11-25T20:05:50Z"}}`
	cases := []struct {
		name, item  string
		want        dittofs.Adapter
		wholeRefuse bool
	}{
		{name: "unknown type on port 0", item: `{"id":"w","type":"webdav","enabled":true,"running":true,"port":0}`,
			want: dittofs.Adapter{ID: "w", Type: "webdav", Enabled: true, Running: true, Problem: "reports port 0 and the hook knows no default port for its type"}},
		{name: "no type", item: `{"id":"x","enabled":true,"running":true,"port":2049}`, want: dittofs.Adapter{ID: "x", Problem: "has no type"}},
		{name: "type not a string", item: `{"id":"x","type":7,"enabled":true,"running":true,"port":2049}`, want: dittofs.Adapter{ID: "x", Problem: "has a type that is not 1 to 63 bytes of printable characters"}},
		{name: "no flags", item: `{"id":"x","type":"smb","port":2049}`, want: dittofs.Adapter{ID: "x", Type: "smb", Problem: "lacks enabled or running"}},
		{name: "no port", item: `{"id":"x","type":"smb","enabled":true,"running":true}`, want: dittofs.Adapter{ID: "x", Type: "smb", Problem: "has no port"}},
		{name: "port out of range", item: `{"id":"x","type":"smb","enabled":true,"running":true,"port":70000}`, want: dittofs.Adapter{ID: "x", Type: "smb", Problem: "has port 70000, outside 0-65535"}},
		{name: "port a string", item: `{"id":"x","type":"smb","enabled":true,"running":true,"port":"445"}`, want: dittofs.Adapter{ID: "x", Type: "smb", Problem: "is not an adapter object with boolean enabled and running and a numeric port"}},
		{name: "not an object", item: `"smb"`, want: dittofs.Adapter{Problem: "is not an adapter object with boolean enabled and running and a numeric port"}},
		{name: "null", item: `null`, want: dittofs.Adapter{Problem: "is not an adapter object with boolean enabled and running and a numeric port"}},
		{name: "degraded", item: `{"id":"s","type":"smb","enabled":true,"running":true,"port":1445,"status":{"status":"degraded","message":"listener down"}}`,
			want: dittofs.Adapter{ID: "s", Type: "smb", Enabled: true, Running: true, Port: 1445, Health: "degraded"}},
		{name: "a health word DittoFS does not use", item: `{"id":"s","type":"smb","enabled":true,"running":true,"port":1445,"status":{"status":"on fire"}}`,
			want: dittofs.Adapter{ID: "s", Type: "smb", Enabled: true, Running: true, Port: 1445, Health: "unknown"}},
		{name: "no health", item: `{"id":"s","type":"smb","enabled":true,"running":true,"port":1445}`,
			want: dittofs.Adapter{ID: "s", Type: "smb", Enabled: true, Running: true, Port: 1445}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := dittofs.DecodeAdapters([]byte("[" + good + "," + c.item + "]"))
			if err != nil {
				t.Fatalf("the whole list refused: %v", err)
			}
			want := []dittofs.Adapter{{ID: "n", Type: "nfs", Enabled: true, Running: true, Port: dittofs.DefaultNFSPort, Health: "healthy"}, c.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, body := range []string{`{}`, `null`, `[1,`, `"x"`} {
		if _, err := dittofs.DecodeAdapters([]byte(body)); err == nil {
			t.Errorf("body %s accepted", body)
		}
	}
}
