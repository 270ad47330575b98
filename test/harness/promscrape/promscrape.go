package promscrape

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one scrape of a Prometheus text endpoint: each sample by its
// name and labels as written ("name{a=\"b\"}").
type Series map[string]float64

// Scrape reads a Prometheus text endpoint over plain HTTP, within timeout;
// an answer other than 200 is an error.
func Scrape(url string, timeout time.Duration) (Series, error) {
	resp, err := (&http.Client{Timeout: timeout}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return Parse(resp.Body)
}

// Parse reads the Prometheus text format: every line "key value" (the key
// being the name and labels as written), comments and blank lines skipped,
// a value that is no float (strconv.ParseFloat: "NaN" and "+Inf" are) left
// out, and the values of a key written twice added. On a read error it
// returns what it read so far with the error.
func Parse(r io.Reader) (Series, error) {
	out := Series{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndex(line, " ")
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] += v
		}
	}
	return out, sc.Err()
}

// Sum adds the change between two scrapes of every sample of name whose
// labels contain each of match (as substrings: `hook="sync"`). A sample
// missing from before counts from 0, so Sum(nil, s, …) sums s itself.
func Sum(before, after Series, name string, match ...string) float64 {
	var s float64
	for k, v := range after {
		base, labels, _ := strings.Cut(k, "{")
		if base != name || !containsAll(labels, match) {
			continue
		}
		s += v - before[k]
	}
	return s
}

func containsAll(s string, subs []string) bool {
	for _, m := range subs {
		if !strings.Contains(s, m) {
			return false
		}
	}
	return true
}

// Hist is a histogram's change between two scrapes (or more: Add), summed
// over the series of one name whose labels contain every one of match.
type Hist struct {
	Count, Sum float64
	// Buckets: each bucket's upper bound (its le label) → its cumulative
	// count, +Inf included.
	Buckets map[float64]float64
}

var leLabel = regexp.MustCompile(`le="([^"]+)"`)

// Histogram is the change of histogram name (its name_count, name_sum and
// name_bucket samples) between two scrapes, over the series whose labels
// contain each of match.
func Histogram(before, after Series, name string, match ...string) Hist {
	h := Hist{Buckets: map[float64]float64{}}
	h.Add(before, after, name, match...)
	return h
}

// Add adds another endpoint's change (a second hook replica's) to h. The
// zero Hist is ready to add to.
func (h *Hist) Add(before, after Series, name string, match ...string) {
	if h.Buckets == nil {
		h.Buckets = map[float64]float64{}
	}
	for k, v := range after {
		base, labels, _ := strings.Cut(k, "{")
		if !containsAll(labels, match) {
			continue
		}
		d := v - before[k]
		switch base {
		case name + "_count":
			h.Count += d
		case name + "_sum":
			h.Sum += d
		case name + "_bucket":
			le := leLabel.FindStringSubmatch(labels)
			if le == nil {
				continue
			}
			if b, err := strconv.ParseFloat(le[1], 64); err == nil {
				h.Buckets[b] += d
			}
		}
	}
}

// Quantile is the upper bound of the bucket holding the q-quantile: the
// smallest bound whose cumulative count reaches q × Count; +Inf when none
// does (no buckets, or a Count the buckets do not reach).
func (h Hist) Quantile(q float64) float64 {
	var les []float64
	for le := range h.Buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	for _, le := range les {
		if h.Buckets[le] >= q*h.Count {
			return le
		}
	}
	return math.Inf(1)
}

// Summary says how many were observed, their mean in seconds and the bound
// of each quantile asked for: "12, mean 0.034 s, p50 ≤ 0.025 s, p99 ≤ 0.1 s";
// "none observed" when the count did not change.
func (h Hist) Summary(quantiles ...float64) string {
	if h.Count == 0 {
		return "none observed"
	}
	s := fmt.Sprintf("%.0f, mean %.3f s", h.Count, h.Sum/h.Count)
	for _, q := range quantiles {
		s += fmt.Sprintf(", p%s ≤ %s s", strconv.FormatFloat(q*100, 'f', -1, 64), strconv.FormatFloat(h.Quantile(q), 'g', -1, 64))
	}
	return s
}
