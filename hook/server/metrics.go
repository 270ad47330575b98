package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// Metrics are the hook's Prometheus metrics. No label grows with the number
// of DittoServers: parents are never labels.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	dittofsCalls  *prometheus.CounterVec
	logins        *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	provisions    *prometheus.CounterVec
	polls         *prometheus.CounterVec
	failingFor    prometheus.Histogram
	adaptersSeen  *prometheus.CounterVec
	events        *prometheus.CounterVec
	snapshotRuns  *prometheus.CounterVec
	tokensCached  prometheus.GaugeFunc
	lag           prometheus.Gauge
	tokensCounter func() int
}

// NewMetrics registers the hook's metrics. tokens reports the number of
// cached DittoFS sessions.
func NewMetrics(reg prometheus.Registerer, tokens func() int) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_requests_total",
			Help: "Hook calls by hook (sync, customize, finalize) and outcome (ok, bad_request, error, unauthorized, throttled, throttled_namespace).",
		}, []string{"hook", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dittofs_hook_request_duration_seconds",
			Help:    "Time to answer a hook call, DittoFS calls included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"hook"}),
		dittofsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_dittofs_requests_total",
			Help: "Calls to DittoFS APIs by endpoint and status class (2xx, 4xx, 5xx, or error when no answer came).",
		}, []string{"endpoint", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_dittofs_logins_total",
			Help: "Logins to DittoFS by account (operator, admin) and result.",
		}, []string{"account", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_dittofs_token_refreshes_total",
			Help: "Token refreshes by result.",
		}, []string{"result"}),
		provisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_operator_provisions_total",
			Help: "Creations or repairs of the k8s-operator account by result.",
		}, []string{"result"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_adapter_polls_total",
			Help: "Adapter list polls by outcome (the AdaptersDiscovered reason).",
		}, []string{"reason"}),
		failingFor: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dittofs_hook_adapter_poll_failure_intervals",
			Help: "Failed adapter polls by how long DittoFS had been failing that DittoServer, in its polling intervals (0 at the first failure; counted as the backoff counts it).",
			// An alert compares with one of these: DittoFS failing for
			// longer than N intervals is a count above the bucket le=N.
			Buckets: FailureIntervalBuckets,
		}),
		adaptersSeen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_adapters_discovered_total",
			Help: "Adapters reported by successful polls, by type (nfs, smb, other) and state (running, stopped, disabled).",
		}, []string{"type", "state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_events_total",
			Help: "Kubernetes Events by reason and result (created; duplicate: recorded already by a retry or another replica; dropped_queue_full; failed).",
		}, []string{"reason", "result"}),
		snapshotRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dittofs_hook_snapshot_policy_applies_total",
			Help: "Applies of spec.snapshotPolicies to DittoFS (made only when the spec changed them) by outcome (the SnapshotPoliciesApplied reason).",
		}, []string{"reason"}),
	}
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dittofs_hook_resync_lag_seconds",
		Help: "How late Metacontroller calls after the resyncAfterSeconds the hook asked for (a moving average over this replica's DittoServers); the hook asks for that much less, up to a fifth of the polling interval, so that DittoFS is polled at the interval.",
	})
	if tokens == nil {
		tokens = func() int { return 0 }
	}
	m.tokensCounter = tokens
	m.tokensCached = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dittofs_hook_tokens_cached",
		Help: "DittoFS sessions held in the token cache.",
	}, func() float64 { return float64(m.tokensCounter()) })
	reg.MustRegister(m.requests, m.duration, m.dittofsCalls, m.logins, m.refreshes, m.provisions, m.polls, m.failingFor, m.adaptersSeen, m.events, m.snapshotRuns, m.tokensCached, m.lag)
	// Series whose label values are known up front start at zero, so that a
	// dashboard or an alert on rate() sees them before the first event.
	for _, result := range []string{"ok", "error"} {
		for _, account := range []string{"operator", "admin"} {
			m.logins.WithLabelValues(account, result)
		}
		m.refreshes.WithLabelValues(result)
		m.provisions.WithLabelValues(result)
	}
	for _, reason := range hook.EventReasons {
		for _, result := range eventResults {
			m.events.WithLabelValues(reason, result)
		}
	}
	return m
}

// ObserveDittoFS counts one DittoFS call (a dittofs.Observer).
func (m *Metrics) ObserveDittoFS(endpoint string, code int) {
	if m == nil {
		return
	}
	class := "error"
	if code > 0 {
		class = strconv.Itoa(code/100) + "xx"
	}
	m.dittofsCalls.WithLabelValues(endpoint, class).Inc()
}

// Login counts a login to DittoFS (dittofs.AccountMetrics, as Refresh and
// Provision). Like every method of Metrics, it does nothing on a nil *Metrics.
func (m *Metrics) Login(account, result string) {
	if m != nil {
		m.logins.WithLabelValues(account, result).Inc()
	}
}

// Refresh counts a token refresh (dittofs.AccountMetrics).
func (m *Metrics) Refresh(result string) {
	if m != nil {
		m.refreshes.WithLabelValues(result).Inc()
	}
}

// Provision counts a creation or repair of the operator account
// (dittofs.AccountMetrics).
func (m *Metrics) Provision(result string) {
	if m != nil {
		m.provisions.WithLabelValues(result).Inc()
	}
}

// poll counts a sync's poll by its outcome, and the adapters of a
// successful one: the same judgement the AdaptersDiscovered condition shows.
func (m *Metrics) poll(o hook.Observation) {
	p := o.Poll()
	if m == nil || p.State == hook.NotTried {
		return
	}
	reason := p.Reason
	if p.State == hook.Succeeded {
		reason = hook.ReasonPollSucceeded
		for _, a := range o.Adapters() {
			typ := a.Type
			if typ != "nfs" && typ != "smb" {
				typ = "other"
			}
			state := "running"
			switch {
			case !a.Enabled:
				state = "disabled"
			case !a.Running:
				state = "stopped"
			}
			m.adaptersSeen.WithLabelValues(typ, state).Inc()
		}
	}
	m.polls.WithLabelValues(reason).Inc()
}

// resyncLag sets the lag Paced subtracts (see pacer).
func (m *Metrics) resyncLag(lag time.Duration) {
	if m != nil {
		m.lag.Set(lag.Seconds())
	}
}

// FailureIntervalBuckets are the upper bounds of
// dittofs_hook_adapter_poll_failure_intervals, in polling intervals: the
// thresholds an alert on a long DittoFS failure can use.
var FailureIntervalBuckets = []float64{1, 2, 3, 5, 10, 20, 50}

// failing observes, at a failed poll, how many polling intervals DittoFS
// has been failing the DittoServer for.
func (m *Metrics) failing(intervals float64) {
	if m != nil {
		m.failingFor.Observe(intervals)
	}
}

// event counts one Event by reason and result.
func (m *Metrics) event(reason, result string) {
	if m != nil {
		m.events.WithLabelValues(reason, result).Inc()
	}
}

// snapshots counts an apply of the snapshot policies by its outcome.
func (m *Metrics) snapshots(o hook.Observation) {
	if m != nil && o.Snapshots().State != hook.NotTried {
		m.snapshotRuns.WithLabelValues(o.Snapshots().Reason).Inc()
	}
}

// throttled counts a hook call answered 429: outcome "throttled" (beyond
// the hook's bounds) or "throttled_namespace" (beyond its namespace's).
func (m *Metrics) throttled(call, outcome string) {
	if m != nil {
		m.requests.WithLabelValues(call, outcome).Inc()
	}
}

func (m *Metrics) request(call, outcome string, seconds float64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(call, outcome).Inc()
	m.duration.WithLabelValues(call).Observe(seconds)
}
