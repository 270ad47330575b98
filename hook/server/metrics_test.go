package server

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// TestMetricsStartAtZero: series whose labels are known before the first
// event are exported as 0 from the start, so dashboards see them.
func TestMetricsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg, nil)
	for _, name := range []string{"dittofs_hook_dittofs_token_refreshes_total", "dittofs_hook_dittofs_logins_total", "dittofs_hook_operator_provisions_total"} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s is absent until its first event", name)
		}
	}
	want := `
# HELP dittofs_hook_dittofs_token_refreshes_total Token refreshes by result.
# TYPE dittofs_hook_dittofs_token_refreshes_total counter
dittofs_hook_dittofs_token_refreshes_total{result="error"} 0
dittofs_hook_dittofs_token_refreshes_total{result="ok"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dittofs_hook_dittofs_token_refreshes_total"); err != nil {
		t.Error(err)
	}
}

// TestNilMetrics: every method is safe on a nil *Metrics (tests and
// `hook render` run without a registry).
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Login("operator", "ok")
	m.Refresh("ok")
	m.Provision("ok")
	m.ObserveDittoFS("login", 200)
	m.request("sync", "ok", 0.1)
	m.poll(hook.Observation{})
}
