package hook

import (
	"math"
	"time"
)

// MaxPaceFraction bounds Paced's correction: a fifth of the polling
// interval. A controller that keeps falling further behind is not asked to
// call ever sooner: past this it is slow, not late, and the sizing of its
// workers is the remedy (docs/sizing.md).
const MaxPaceFraction = 5

// Paced shortens a steady answer's resyncAfterSeconds by lag: how late
// Metacontroller has been calling after the resyncs it was asked for.
//
// Metacontroller starts a resync's countdown when it has the answer, and
// the next call waits in its work queue for a worker after that; so a
// DittoServer asked to resync every pollingInterval is polled every
// pollingInterval + lag — a second more on a busy controller, measured on
// the fleet — and an adapter disabled in DittoFS loses its Service that
// much later than the interval + 2 s the hook promises. The shell measures
// lag (the answers it gave and when the next calls came); this subtracts
// it, at most a fifth of the interval and rounded to a tenth of a second.
// Only the steady resync is paced: the backoff of a failing DittoFS and a
// finalize's retry are left as Desired made them.
func (s *Sync) Paced(resp *SyncResponse, lag time.Duration) {
	if lag <= 0 || resp == nil || resp.Status == nil || s.req.Finalizing || s.server == nil || s.server.PollingInterval <= 0 {
		return
	}
	if _, failing := failingSince(resp.Status); failing {
		return
	}
	steady := math.Ceil(s.server.PollingInterval.Seconds())
	if resp.ResyncAfterSeconds != steady {
		return
	}
	cut := min(lag.Seconds(), steady/MaxPaceFraction)
	resp.ResyncAfterSeconds = math.Round((steady-cut)*10) / 10
}
