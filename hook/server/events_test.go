package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
)

// startEventsAPI serves a cluster.EventsAPI and returns a Recorder that
// sends to it through the real client.
func startEventsAPI(t *testing.T, o server.RecorderOptions) (*cluster.EventsAPI, *server.Recorder) {
	t.Helper()
	api := cluster.StartEventsAPI(t)
	client, err := server.NewEventClient(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	o.Client = client
	r := server.NewRecorder(o)
	t.Cleanup(func() { r.Close(context.Background()) })
	return api, r
}

// invalidSpec is a sync the core answers without DittoFS, recording one
// Event (InvalidSpec).
func invalidSpec() string {
	return string(hooktest.Captured(hooktest.ReadyLB, hooktest.WithSpecField("storage.metadataSize", "lots")).JSON())
}

// TestEventsRecorded: a sync's Events reach the API server as
// events.k8s.io/v1 Events, with the hook as reporting controller, the
// DittoServer as regarding object; the same sync again (a retry, another
// replica) gets AlreadyExists for each, counted as a duplicate and nothing
// else.
func TestEventsRecorded(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := server.NewMetrics(reg, nil)
	api, rec := startEventsAPI(t, server.RecorderOptions{Metrics: metrics, Instance: "hook-0"})
	ts := newTestServer(t, server.Options{Metrics: metrics, Events: rec})
	for range 2 {
		if code, body := post(t, ts.URL+"/sync", invalidSpec()); code != 200 {
			t.Fatalf("sync: %d %s", code, body)
		}
	}
	rec.Close(context.Background())
	got := api.Events()
	if len(got) != 1 || api.Posts() != 2 {
		t.Fatalf("the API server has %d Events after %d calls, want 1 after 2", len(got), api.Posts())
	}
	var ev eventsv1.Event
	if err := json.Unmarshal(got[0], &ev); err != nil {
		t.Fatal(err)
	}
	want := eventsv1.Event{
		Reason: hook.EventInvalidSpec, Type: "Warning", Action: "Validate",
		ReportingController: "dittofs.dittofs.com/dittofs-hook", ReportingInstance: "hook-0",
	}
	if d := cmp.Diff(want, eventsv1.Event{Reason: ev.Reason, Type: ev.Type, Action: ev.Action, ReportingController: ev.ReportingController, ReportingInstance: ev.ReportingInstance}); d != "" {
		t.Errorf("Event %s (-want +got):\n%s", ev.Name, d)
	}
	if ev.Regarding.Kind != "DittoServer" || ev.Regarding.Name != "demo" || ev.Regarding.UID != hooktest.UID || ev.Namespace != "default" || ev.EventTime.IsZero() || !strings.HasPrefix(ev.Name, "demo.") {
		t.Errorf("Event %s: namespace %q, regarding %+v, eventTime %v", ev.Name, ev.Namespace, ev.Regarding, ev.EventTime)
	}
	counts := map[string]float64{}
	for _, result := range []string{server.EventCreated, server.EventDuplicate, server.EventDropped, server.EventFailed} {
		counts[result] = eventsTotal(t, reg, hook.EventInvalidSpec, result)
	}
	if d := cmp.Diff(map[string]float64{"created": 1, "duplicate": 1, "dropped_queue_full": 0, "failed": 0}, counts); d != "" {
		t.Errorf("dittofs_hook_events_total{reason=InvalidSpec} (-want +got):\n%s", d)
	}
}

// eventsTotal reads one series of dittofs_hook_events_total.
func eventsTotal(t *testing.T, g prometheus.Gatherer, reason, result string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dittofs_hook_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["reason"] == reason && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no dittofs_hook_events_total{reason=%q,result=%q}", reason, result)
	return 0
}

// TestEventsNeverHoldAnAnswer: while the API server holds every call, syncs
// are answered all the same, with the bytes a hook without Events answers;
// the Events beyond the queue are dropped and counted, and those held or
// queued when the hook shuts down fail, counted.
func TestEventsNeverHoldAnAnswer(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := server.NewMetrics(reg, nil)
	api, rec := startEventsAPI(t, server.RecorderOptions{Metrics: metrics, Workers: 1, QueueSize: 2, Timeout: time.Hour})
	api.Hold()
	defer api.Release()
	// One clock for both: answers carry lastTransitionTime, to the second.
	clock := func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	with := newTestServer(t, server.Options{Metrics: metrics, Events: rec, Now: clock})
	without := newTestServer(t, server.Options{Now: clock})
	const syncs = 10
	for i := range syncs {
		code, got := post(t, with.URL+"/sync", invalidSpec())
		_, want := post(t, without.URL+"/sync", invalidSpec())
		if code != 200 || got != want {
			t.Fatalf("sync %d with Events held: %d, answer differs from the hook's without Events:\n%s", i, code, cmp.Diff(want, got))
		}
	}
	// One Event in the worker's hands (or not yet), two queued: the rest
	// dropped.
	dropped := eventsTotal(t, reg, hook.EventInvalidSpec, server.EventDropped)
	if dropped != syncs-3 && dropped != syncs-2 {
		t.Errorf("dropped_queue_full = %v after %d Events with a queue of 2 and one held worker, want %d", dropped, syncs, syncs-3)
	}
	// Shutting down gives up on the held and queued ones when its time is up.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rec.Close(ctx)
	failed := eventsTotal(t, reg, hook.EventInvalidSpec, server.EventFailed)
	if failed+dropped != syncs || len(api.Events()) != 0 {
		t.Errorf("failed %v + dropped %v, want %d; the API server has %d Events", failed, dropped, syncs, len(api.Events()))
	}
}

// TestEventsRefused: an API server that refuses (no RBAC: 403) costs the
// Events, counted as failed, and nothing else.
func TestEventsRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := server.NewMetrics(reg, nil)
	api, rec := startEventsAPI(t, server.RecorderOptions{Metrics: metrics})
	api.Refuse(http.StatusForbidden)
	ts := newTestServer(t, server.Options{Metrics: metrics, Events: rec})
	if code, body := post(t, ts.URL+"/sync", invalidSpec()); code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}
	rec.Close(context.Background())
	if failed := eventsTotal(t, reg, hook.EventInvalidSpec, server.EventFailed); failed != 1 || api.Posts() != 1 {
		t.Errorf("failed = %v after %d calls, want 1 after 1", failed, api.Posts())
	}
}

// TestEventMetricsStartAtZero: every reason and result is a series before
// the first Event.
func TestEventMetricsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	server.NewMetrics(reg, nil)
	for _, reason := range hook.EventReasons {
		for _, result := range []string{server.EventCreated, server.EventDuplicate, server.EventDropped, server.EventFailed} {
			if v := eventsTotal(t, reg, reason, result); v != 0 {
				t.Errorf("%s/%s starts at %v", reason, result, v)
			}
		}
	}
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
