package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

// BenchmarkIgnoreStatusChanges measures what Metacontroller's
// spec.parentResource.ignoreStatusChanges changes, on the e2e tier's host
// setup (a real kube-apiserver, the real Metacontroller v4.17.2, the real
// hook and a real DittoFS on loopback), once without it and once with it:
// hook syncs and DittoFS calls per minute at steady state and across
// status transitions (smb disabled through DittoFS's API, DittoFS stopped
// and started again), and the disable → Service gone latency.
//
// A benchmark, so the e2e tier (go test without -bench) never runs it:
//
//	nice -n 19 go test -run '^$' -bench IgnoreStatusChanges -benchtime 1x -timeout 30m ./test/e2e/
func BenchmarkIgnoreStatusChanges(b *testing.B) {
	for _, ignore := range []bool{false, true} {
		b.Run(fmt.Sprintf("ignoreStatusChanges=%t", ignore), func(b *testing.B) {
			for range b.N {
				measureStatusChanges(b, ignore)
			}
		})
	}
}

// hookCounts are the hook's own counters: sync calls answered, and calls
// to DittoFS's API (every endpoint, every outcome).
func hookCounts(b *testing.B, url string) (syncs, dittofs float64) {
	s, err := promscrape.Scrape(url+"/metrics", 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return promscrape.Sum(nil, s, "dittofs_hook_requests_total", `hook="sync"`), promscrape.Sum(nil, s, "dittofs_hook_dittofs_requests_total")
}

func measureStatusChanges(b *testing.B, ignore bool) {
	const name, nsm = "demo", "bench"
	dir, err := os.MkdirTemp("", "dittofs-hook-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	c := cluster.Start(b, dir, controller.MetacontrollerCRDs(b), filepath.Join(harness.RepoRoot(), "manifests", "crd"))
	bin := harness.BuildHook(b, dir)
	_, tokenFile := controller.CreateHookToken(b, c, dir)
	c.Kubectl("create", "namespace", nsm)
	port := harness.FreePort(b)
	url := harness.URL(port, "")
	hook := harness.Start(b, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "5s", "--log-format", "text",
		"--events=false", "--auth-token-file", tokenFile)
	hook.WaitHTTP(b, url+"/readyz", 10*time.Second)
	controller.ApplyCompositeController(b, c, dir, url)
	if ignore {
		c.Kubectl("patch", "compositecontroller", "dittofs-hook", "--type=merge", "-p", `{"spec":{"parentResource":{"ignoreStatusChanges":true}}}`)
	}
	b.Logf("bench: CompositeController parentResource %s", c.Kubectl("get", "compositecontroller", "dittofs-hook", "-o", "jsonpath={.spec.parentResource}"))
	mc := controller.StartMetacontroller(b, c, dir, "dynamic-apply")

	dfsPort := harness.FreePort(b)
	spec := fmt.Sprintf(`apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: %s
  namespace: %s
spec:
  storage:
    metadataSize: 1Gi
  controlPlane:
    port: %d
  adapterServices:
    type: NodePort
  adapterDiscovery:
    pollingInterval: %s
`, name, nsm, dfsPort, pollingInterval)
	f := filepath.Join(dir, "demo.yaml")
	_ = os.WriteFile(f, []byte(spec), 0o644)
	c.Kubectl("apply", "-f", f)
	get := func(path string) bool { code, _ := c.Do("GET", path, "", nil); return code == http.StatusOK }
	svc := func(n string) string { return "/api/v1/namespaces/" + nsm + "/services/" + n }
	wait := func(timeout time.Duration, what string, cond func() bool) time.Duration {
		start := time.Now()
		for !cond() {
			if time.Since(start) > timeout {
				b.Fatalf("%s: not within %s", what, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	wait(60*time.Second, "StatefulSet and Secrets", func() bool {
		return get("/apis/apps/v1/namespaces/"+nsm+"/statefulsets/"+name) && get("/api/v1/namespaces/"+nsm+"/secrets/"+name+"-admin-bootstrap-credentials")
	})
	pw, err := c.KubectlErr("get", "secret", name+"-admin-bootstrap-credentials", "-n", nsm, "-o", "jsonpath={.data.password}")
	if err != nil {
		b.Fatal(err)
	}
	admin, err := base64.StdEncoding.DecodeString(pw)
	if err != nil {
		b.Fatal(err)
	}
	dfs := dittofstest.StartDittoFS(b, dittofstest.DittoFSOptions{AdminPassword: string(admin), LogDir: dir, Port: dfsPort})
	c.MarkStatefulSetReady(nsm, name)
	ready := func() bool {
		return c.Kubectl("get", "dittoserver", name, "-n", nsm, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`) == "True"
	}
	wait(90*time.Second, "Ready", func() bool { return get(svc(name+"-adapter-smb")) && ready() })
	time.Sleep(2 * pollingInterval) // settle

	const window = 60 * time.Second
	perMinute := func(d float64, took time.Duration) float64 { return d * float64(time.Minute) / float64(took) }

	// Steady state.
	s0, d0 := hookCounts(b, url)
	start := time.Now()
	time.Sleep(window)
	s1, d1 := hookCounts(b, url)
	took := time.Since(start)
	steadySyncs, steadyCalls := perMinute(s1-s0, took), perMinute(d1-d0, took)

	// Transitions: smb disabled through DittoFS's API (its Service goes,
	// then its policy) and enabled again (its policy, then its Service),
	// cycles times, then DittoFS stopped for 20 s (APIUnreachable) and
	// started again (recovered). Each latency depends on where in the
	// polling interval the change lands: several samples.
	const cycles = 5
	s0, d0 = hookCounts(b, url)
	start = time.Now()
	var gone, back []time.Duration
	for range cycles {
		dfs.SetAdapter("smb", map[string]any{"enabled": false})
		gone = append(gone, wait(window, "smb Service gone", func() bool { return !get(svc(name + "-adapter-smb")) }))
		time.Sleep(time.Second)
		dfs.SetAdapter("smb", map[string]any{"enabled": true})
		back = append(back, wait(window, "smb Service back", func() bool { return get(svc(name + "-adapter-smb")) }))
		time.Sleep(time.Second)
	}
	dfs.Stop()
	time.Sleep(20 * time.Second)
	dfs.Restart()
	recovered := wait(window, "recovered", func() bool {
		return c.Kubectl("get", "dittoserver", name, "-n", nsm, "-o", `jsonpath={.status.conditions[?(@.type=="AdaptersDiscovered")].status}`) == "True"
	})
	time.Sleep(2 * pollingInterval)
	s1, d1 = hookCounts(b, url)
	took = time.Since(start)
	transSyncs, transCalls := perMinute(s1-s0, took), perMinute(d1-d0, took)
	stats := func(ds []time.Duration) (mean, most time.Duration) {
		for _, d := range ds {
			mean += d / time.Duration(len(ds))
			most = max(most, d)
		}
		return mean.Round(time.Millisecond), most.Round(time.Millisecond)
	}
	goneMean, goneMax := stats(gone)
	backMean, backMax := stats(back)

	b.Logf("bench: ignoreStatusChanges=%t: steady %.1f syncs/min, %.1f DittoFS calls/min; transitions (%s) %.1f syncs/min, %.1f DittoFS calls/min; "+
		"smb disabled → Service gone mean %s max %s %v; enabled → Service back mean %s max %s %v; DittoFS restarted → AdaptersDiscovered True in %s (polling interval %s)",
		ignore, steadySyncs, steadyCalls, took.Round(time.Second), transSyncs, transCalls, goneMean, goneMax, gone, backMean, backMax, back, recovered.Round(time.Millisecond), pollingInterval)
	b.ReportMetric(steadySyncs, "steady-syncs/min")
	b.ReportMetric(steadyCalls, "steady-dittofs-calls/min")
	b.ReportMetric(transSyncs, "transition-syncs/min")
	b.ReportMetric(transCalls, "transition-dittofs-calls/min")
	b.ReportMetric(goneMean.Seconds(), "disable-to-service-gone-s")
	b.ReportMetric(backMean.Seconds(), "enable-to-service-back-s")
	b.ReportMetric(recovered.Seconds(), "restart-to-recovered-s")
	if errs := mc.Errors(); len(errs) > 0 {
		b.Logf("bench: Metacontroller errors:\n%s", strings.Join(errs, "\n"))
	}
}
