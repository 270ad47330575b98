package hook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// TestPaced: the steady resync (every polling interval) is asked for sooner by how late Metacontroller has been
// calling, up to a fifth of the interval; a failing DittoFS's backoff and
// a finalize's retry are left alone.
func TestPaced(t *testing.T) {
	adapters, err := dittofs.DecodeAdapters(hooktest.DittoFSBody("adapters-fresh.body"))
	if err != nil {
		t.Fatal(err)
	}
	five := hooktest.WithSpecField("adapterDiscovery.pollingInterval", "5s")
	cases := []struct {
		name string
		req  *hooktest.Request
		// poll: whether DittoFS answered (else it was unreachable).
		poll bool
		lag  time.Duration
		want float64
	}{
		{"no lag", hooktest.Steady(five), true, 0, 5},
		{"late by 0.74 s", hooktest.Steady(five), true, 740 * time.Millisecond, 4.3},
		{"late by a second", hooktest.Steady(five), true, time.Second, 4},
		{"late by more than a fifth", hooktest.Steady(five), true, 3 * time.Second, 4},
		{"the captured 30 s interval", hooktest.Steady(), true, 3 * time.Second, 27},
		{"DittoFS unreachable: its backoff", hooktest.Steady(five), false, time.Second, 5},
		{"DittoFS unreachable, 30 s", hooktest.Steady(), false, time.Second, 30},
		{"finalizing: its retry", hooktest.Steady(five, hooktest.Finalizing("2026-11-20T10:00:00Z")), true, time.Second, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := hook.Prepare(mustDecode(t, c.req.JSON()), testCeiling)
			if err != nil {
				t.Fatal(err)
			}
			var o hook.Observation
			switch {
			case s.Finalizing():
				o = s.ObserveFinalize(nil, "")
			case c.poll:
				o = s.ObservePoll(adapters, nil, "")
			default:
				o = s.ObservePoll(nil, errors.New("dial tcp: i/o timeout"), "")
			}
			resp := s.Desired(o, now, hook.NewSeededSecretSource("pace"))
			before := resp.ResyncAfterSeconds
			s.Paced(resp, c.lag)
			if resp.ResyncAfterSeconds != c.want {
				t.Errorf("resyncAfterSeconds %v (Desired: %v), want %v", resp.ResyncAfterSeconds, before, c.want)
			}
		})
	}
}
