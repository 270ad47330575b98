package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/hook/server"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

const (
	serviceMonitor = "ServiceMonitor dittofs-system/dittofs-hook"
	prometheusRule = "PrometheusRule dittofs-system/dittofs-hook"
	dashboard      = "ConfigMap dittofs-system/dittofs-hook-dashboard"
)

// monitoringValues turn on every monitoring piece of the chart.
const monitoringValues = "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true"

// TestMonitoring: manifests/components/monitoring and the chart's
// monitoring.* values render the same ServiceMonitor (the chart's selector
// also names its release), alert rules and dashboard; by default neither
// renders any of them (their CRDs may be absent). The ServiceMonitor selects
// the hook's Service by labels it carries, on its metrics port; the
// dashboard's ConfigMap carries the Grafana sidecar's label.
func TestMonitoring(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	kust := objects(t, run(t, kubectl, "kustomize", overlay(t, "monitoring")))
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", monitoringValues))
	for _, key := range []string{serviceMonitor, prometheusRule, dashboard} {
		if kust[key] == nil || chart[key] == nil {
			t.Fatalf("no %s (kustomize: %t, chart: %t)", key, kust[key] != nil, chart[key] != nil)
		}
	}
	for name, objs := range map[string]map[string]map[string]any{
		"kustomize": objects(t, run(t, kubectl, "kustomize", "manifests")),
		"chart":     objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system")),
	} {
		for _, key := range []string{serviceMonitor, prometheusRule, dashboard} {
			if objs[key] != nil {
				t.Errorf("%s renders %s by default", name, key)
			}
		}
	}

	if d := cmp.Diff(dig(kust[serviceMonitor], "spec", "endpoints"), dig(chart[serviceMonitor], "spec", "endpoints")); d != "" {
		t.Errorf("ServiceMonitor endpoints differ (-kustomize +helm):\n%s", d)
	}
	for name, objs := range map[string]map[string]map[string]any{"kustomize": kust, "chart": chart} {
		selector, _ := dig(objs[serviceMonitor], "spec", "selector", "matchLabels").(map[string]any)
		svc, _ := dig(objs["Service dittofs-system/dittofs-hook"], "metadata", "labels").(map[string]any)
		if len(selector) == 0 {
			t.Errorf("%s: the ServiceMonitor selects every Service", name)
		}
		for k, v := range selector {
			if svc[k] != v {
				t.Errorf("%s: the ServiceMonitor selects %s=%v, the hook's Service has %v", name, k, v, svc[k])
			}
		}
		ports, _ := dig(objs["Service dittofs-system/dittofs-hook"], "spec", "ports").([]any)
		if !strings.Contains(str(dig(objs[serviceMonitor], "spec", "endpoints").([]any)[0].(map[string]any)["port"]), "metrics") || len(ports) < 2 || ports[1].(map[string]any)["name"] != "metrics" {
			t.Errorf("%s: the ServiceMonitor does not scrape the Service's metrics port", name)
		}
		if l, _ := dig(objs[dashboard], "metadata", "labels").(map[string]any); l["grafana_dashboard"] != "1" {
			t.Errorf("%s: the dashboard's ConfigMap lacks the Grafana sidecar's label grafana_dashboard: \"1\" (%v)", name, l)
		}
	}
	for k, v := range dig(kust[serviceMonitor], "spec", "selector", "matchLabels").(map[string]any) {
		if dig(chart[serviceMonitor], "spec", "selector", "matchLabels").(map[string]any)[k] != v {
			t.Errorf("the chart's ServiceMonitor does not select %s=%v as kustomize's does", k, v)
		}
	}
	if d := cmp.Diff(kust[prometheusRule]["spec"], chart[prometheusRule]["spec"]); d != "" {
		t.Errorf("alert rules differ (-kustomize +helm):\n%s", d)
	}
	if d := cmp.Diff(kust[dashboard]["data"], chart[dashboard]["data"]); d != "" {
		t.Errorf("dashboard differs (-kustomize +helm):\n%s", d)
	}
	component, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "manifests", "components", "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "charts", "dittofs-hook", "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(component, copied) {
		t.Error("charts/dittofs-hook/files/dashboard.json differs from manifests/components/monitoring/dashboard.json; copy it: cp manifests/components/monitoring/dashboard.json charts/dittofs-hook/files/")
	}

	// The threshold of DittoFSUnreachable is a value, one of the buckets.
	ten := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", monitoringValues+",monitoring.prometheusRule.dittofsFailingIntervals=10"))
	b, _ := json.Marshal(ten[prometheusRule]["spec"])
	if !strings.Contains(string(b), `le=~\"10(\\\\.0)?\"`) || !strings.Contains(string(b), "more than 10 polling intervals") {
		t.Errorf("monitoring.prometheusRule.dittofsFailingIntervals=10 does not reach the rule: %s", b)
	}
}

// TestAlertRules runs promtool check rules and promtool test rules
// (testdata/alerts_test.yaml) on the alert rules as kustomize and the chart
// render them.
func TestAlertRules(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	promtool := harness.Binary(t, "promtool")
	tests, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "test", "helm", "testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, objs := range map[string]map[string]map[string]any{
		"kustomize": objects(t, run(t, kubectl, "kustomize", overlay(t, "monitoring"))),
		"chart":     objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", monitoringValues)),
	} {
		t.Run(name, func(t *testing.T) {
			rules, err := yaml.Marshal(objs[prometheusRule]["spec"])
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
				cmd := exec.Command(promtool, args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// TestValuesSchema: values.schema.json refuses a value of the wrong type or
// an unknown key in helm lint and helm template, and accepts the defaults
// and the values the other tests set; the DittoFSUnreachable threshold may
// only be one of the hook's histogram buckets.
func TestValuesSchema(t *testing.T) {
	helm := harness.Binary(t, "helm")
	for _, bad := range []struct{ set, want string }{
		{"replicaCount=two", "/replicaCount"},
		{"events.enabled=yes", "/events/enabled"},
		{"hook.logLevel=loud", "/hook/logLevel"},
		{"hook.dittofsTimeout=soon", "/hook/dittofsTimeout"},
		{"networkPolicy.dittofsAPIPorts={70000}", "/networkPolicy/dittofsAPIPorts/0"},
		{"monitoring.prometheusRule.dittofsFailingIntervals=4", "/monitoring/prometheusRule/dittofsFailingIntervals"},
		{"monitoring.serviceMonitr.enabled=true", "serviceMonitr"},
	} {
		for _, cmd := range [][]string{
			{"lint", "--strict", "charts/dittofs-hook", "--set", bad.set},
			{"template", "dittofs-hook", "charts/dittofs-hook", "--set", bad.set},
		} {
			c := exec.Command(helm, cmd...)
			c.Dir = harness.RepoRoot()
			out, err := c.CombinedOutput()
			if err == nil || !strings.Contains(string(out), bad.want) {
				t.Errorf("helm %s --set %s: %v; want a schema error naming %s:\n%s", cmd[0], bad.set, err, bad.want, out)
			}
		}
	}
	var schema struct {
		Properties struct {
			Monitoring struct {
				Properties struct {
					PrometheusRule struct {
						Properties struct {
							Threshold struct {
								Enum []float64 `json:"enum"`
							} `json:"dittofsFailingIntervals"`
						} `json:"properties"`
					} `json:"prometheusRule"`
				} `json:"properties"`
			} `json:"monitoring"`
		} `json:"properties"`
	}
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "charts", "dittofs-hook", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(server.FailureIntervalBuckets, schema.Properties.Monitoring.Properties.PrometheusRule.Properties.Threshold.Enum); d != "" {
		t.Errorf("monitoring.prometheusRule.dittofsFailingIntervals may be other than the buckets of dittofs_hook_adapter_poll_failure_intervals (-buckets +schema):\n%s", d)
	}
}
