package server

import (
	"sync"
	"time"
)

// maxPaced bounds the pacer's memory: past this many DittoServers answered
// since the last reset it forgets them all (a few seconds of samples lost,
// no answer changed), so that no request stream can grow it.
const maxPaced = 100_000

// pacer measures how late Metacontroller calls after the resync the hook
// asked for: per DittoServer (by UID) the time of its last answer and the
// resyncAfterSeconds it carried, and, when the next call of that
// DittoServer comes no sooner than asked, by how much later. The lag is a
// moving average over the fleet (a fifth of each new sample), since the
// lateness is the controller's — its work queue and workers — not any one
// DittoServer's. hook.Sync.Paced subtracts it from the next answers.
//
// It is the shell's memory of this replica's answers only: a call answered
// meanwhile by the other replica, a restart, or a change's own syncs
// (which come before the resync is due) give no sample, so with no history
// the lag is 0 and the answers are as Desired made them.
type pacer struct {
	mu   sync.Mutex
	last map[string]paced
	lag  time.Duration
}

type paced struct {
	at    time.Time
	after time.Duration
}

func newPacer() *pacer { return &pacer{last: map[string]paced{}} }

// arrived takes a sample from a call of the DittoServer uid at now, and
// returns the lag to pace its answer by.
func (p *pacer) arrived(uid string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.last[uid]; ok {
		// Sooner than asked: a change's sync (or an early one after it),
		// not the resync. Later than twice the wait: not the resync that
		// answer asked for either (another replica answered between, or
		// this one restarted).
		if late := now.Sub(l.at) - l.after; late >= 0 && late <= l.after {
			p.lag += (late - p.lag) / 5
		}
	}
	return p.lag
}

// answered notes the answer given to uid at now: its resyncAfterSeconds.
func (p *pacer) answered(uid string, now time.Time, resyncAfterSeconds float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.last[uid]; !ok && len(p.last) >= maxPaced {
		clear(p.last)
	}
	p.last[uid] = paced{at: now, after: time.Duration(resyncAfterSeconds * float64(time.Second))}
}
