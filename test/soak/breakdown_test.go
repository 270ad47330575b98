package soak

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

// The breakdown of the fleet's disables (issue 27): where the time from
// "DittoFS disabled an adapter" to "its Service is gone" goes, and what each
// change costs the API server. It is read from what the real components
// publish, before and after the disables: the hook's answer time (its
// dittofs_hook_request_duration_seconds histogram), Metacontroller's work
// queue (the workqueue_* histograms controller-runtime registers for its
// queues) and its own timing of the hook calls, the waits its client-go
// logged as "client-side throttling", and the API server's
// apiserver_request_total by verb and resource.

// scrapeTimeout is how long one read of a component's metrics may take
// (test/scale's reads, on loopback, allow 10 s).
const scrapeTimeout = 5 * time.Second

// breakdownPoint is what the breakdown reads at one moment.
type breakdownPoint struct {
	writes    map[string]int
	hooks     []promscrape.Series
	mc        promscrape.Series
	mcErr     error
	throttled []float64 // every wait Metacontroller's client logged, in seconds
}

var throttleWait = regexp.MustCompile(`Waited for ([0-9.]+)(m?s) due to client-side throttling`)

func (f *fleet) breakdownPoint(t *testing.T) breakdownPoint {
	p := breakdownPoint{writes: f.n.Writes()}
	for _, h := range f.hookPods(t) {
		s, err := promscrape.Scrape("http://"+h.ip+":9090/metrics", scrapeTimeout)
		if err != nil {
			t.Errorf("scrape hook replica %s: %v", h.name, err)
			continue
		}
		p.hooks = append(p.hooks, s)
	}
	// Metacontroller serves its metrics on :9999 in its pod (upstream's
	// --metrics-address default); the host is the node, which reaches pods.
	p.mc, p.mcErr = promscrape.Scrape("http://"+f.mc.IP()+":9999/metrics", scrapeTimeout)
	for _, file := range f.mc.Logs() {
		b, _ := os.ReadFile(file)
		for _, m := range throttleWait.FindAllStringSubmatch(string(b), -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			if m[2] == "ms" {
				v /= 1000
			}
			p.throttled = append(p.throttled, v)
		}
	}
	return p
}

// breakdown reports what happened between two points, across changes
// disables (ten at a time).
func (f *fleet) breakdown(t *testing.T, before, after breakdownPoint, changes int) {
	// Writes per change, by verb and resource: children, statuses, Events.
	var detail []string
	var children, statuses, events int
	for k, v := range diffWrites(before.writes, after.writes) {
		resource := k[strings.Index(k, " ")+1:]
		switch r := strings.SplitN(resource, "/", 2)[0]; {
		case resource == "dittoservers/status":
			statuses += v
		case r == "statefulsets" || r == "services" || r == "networkpolicies" || r == "configmaps" || r == "secrets" || r == "dittoservers":
			children += v
		case r == "events":
			events += v
		default:
			continue
		}
		detail = append(detail, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(detail)
	per := func(n int) string { return strconv.FormatFloat(float64(n)/float64(changes), 'f', 2, 64) }
	f.addFigure("breakdown: API writes per disable", fmt.Sprintf("%s to children, %s status writes, %s Events (%d disables: %s)",
		per(children), per(statuses), per(events), changes, strings.Join(detail, ", ")))

	var sync promscrape.Hist
	for i := range min(len(before.hooks), len(after.hooks)) {
		sync.Add(before.hooks[i], after.hooks[i], "dittofs_hook_request_duration_seconds", `hook="sync"`)
	}
	f.addFigure("breakdown: the hook's answer to /sync (its histogram, both replicas)", sync.Summary(0.99))

	if after.mcErr != nil || before.mcErr != nil {
		t.Errorf("Metacontroller's metrics: %v %v", before.mcErr, after.mcErr)
	} else {
		f.addFigure("breakdown: Metacontroller's queue wait (workqueue_queue_duration_seconds)",
			promscrape.Histogram(before.mc, after.mc, "workqueue_queue_duration_seconds", `name="CompositeController-`).Summary(0.99))
		f.addFigure("breakdown: Metacontroller's sync of one DittoServer (workqueue_work_duration_seconds)",
			promscrape.Histogram(before.mc, after.mc, "workqueue_work_duration_seconds", `name="CompositeController-`).Summary(0.99))
		f.addFigure("breakdown: Metacontroller's hook calls as it timed them (metacontroller_sync_request_duration_histogram_seconds)",
			promscrape.Histogram(before.mc, after.mc, "metacontroller_sync_request_duration_histogram_seconds").Summary(0.99))
		f.addFigure("breakdown: Metacontroller's API requests (rest_client_requests_total)", strings.Join(restRequests(before.mc, after.mc, 0), ", "))
	}
	waits := after.throttled[min(len(before.throttled), len(after.throttled)):]
	var total, longest float64
	for _, w := range waits {
		total += w
		longest = max(longest, w)
	}
	f.addFigure("breakdown: Metacontroller's client-side throttling (waits its client-go logged)", fmt.Sprintf("%d waits, %.1f s in all, longest %.1f s", len(waits), total, longest))
}

// restRequests are the API requests a client-go client made between two
// scrapes (rest_client_requests_total), by method and code: "GET 200 ×12",
// or per second over window when it is not 0.
func restRequests(before, after promscrape.Series, window time.Duration) []string {
	sum := map[string]float64{}
	re := regexp.MustCompile(`code="([^"]*)".*method="([^"]*)"`)
	for k, v := range after {
		if !strings.HasPrefix(k, "rest_client_requests_total{") {
			continue
		}
		if m := re.FindStringSubmatch(k); m != nil {
			sum[m[2]+" "+m[1]] += v - before[k]
		}
	}
	var out []string
	for k, v := range sum {
		switch {
		case v <= 0:
		case window > 0:
			out = append(out, fmt.Sprintf("%s %.1f/s", k, v/window.Seconds()))
		default:
			out = append(out, fmt.Sprintf("%s ×%.0f", k, v))
		}
	}
	sort.Strings(out)
	return out
}
