package dittofs_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// startHook runs the real hook binary pointed at DittoFS on loopback, with
// extra flags.
func startHook(t *testing.T, dir, bin string, port int, extra ...string) *harness.Process {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "3s", "--log-level", "warn", "--events=false"}, extra...)
	p := harness.Start(t, dir, "hook", bin, nil, args...)
	p.WaitHTTP(t, harness.URL(port, "/readyz"), 10*time.Second)
	return p
}

// metric reads one sample from the hook's /metrics ("" labels: the first).
func metric(t *testing.T, url, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if labels != "" && !strings.HasPrefix(rest, "{"+labels+"}") {
			continue
		}
		if labels == "" && !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "{") {
			continue
		}
		v, err := strconv.ParseFloat(rest[strings.LastIndex(rest, " ")+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return 0
}

// fleet is many DittoServers against one hook and one DittoFS. All share
// the operator password, as the one DittoFS holds one k8s-operator account.
func newFleet(t *testing.T, hookURL string, dfs *dittofstest.DittoFS, n int) []*controller.Loop {
	loops := make([]*controller.Loop, n)
	for i := range loops {
		name := fmt.Sprintf("ds%04d", i)
		l := controller.NewLoop(t, hookURL, name, map[string]any{
			"storage":          map[string]any{"metadataSize": "1Gi"},
			"controlPlane":     map[string]any{"port": dfs.Port},
			"adapterDiscovery": map[string]any{"pollingInterval": "30s"},
		})
		l.Children["Secret.v1"][name+"-admin-bootstrap-credentials"] = observedSecret(name+"-admin-bootstrap-credentials", map[string]string{"username": "admin", "password": dittofstest.AdminPassword})
		l.Children["Secret.v1"][name+"-operator-credentials"] = observedSecret(name+"-operator-credentials", map[string]string{"username": "k8s-operator", "password": "shared-operator-password-1"})
		loops[i] = l
	}
	return loops
}

// observedSecret is a Secret as the API server would hold it.
func observedSecret(name string, data map[string]string) map[string]any {
	d := map[string]any{}
	for k, v := range data {
		d[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name}, "data": d}
}

// syncAll syncs every loop once, at most concurrency at a time, and returns
// the latencies.
func syncAll(t *testing.T, loops []*controller.Loop, concurrency int) ([]time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	lat := make([]time.Duration, len(loops))
	errs := make(chan error, len(loops))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := l.TrySync(client)
			if err != nil {
				errs <- err
			}
			lat[i] = r.Took
		}()
	}
	wg.Wait()
	close(errs)
	client.CloseIdleConnections()
	return lat, <-errs
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestLoad syncs N DittoServers, C at a time, against one hook (the real
// binary) and one real DittoFS, and reports latency, throughput, logins,
// goroutines and memory. CI runs a small fleet; test/bench.sh runs 500 × 64
// and writes the figures to BENCHMARKS.md. Checked: logins equal the number
// of parents (not of syncs), and the hook's goroutines return to where they
// were.
func TestLoad(t *testing.T) {
	parents := envInt("DITTOFS_HOOK_LOAD_PARENTS", 50)
	concurrency := envInt("DITTOFS_HOOK_LOAD_CONCURRENCY", 16)
	rounds := envInt("DITTOFS_HOOK_LOAD_ROUNDS", 3)
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	port := harness.FreePort(t)
	hookURL := harness.URL(port, "")
	// The hook admits as many syncs at once as the fleet sends: this test
	// measures throughput, TestMemoryUnderLoad the bounds.
	// The fleet is one namespace, driven harder than Metacontroller's 5
	// workers: the namespace's bound is raised to the concurrency, which
	// this measures (TestTenantCannotHoldEverySlot checks the bound).
	hookProc := startHook(t, dir, bin, port, "--max-concurrent-syncs", strconv.Itoa(concurrency), "--max-syncs-per-namespace", strconv.Itoa(concurrency))
	idleGoroutines := metric(t, hookURL, "go_goroutines", "")

	loops := newFleet(t, hookURL, dfs, parents)
	if _, err := syncAll(t, loops, concurrency); err != nil { // creates the children
		t.Fatal(err)
	}
	for _, l := range loops {
		l.SetReady(l.Parent["metadata"].(map[string]any)["name"].(string), 1)
	}
	// Round 1 is cold: every parent logs in (DittoFS checks a bcrypt hash,
	// which dominates). The next rounds are the steady state: one adapter
	// list call per sync.
	cold, err := syncAll(t, loops, concurrency)
	if err != nil {
		t.Fatal(err)
	}
	coldFailures := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="APIUnreachable"`)
	// Syncs that hit the deadline during the login storm (nothing was lost:
	// their children stayed as they were) succeed on a later sync; the
	// steady rounds start once every parent has discovered its adapters.
	for range 5 {
		var pending []*controller.Loop
		for _, l := range loops {
			if s, _, _ := l.Condition("AdaptersDiscovered"); s != "True" {
				pending = append(pending, l)
			}
		}
		if len(pending) == 0 {
			break
		}
		if _, err := syncAll(t, pending, concurrency); err != nil {
			t.Fatal(err)
		}
	}
	steadyStart := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="PollSucceeded"`)
	unreachableStart := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="APIUnreachable"`)
	time.Sleep(time.Second)
	warmGoroutines := metric(t, hookURL, "go_goroutines", "")
	var all []time.Duration
	start := time.Now()
	for range rounds {
		lat, err := syncAll(t, loops, concurrency)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, lat...)
	}
	elapsed := time.Since(start)
	for _, l := range loops[:3] {
		if s, reason, msg := l.Condition("AdaptersDiscovered"); s != "True" {
			t.Fatalf("%s: AdaptersDiscovered %s %s: %s", l.Parent["metadata"].(map[string]any)["name"], s, reason, msg)
		}
	}
	polls := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="PollSucceeded"`) - steadyStart
	unreachable := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="APIUnreachable"`)
	logins := metric(t, hookURL, "dittofs_hook_dittofs_logins_total", `account="operator",result="ok"`)
	failed := metric(t, hookURL, "dittofs_hook_dittofs_logins_total", `account="operator",result="error"`)
	time.Sleep(2 * time.Second) // idle connections close, handlers finish
	goroutines := metric(t, hookURL, "go_goroutines", "")
	heap := metric(t, hookURL, "go_memstats_heap_inuse_bytes", "")
	rss := metric(t, hookURL, "process_resident_memory_bytes", "")
	slices.Sort(all)
	slices.Sort(cold)
	p := func(l []time.Duration, q float64) time.Duration {
		return l[int(q*float64(len(l)-1))].Round(time.Microsecond)
	}
	t.Logf("load: %d DittoServers, %d syncs at a time, against one hook and one real DittoFS", parents, concurrency)
	t.Logf("load: cold round (every parent logs in; DittoFS checks a bcrypt hash per login): %d syncs, p50 %s, p99 %s; %.0f hit the DittoFS deadline and kept their children, succeeding on a later sync", len(cold), p(cold, 0.5), p(cold, 0.99), coldFailures)
	t.Logf("load: steady rounds: %d syncs in %s = %.0f syncs/s, p50 %s, p99 %s, max %s (each sync lists the adapters of the real DittoFS)",
		len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(), p(all, 0.5), p(all, 0.99), p(all, 1))
	t.Logf("load: steady rounds: %.0f of %d polls succeeded", polls, len(all))
	t.Logf("load: operator logins %.0f (+%.0f refused before the account existed) for %d parents and %d syncs", logins, failed, parents, len(all)+len(cold)+parents)
	t.Logf("load: hook goroutines: %.0f before any sync, %.0f after the cold round, %.0f after %d more syncs (the difference from the start is kept-alive connections to DittoFS); heap in use %.1f MiB, RSS %.1f MiB",
		idleGoroutines, warmGoroutines, goroutines, len(all), heap/(1<<20), rss/(1<<20))
	t.Logf("load: machine %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	// Every steady poll succeeds, but for DittoFS timeouts: the only
	// wall-clock element of a sync is the hook's 3 s DittoFS timeout, and
	// one DittoFS serving 64 syncs at a time on a loaded 2-core machine may
	// miss it now and then. Such a poll keeps every child and is retried
	// on the next sync, as designed (APIUnreachable: on loopback with DittoFS
	// up, a timeout). Up to 1 % of them pass; any other
	// failed poll fails the test (test/bench.sh's goal is none at all).
	timedOut := metric(t, hookURL, "dittofs_hook_adapter_polls_total", `reason="APIUnreachable"`) - unreachableStart
	if other := float64(len(all)) - polls - timedOut; other > 0 || timedOut > float64(len(all))/100 {
		t.Errorf("%.0f of %d steady-state polls succeeded: %.0f timed out (at most 1 %% may), %.0f failed otherwise", polls, len(all), timedOut, other)
	} else if timedOut > 0 {
		t.Logf("load: %.0f of %d steady-state polls hit the DittoFS timeout (allowed: at most 1 %%)", timedOut, len(all))
	}
	if unreachable > 0 {
		errs := map[string]int{}
		logs, _ := os.ReadFile(hookProc.Log)
		for _, line := range strings.Split(string(logs), "\n") {
			if i := strings.Index(line, `"err":"`); i >= 0 {
				errs[line[i+7:strings.Index(line[i+7:], `"`)+i+7]]++
			}
		}
		t.Logf("load: DittoFS call failures: %v", errs)
	}
	if int(logins) != parents {
		t.Errorf("%0.f operator logins for %d parents: want one per parent", logins, parents)
	}
	if goroutines > warmGoroutines+2 || goroutines > idleGoroutines+8 {
		t.Errorf("goroutines grew: %.0f at start, %.0f after the cold round, %.0f at the end", idleGoroutines, warmGoroutines, goroutines)
	}
}
