package dittofs_test

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// adapterHealth is status.adapters[].health of an adapter type, and
// whether the status lists it.
func adapterHealth(t *testing.T, r *discoveryRig, typ string) (string, bool) {
	t.Helper()
	st, _ := r.loop.Parent["status"].(map[string]any)
	adapters, _ := st["adapters"].([]any)
	for _, a := range adapters {
		m := a.(map[string]any)
		if m["type"] == typ {
			h, _ := m["health"].(string)
			return h, true
		}
	}
	return "", false
}

// listedAdapter is what GET /api/v1/adapters says of one adapter.
type listedAdapter struct {
	Type    string `json:"type"`
	Port    int    `json:"port"`
	Running bool   `json:"running"`
	Status  struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"status"`
}

// TestAdapterHealthFromDittoFS: the health DittoFS v0.29.0 reports per
// adapter reaches status.adapters, as reported, against the real server.
// DittoFS's nfs and smb adapters report healthy once listening and unknown
// before; one whose listener cannot bind (its port taken) stays unknown
// while the API still says running: the status says unknown, and the
// adapter keeps its Service (health never removes one).
func TestAdapterHealthFromDittoFS(t *testing.T) {
	r := newDiscoveryRig(t, nil)
	r.start(t)
	r.settle(t)
	r.loop.SetIngress("demo-adapter-nfs", "203.0.113.7")
	r.loop.SetIngress("demo-adapter-smb", "203.0.113.8")
	r.settle(t)

	// DittoFS caches each adapter's check for 5 s (StatusCacheTTL), and a
	// check made before the listener is up says unknown: healthy comes
	// within one cache period of the start.
	syncUntil := func(t *testing.T, what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(12 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 12 s; status %v", what, r.loop.Parent["status"])
			}
			time.Sleep(500 * time.Millisecond)
			r.loop.Sync()
		}
	}
	t.Run("healthy adapters say so", func(t *testing.T) {
		syncUntil(t, "nfs and smb healthy", func() bool {
			n, _ := adapterHealth(t, r, "nfs")
			s, _ := adapterHealth(t, r, "smb")
			return n == "healthy" && s == "healthy"
		})
		r.settle(t)
		r.expectCondition(t, hook.CondAdaptersReady, "True", hook.ReasonAllAdaptersReady)
	})

	t.Run("an adapter whose listener cannot bind is unknown, its Service kept", func(t *testing.T) {
		// Taken on loopback: DittoFS binds every interface, which fails.
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		port := taken.Addr().(*net.TCPAddr).Port
		_, _, _, uid := r.servicePort(t, "demo-adapter-smb")
		r.dfs.SetAdapter("smb", map[string]any{"port": port})
		// Past DittoFS's cache period, so that unknown is the listener's
		// failure, not a check made before it started.
		moved := time.Now()
		syncUntil(t, "7 s after the move", func() bool { return time.Since(moved) > 7*time.Second })
		if h, _ := adapterHealth(t, r, "smb"); h != "unknown" {
			t.Fatalf("smb health %q 7 s after its port was taken, want unknown; DittoFS log:\n%s", h, r.dfs.Log())
		}
		if h, _ := adapterHealth(t, r, "nfs"); h != "healthy" {
			t.Fatalf("nfs health %q, want healthy", h)
		}
		p, _, _, uid2 := r.servicePort(t, "demo-adapter-smb")
		if int(p) != port || uid2 != uid {
			t.Fatalf("smb Service port %v uid %s, want %d on the same Service %s", p, uid2, port, uid)
		}
		r.expectCondition(t, hook.CondAdaptersReady, "True", hook.ReasonAllAdaptersReady)
		if _, _, msg := r.loop.Condition(hook.CondAdaptersReady); !strings.Contains(msg, "smb (health unknown)") {
			t.Fatalf("AdaptersReady does not say smb's health is unknown: %s", msg)
		}
		// What DittoFS said, as the hook read it.
		var list []listedAdapter
		r.dfs.Admin(r.dfs.AdminToken(), http.MethodGet, "/api/v1/adapters", nil, http.StatusOK, &list)
		i := slices.IndexFunc(list, func(a listedAdapter) bool { return a.Type == "smb" })
		b, _ := json.Marshal(list[i])
		t.Logf("DittoFS v0.29.0 reports the unbound smb adapter as %s", b)
	})
}
