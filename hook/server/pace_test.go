package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// TestResyncPaced: the hook measures how late Metacontroller calls after
// the resync it asked for, and asks for that much less (a moving average
// over the fleet, a fifth of each sample), so that DittoFS is polled at
// the DittoServer's interval. A call that comes sooner than asked (a
// change's sync) or long after (another replica answered meanwhile) is no
// sample. Before, every answer asked for the interval, and a controller a
// second late polled every interval + 1 s.
func TestResyncPaced(t *testing.T) {
	port := healthyDittoFS(t, 0)
	var (
		mu    sync.Mutex
		clock = time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	)
	at := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	reg := prometheus.NewRegistry()
	metrics := server.NewMetrics(reg, nil)
	ts := newTestServer(t, server.Options{Secrets: hook.NewSeededSecretSource("pace"), URLTemplate: "http://127.0.0.1:{{.Port}}",
		Metrics: metrics, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	five := hooktest.WithSpecField("adapterDiscovery", map[string]any{"pollingInterval": "5s"})
	steps := []struct {
		what  string
		after time.Duration // since the previous call
		id    string
		want  float64
		lag   float64
	}{
		{"first call: nothing measured", 0, "a", 5, 0},
		{"the resync, a second late: lag 0.2 s", 6 * time.Second, "a", 4.8, 0.2},
		{"the next, a second late again: lag 0.36 s", 5800 * time.Millisecond, "a", 4.6, 0.36},
		{"a change's sync, sooner than asked: no sample", time.Second, "a", 4.6, 0.36},
		{"long after (another replica answered): no sample", time.Minute, "a", 4.6, 0.36},
		{"another DittoServer's first call: the fleet's lag", 0, "b", 4.6, 0.36},
		{"its resync, on time: lag 0.288 s", 4600 * time.Millisecond, "b", 4.7, 0.288},
	}
	for _, s := range steps {
		at(s.after)
		code, out, _ := postSync(t, ts.URL, readySync("pace", s.id, port, five))
		if code != 200 {
			t.Fatalf("%s: answered %d", s.what, code)
		}
		if got := out["resyncAfterSeconds"]; got != s.want {
			t.Errorf("%s: resyncAfterSeconds %v, want %v", s.what, got, s.want)
		}
		if got := gauge(t, reg, "dittofs_hook_resync_lag_seconds"); got < s.lag-1e-9 || got > s.lag+1e-9 {
			t.Errorf("%s: dittofs_hook_resync_lag_seconds %v, want %v", s.what, got, s.lag)
		}
	}
}

// TestResyncNotPaced: with pacing off (hook serve --resync-pacing=false)
// the answer asks for the polling interval as it is, however late
// Metacontroller calls; the lateness is still measured.
func TestResyncNotPaced(t *testing.T) {
	port := healthyDittoFS(t, 0)
	var (
		mu    sync.Mutex
		clock = time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	)
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, server.Options{Secrets: hook.NewSeededSecretSource("pace"), URLTemplate: "http://127.0.0.1:{{.Port}}", NoResyncPacing: true,
		Metrics: server.NewMetrics(reg, nil), Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	five := hooktest.WithSpecField("adapterDiscovery", map[string]any{"pollingInterval": "5s"})
	for i, lag := range []float64{0, 0.2, 0.36} {
		if i > 0 {
			mu.Lock()
			clock = clock.Add(6 * time.Second) // a second late each time
			mu.Unlock()
		}
		code, out, _ := postSync(t, ts.URL, readySync("pace", "a", port, five))
		if code != 200 || out["resyncAfterSeconds"] != 5.0 {
			t.Errorf("call %d: %d, resyncAfterSeconds %v, want 200 and 5", i, code, out["resyncAfterSeconds"])
		}
		if got := gauge(t, reg, "dittofs_hook_resync_lag_seconds"); got < lag-1e-9 || got > lag+1e-9 {
			t.Errorf("call %d: dittofs_hook_resync_lag_seconds %v, want %v", i, got, lag)
		}
	}
}

// gauge reads a gauge without labels from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
