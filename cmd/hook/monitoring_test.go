package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestMonitoringQueriesUseExportedSeries: every series the alert rules and
// the Grafana dashboard of manifests/components/monitoring read (the chart
// renders the same: test/helm) is one hook serve exports, or up, which
// Prometheus writes for every target. The exported names come from serve's
// own registry (newRegistry, newService) after one sync through its
// handler; the names a query reads come from Prometheus's own PromQL parser
// (promql-series), which also refuses a query that does not parse.
func TestMonitoringQueriesUseExportedSeries(t *testing.T) {
	exported := exportedSeries(t)
	exprs := monitoringQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("found only %d queries in the rules and the dashboard: %q", len(exprs), exprs)
	}
	in, err := json.Marshal(exprs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Binary(t, "promql-series"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("promql-series: %v\n%s", err, stderr.String())
	}
	var names map[string][]string
	if err := json.Unmarshal(out, &names); err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		if len(names[e]) == 0 {
			t.Errorf("%q reads no series", e)
		}
		for _, n := range names[e] {
			if !exported[n] {
				t.Errorf("%q reads %s, which hook serve does not export", e, n)
			}
		}
	}
}

// exportedSeries are the series names hook serve's registry exports: every
// family it describes, and the _bucket, _sum and _count series of its
// histograms and summaries. One sync (DittoFS refusing the connection) goes
// through the handler first, so that the histograms without a fixed label
// have a series whose type Gather reports.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	reg := newRegistry()
	cfg := serveConfig{urlTemplate: "http://127.0.0.1:{{.Port}}", timeout: 2 * time.Second, maxSyncs: 4, maxSyncBytes: 1 << 20}
	srv, _, err := newService(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	body := hooktest.Steady(hooktest.WithSpecField("controlPlane", map[string]any{"port": closed})).JSON()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("sync answered %d: %s", rec.Code, rec.Body)
	}

	exported := map[string]bool{"up": true}
	descs := make(chan *prometheus.Desc)
	go func() { reg.Describe(descs); close(descs) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no fqName in %s", d)
		}
		exported[m[1]] = true
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			exported[mf.GetName()+"_bucket"] = true
			fallthrough
		case dto.MetricType_SUMMARY:
			exported[mf.GetName()+"_sum"] = true
			exported[mf.GetName()+"_count"] = true
		}
	}
	for _, want := range []string{"dittofs_hook_build_info", "dittofs_hook_requests_total", "dittofs_hook_request_duration_seconds_bucket", "dittofs_hook_adapter_poll_failure_intervals_count", "go_goroutines", "process_resident_memory_bytes"} {
		if !exported[want] {
			t.Errorf("hook serve does not export %s", want)
		}
	}
	return exported
}

// monitoringQueries are the PromQL expressions of the alert rules and of
// the dashboard (its panels' targets and its variables' label_values), with
// Grafana's interval variables replaced by a duration.
func monitoringQueries(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(harness.RepoRoot(), "manifests", "components", "monitoring")
	b, err := os.ReadFile(filepath.Join(dir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Expr string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	b, err = os.ReadFile(filepath.Join(dir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_]+\)$`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				s, ok := x.(string)
				switch {
				case ok && k == "expr":
					exprs = append(exprs, s)
				case ok && k == "query" && labelValues.MatchString(s):
					exprs = append(exprs, labelValues.FindStringSubmatch(s)[1])
				default:
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	for i, e := range exprs {
		exprs[i] = grafana.Replace(e)
	}
	slices.Sort(exprs)
	return slices.Compact(exprs)
}
