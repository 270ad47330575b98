package server

import (
	"runtime"
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
	m.failing(1)
}

// TestBuildInfo: dittofs_hook_build_info is 1, labelled with the version it
// is given and the Go toolchain that built the test.
func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfo("1.2.3"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("want one series, got %v", mfs)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if mfs[0].GetName() != "dittofs_hook_build_info" || m.GetGauge().GetValue() != 1 ||
		labels["version"] != "1.2.3" || labels["goversion"] != runtime.Version() || labels["goos"] != runtime.GOOS || labels["goarch"] != runtime.GOARCH || labels["revision"] == "" {
		t.Errorf("%s %v = %v", mfs[0].GetName(), labels, m.GetGauge().GetValue())
	}
}
