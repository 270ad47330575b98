package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// Fairness (issue 21): one tenant whose DittoFS APIs hang must not slow
// the others.

// hangingDittoFS accepts connections and answers nothing until released.
func hangingDittoFS(t *testing.T) (port int, release func()) {
	t.Helper()
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(done) }) }
	t.Cleanup(func() { release(); ts.Close() })
	return ts.Listener.Addr().(*net.TCPAddr).Port, release
}

// healthyDittoFS answers logins, /health and, after delay, the adapter
// list.
func healthyDittoFS(t *testing.T, delay time.Duration) int {
	t.Helper()
	fake := &fakeDittoFS{logins: map[string]int{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			_, _ = w.Write([]byte(`{"status":"healthy"}`))
			return
		}
		if r.URL.Path == "/api/v1/adapters" {
			time.Sleep(delay)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().(*net.TCPAddr).Port
}

// readySync is a ready DittoServer's sync in namespace (its children and
// related Secrets there too), its UID named after id, its API on port.
func readySync(namespace, id string, port int, mods ...hooktest.Modifier) []byte {
	body := hooktest.Steady(append([]hooktest.Modifier{hooktest.WithSpecField("controlPlane", map[string]any{"port": port}),
		hooktest.WithParentEdit(func(p map[string]any) {
			p["metadata"].(map[string]any)["uid"] = namespace + "-" + id
		})}, mods...)...).JSON()
	return bytes.ReplaceAll(body, []byte(`"namespace":"default"`), []byte(`"namespace":"`+namespace+`"`))
}

func postSync(t *testing.T, url string, body []byte) (int, map[string]any, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Post(url+"/sync", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil, 0
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, time.Since(start)
}

// TestTenantCannotHoldEverySlot: a namespace whose DittoServers' APIs hang
// holds at most --max-syncs-per-namespace of the sync slots; its other
// calls are answered 429 at once (Metacontroller's worker is free again),
// and another namespace's syncs are answered meanwhile. Before, its calls
// held every slot for the DittoFS timeout, and the others got 429.
func TestTenantCannotHoldEverySlot(t *testing.T) {
	hanging, release := hangingDittoFS(t)
	healthy := healthyDittoFS(t, 0)
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: "http://127.0.0.1:{{.Port}}",
		Timeout: 5 * time.Second, MaxConcurrentSyncs: 4, MaxSyncsPerNamespace: 2})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	var wg sync.WaitGroup
	codes := make(chan int, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := postSync(t, ts.URL, readySync("tenant-a", fmt.Sprintf("hung-%d", i), hanging))
			codes <- code
		}()
	}
	time.Sleep(300 * time.Millisecond) // tenant-a's calls are in
	for i := range 4 {
		code, _, took := postSync(t, ts.URL, readySync("tenant-b", fmt.Sprintf("ok-%d", i), healthy))
		if code != http.StatusOK || took > time.Second {
			t.Errorf("tenant-b's sync %d: %d after %s while tenant-a hangs", i, code, took)
		}
	}
	release()
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusTooManyRequests] != 4 || count[http.StatusOK] != 2 {
		t.Errorf("tenant-a's 6 calls: %v, want 2 answered and 4 told to retry", count)
	}
}

// TestHangingAPIFailsFast: a DittoServer whose API did not answer the
// last poll (APIUnreachable) is first asked /health on a third of the
// DittoFS budget; a hanging API fails the sync then, worded as a timed-out
// poll is, instead of holding a slot for the whole budget. One that
// answers, even slowly, gets the whole budget and recovers. Before, every
// sync of a hanging API waited the whole --dittofs-timeout.
func TestHangingAPIFailsFast(t *testing.T) {
	hanging, _ := hangingDittoFS(t)
	slow := healthyDittoFS(t, 1500*time.Millisecond)
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: "http://127.0.0.1:{{.Port}}", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	unreachable := hooktest.WithCondition(hooktest.Condition{Status: "False", Reason: "APIUnreachable", Since: "2026-11-25T20:09:15Z",
		Message: "DittoFS API at http://127.0.0.1 is unreachable (timed out)"}, "AdaptersDiscovered", "Authenticated", "Ready")

	_, first, tookFirst := postSync(t, ts.URL, readySync("ns", "hung", hanging))
	code, again, took := postSync(t, ts.URL, readySync("ns", "hung", hanging, unreachable))
	if code != http.StatusOK || took > 1500*time.Millisecond {
		t.Errorf("a hanging API after a failed poll: %d after %s, want an answer within a third of the 3 s budget", code, took)
	}
	cond := func(resp map[string]any) string {
		b, _ := json.Marshal(resp["status"])
		var st hook.DittoServerStatus
		_ = json.Unmarshal(b, &st)
		c := meta.FindStatusCondition(st.Conditions, hook.CondAdaptersDiscovered)
		if c == nil {
			return ""
		}
		return c.Reason + ": " + c.Message
	}
	if cond(first) != cond(again) || tookFirst < 2900*time.Millisecond {
		t.Errorf("the probe's failure reads differently from a timed-out poll's (%s):\n%s\n%s", tookFirst, cond(first), cond(again))
	}
	code, back, _ := postSync(t, ts.URL, readySync("ns", "slow", slow, unreachable))
	if c := cond(back); code != http.StatusOK || c[:len("PollSucceeded")] != "PollSucceeded" {
		t.Errorf("a slow API after a failed poll: %d %s, want the poll to succeed", code, c)
	}
}
