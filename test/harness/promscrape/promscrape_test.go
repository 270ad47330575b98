package promscrape

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// before and after are two scrapes of one endpoint, in the text format the
// hook and client-go write: comments, labels, a histogram of two label sets
// with its +Inf bucket (the customize one unchanged between the two), a
// counter written twice, a series new in the second scrape, a NaN, and
// lines that are no sample. The second writes the sync histogram in
// another order: the reading does not depend on it.
const unchanged = `# HELP dittofs_hook_request_duration_seconds How long the hook took to answer.
# TYPE dittofs_hook_request_duration_seconds histogram
dittofs_hook_request_duration_seconds_bucket{hook="customize",le="0.01"} 5
dittofs_hook_request_duration_seconds_bucket{hook="customize",le="0.1"} 5
dittofs_hook_request_duration_seconds_bucket{hook="customize",le="1"} 5
dittofs_hook_request_duration_seconds_bucket{hook="customize",le="+Inf"} 5
dittofs_hook_request_duration_seconds_sum{hook="customize"} 0.01
dittofs_hook_request_duration_seconds_count{hook="customize"} 5
dittofs_hook_requests_total{hook="customize",outcome="ok"} 5
`

const before = unchanged + `dittofs_hook_request_duration_seconds_bucket{hook="sync",le="0.01"} 1
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="0.1"} 2
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="1"} 2
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="+Inf"} 2
dittofs_hook_request_duration_seconds_sum{hook="sync"} 0.05
dittofs_hook_request_duration_seconds_count{hook="sync"} 2
dittofs_hook_requests_total{hook="sync",outcome="ok"} 2
`

const after = unchanged + `dittofs_hook_request_duration_seconds_count{hook="sync"} 102
dittofs_hook_request_duration_seconds_sum{hook="sync"} 5.05
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="+Inf"} 102
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="1"} 101
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="0.1"} 92
dittofs_hook_request_duration_seconds_bucket{hook="sync",le="0.01"} 41
dittofs_hook_requests_total{hook="sync",outcome="ok"} 90
dittofs_hook_requests_total{hook="sync",outcome="error"} 12

dittofs_hook_resync_lag_seconds 0.25
dittofs_hook_resync_lag_seconds 0.5
go_gc_duration_seconds{quantile="0.5"} NaN
not_a_sample
broken_sample{a="b"} twelve
`

func parse(t *testing.T, text string) Series {
	t.Helper()
	s, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParse(t *testing.T) {
	s := parse(t, after)
	for key, want := range map[string]float64{
		`dittofs_hook_request_duration_seconds_bucket{hook="sync",le="+Inf"}`: 102,
		`dittofs_hook_request_duration_seconds_sum{hook="sync"}`:              5.05,
		`dittofs_hook_requests_total{hook="sync",outcome="error"}`:            12,
		// written twice: added
		`dittofs_hook_resync_lag_seconds`: 0.75,
	} {
		if got, ok := s[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if v, ok := s[`go_gc_duration_seconds{quantile="0.5"}`]; !ok || !math.IsNaN(v) {
		t.Errorf("a NaN sample = %v (present %v), want NaN", v, ok)
	}
	for _, key := range []string{"not_a_sample", `broken_sample{a="b"}`, "# HELP dittofs_hook_request_duration_seconds How long the hook took to answer."} {
		if _, ok := s[key]; ok {
			t.Errorf("%q read as a sample", key)
		}
	}
	if len(s) != 17 {
		t.Errorf("%d samples, want 17: %v", len(s), s)
	}
}

func TestSum(t *testing.T) {
	b, a := parse(t, before), parse(t, after)
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"dittofs_hook_requests_total", nil, 107 - 7},
		{"dittofs_hook_requests_total", []string{`hook="sync"`}, 102 - 2},
		{"dittofs_hook_requests_total", []string{`hook="sync"`, `outcome="error"`}, 12},
		{"dittofs_hook_requests_total", []string{`hook="render"`}, 0},
		// a name is matched whole, not as a prefix
		{"dittofs_hook_requests", nil, 0},
	} {
		if got := Sum(b, a, c.name, c.match...); got != c.want {
			t.Errorf("Sum(%s, %q) = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	// Against nothing: the scrape's own values.
	if got := Sum(nil, a, "dittofs_hook_resync_lag_seconds", ""); got != 0.75 {
		t.Errorf("Sum(nil, …) = %v, want 0.75", got)
	}
}

func TestHistogram(t *testing.T) {
	b, a := parse(t, before), parse(t, after)
	const name = "dittofs_hook_request_duration_seconds"
	h := Histogram(b, a, name, `hook="sync"`)
	if h.Count != 100 || math.Abs(h.Sum-5) > 1e-9 {
		t.Errorf("count %v, sum %v; want 100, 5", h.Count, h.Sum)
	}
	wantBuckets := map[float64]float64{0.01: 40, 0.1: 90, 1: 99, math.Inf(1): 100}
	if len(h.Buckets) != len(wantBuckets) {
		t.Errorf("buckets %v, want %v", h.Buckets, wantBuckets)
	}
	for le, want := range wantBuckets {
		if h.Buckets[le] != want {
			t.Errorf("bucket le=%v: %v, want %v", le, h.Buckets[le], want)
		}
	}
	for _, c := range []struct {
		q, want float64
	}{
		{0, 0.01},
		{0.4, 0.01}, // 40 of 100 reach it exactly
		{0.41, 0.1}, // one more does not
		{0.5, 0.1},  // 50 ≤ 90
		{0.9, 0.1},  // 90 ≤ 90
		{0.99, 1},   // 99 ≤ 99
		{0.995, math.Inf(1)},
		{1, math.Inf(1)}, // the last observation is only under +Inf
	} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	// The summaries test/scale (p50 and p99) and test/soak (p99) write.
	for _, c := range []struct {
		qs   []float64
		want string
	}{
		{[]float64{0.5, 0.99}, "100, mean 0.050 s, p50 ≤ 0.1 s, p99 ≤ 1 s"},
		{[]float64{0.99}, "100, mean 0.050 s, p99 ≤ 1 s"},
		{[]float64{1}, "100, mean 0.050 s, p100 ≤ +Inf s"},
	} {
		if got := h.Summary(c.qs...); got != c.want {
			t.Errorf("Summary(%v) = %q, want %q", c.qs, got, c.want)
		}
	}
	// The customize series did not change.
	if got := Histogram(b, a, name, `hook="customize"`).Summary(0.99); got != "none observed" {
		t.Errorf("an unchanged histogram: %q", got)
	}

	// Two replicas' changes added: the zero Hist takes them.
	var two Hist
	two.Add(b, a, name, `hook="sync"`)
	two.Add(b, a, name, `hook="sync"`)
	if two.Count != 200 || two.Buckets[0.1] != 180 || two.Quantile(0.5) != 0.1 {
		t.Errorf("two replicas: count %v, buckets %v, p50 %v", two.Count, two.Buckets, two.Quantile(0.5))
	}
	// No buckets at all: every quantile is unbounded.
	if got := (Hist{Count: 3}).Quantile(0.5); !math.IsInf(got, 1) {
		t.Errorf("no buckets: Quantile(0.5) = %v, want +Inf", got)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(after))
	}))
	defer srv.Close()
	s, err := Scrape(srv.URL+"/metrics", 5*time.Second)
	if err != nil || s[`dittofs_hook_requests_total{hook="sync",outcome="ok"}`] != 90 {
		t.Errorf("Scrape: %v, %v", s, err)
	}
	if _, err := Scrape(srv.URL+"/other", 5*time.Second); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404 read as a scrape: %v", err)
	}
}
