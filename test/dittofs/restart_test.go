package dittofs_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// TestHookRestart kills the hook (SIGKILL) while syncs are in flight and
// starts it again: no child is deleted, no Secret value changes, and each
// parent logs in once afterwards (the token cache was lost, nothing else).
func TestHookRestart(t *testing.T) {
	const parents = 10
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	proxy := dittofstest.StartFaultProxy(t, dfs.URL)
	port := harness.FreePort(t)
	hookURL := harness.URL(port, "")
	// Its ten parents in one namespace, synced all at once (more than
	// Metacontroller's workers): the namespace's bound raised to them.
	perNamespace := []string{"--max-syncs-per-namespace", strconv.Itoa(parents)}
	hook := startHook(t, dir, bin, port, perNamespace...)

	// The fleet talks to DittoFS through the proxy, which counts logins.
	loops := newFleet(t, hookURL, &dittofstest.DittoFS{Port: proxy.Port}, parents)
	if _, err := syncAll(t, loops, parents); err != nil {
		t.Fatal(err)
	}
	for _, l := range loops {
		l.SetReady(l.Parent["metadata"].(map[string]any)["name"].(string), 1)
	}
	for range 3 {
		if _, err := syncAll(t, loops, parents); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range loops {
		if s, reason, msg := l.Condition("AdaptersDiscovered"); s != "True" {
			t.Fatalf("setup: %s %s %s", s, reason, msg)
		}
	}
	before := snapshot(loops)

	// Syncs in flight, then SIGKILL.
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := l.TrySync(client); err != nil {
					return // the hook is gone: Metacontroller changes nothing
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	hook.Kill()
	wg.Wait()

	proxy.ResetCalls()
	startHook(t, dir, bin, port, perNamespace...)
	for range 3 {
		if _, err := syncAll(t, loops, parents); err != nil {
			t.Fatal(err)
		}
	}
	after := snapshot(loops)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed across the restart:\n before %s\n after  %s", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared across the restart", k)
		}
	}
	if n := proxy.Calls("POST /api/v1/auth/login"); n != parents {
		t.Errorf("%d logins after the restart for %d parents", n, parents)
	}
	t.Logf("restart: %d parents, %d children kept, %d logins after the restart", parents, len(before), proxy.Calls("POST /api/v1/auth/login"))
}

// snapshot records each child's identity and, for Secrets, its data.
func snapshot(loops []*controller.Loop) map[string]string {
	out := map[string]string{}
	for _, l := range loops {
		for key, objs := range l.Children {
			for name, obj := range objs {
				v := fmt.Sprint(obj["metadata"].(map[string]any)["uid"])
				if strings.HasPrefix(key, "Secret.") {
					b, _ := json.Marshal(obj["data"])
					v += " " + string(b)
				}
				out[key+"/"+name] = v
			}
		}
	}
	return out
}
