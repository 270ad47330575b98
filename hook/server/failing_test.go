package server_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// TestFailureIntervals: each failed poll observes, in
// dittofs_hook_adapter_poll_failure_intervals, how many of the DittoServer's
// polling intervals DittoFS has been failing it (0 at the first failure,
// counted from the AdaptersDiscovered condition's lastTransitionTime, or
// from when the replica came back, as the backoff counts); a successful poll
// observes nothing. The DittoFS-unreachable alert reads this histogram.
func TestFailureIntervals(t *testing.T) {
	// A port nothing listens on: every poll fails with APIUnreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dfs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/auth/login":
			_, _ = w.Write(hooktest.DittoFSBody("login-operator.body"))
		case "/api/v1/adapters":
			_, _ = io.Copy(w, bytes.NewReader(hooktest.DittoFSBody("adapters-fresh.body")))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(dfs.Close)
	up := dfs.Listener.Addr().(*net.TCPAddr).Port
	const since = "2026-11-25T20:10:00Z"
	failing := hooktest.Condition{Status: "False", Reason: hook.ReasonAPIUnreachable, Message: "unreachable", Since: since}
	start, _ := time.Parse(time.RFC3339, since)
	for _, c := range []struct {
		name string
		mods []hooktest.Modifier
		// port is DittoFS's: closed unless it answers.
		port int
		// now is how long after since the sync runs.
		now time.Duration
		// want is the observation, or -1 for none.
		want float64
	}{
		{"first failure", nil, closed, 100 * time.Second, 0},
		{"failing for 10 intervals", []hooktest.Modifier{hooktest.WithCondition(failing, hook.CondAdaptersDiscovered)}, closed, 100 * time.Second, 10},
		{"the replica came back 20 s ago", []hooktest.Modifier{
			hooktest.WithCondition(failing, hook.CondAdaptersDiscovered),
			hooktest.WithCondition(hooktest.Condition{Status: "True", Reason: hook.ReasonReplicaReady, Message: "the DittoFS pod is ready", Since: "2026-11-25T20:11:20Z"}, hook.CondAvailable),
		}, closed, 100 * time.Second, 2},
		{"a successful poll after a failure", []hooktest.Modifier{hooktest.WithCondition(failing, hook.CondAdaptersDiscovered)}, up, 100 * time.Second, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			ts := newTestServer(t, server.Options{
				URLTemplate: "http://127.0.0.1:{{.Port}}",
				Metrics:     server.NewMetrics(reg, nil),
				Now:         func() time.Time { return start.Add(c.now) },
			})
			mods := append([]hooktest.Modifier{
				hooktest.WithSpecField("controlPlane", map[string]any{"port": c.port}),
				hooktest.WithSpecField("adapterDiscovery", map[string]any{"pollingInterval": "10s"}),
			}, c.mods...)
			resp, err := http.Post(ts.URL+"/sync", "application/json", bytes.NewReader(hooktest.Steady(mods...).JSON()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sync answered %d", resp.StatusCode)
			}
			var count uint64
			var sum float64
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "dittofs_hook_adapter_poll_failure_intervals" {
					count, sum = mf.GetMetric()[0].GetHistogram().GetSampleCount(), mf.GetMetric()[0].GetHistogram().GetSampleSum()
				}
			}
			if c.want < 0 && count != 0 || c.want >= 0 && (count != 1 || sum != c.want) {
				t.Errorf("%d observations summing to %g; want one of %g (none if negative)", count, sum, c.want)
			}
		})
	}
}
