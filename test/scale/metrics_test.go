//go:build scale

package scale

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// series is one scrape of a Prometheus text endpoint: each sample by its
// name and labels as written ("name{a=\"b\"}"). The soak's breakdown reads
// the same metrics from pods on the node (test/soak/breakdown_test.go);
// here every component is a process on loopback, so the reading is kept
// apart rather than shared across the two build configurations.
type series map[string]float64

// scrape reads a Prometheus text endpoint over plain HTTP.
func scrape(url string) (series, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseSeries(resp.Body)
}

// parseSeries reads the Prometheus text format.
func parseSeries(r io.Reader) (series, error) {
	out := series{}
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

// sum adds the change between two scrapes of every sample of name whose
// labels contain each of match.
func sum(before, after series, name string, match ...string) float64 {
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

// hist is a histogram's change between two scrapes, summed over the series
// of one name whose labels contain every one of match.
type hist struct {
	count, sum float64
	buckets    map[float64]float64 // le → cumulative count
}

var leLabel = regexp.MustCompile(`le="([^"]+)"`)

func histogram(before, after series, name string, match ...string) hist {
	h := hist{buckets: map[float64]float64{}}
	h.add(before, after, name, match...)
	return h
}

// add adds another endpoint's change (a second hook replica's) to h.
func (h *hist) add(before, after series, name string, match ...string) {
	for k, v := range after {
		base, labels, _ := strings.Cut(k, "{")
		if !containsAll(labels, match) {
			continue
		}
		d := v - before[k]
		switch base {
		case name + "_count":
			h.count += d
		case name + "_sum":
			h.sum += d
		case name + "_bucket":
			le := leLabel.FindStringSubmatch(labels)
			if le == nil {
				continue
			}
			if b, err := strconv.ParseFloat(le[1], 64); err == nil {
				h.buckets[b] += d
			}
		}
	}
}

// quantile is the upper bound of the bucket holding the q-quantile.
func (h hist) quantile(q float64) float64 {
	var les []float64
	for le := range h.buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	for _, le := range les {
		if h.buckets[le] >= q*h.count {
			return le
		}
	}
	return math.Inf(1)
}

func (h hist) String() string {
	if h.count == 0 {
		return "none observed"
	}
	return fmt.Sprintf("%.0f, mean %.3f s, p50 ≤ %s s, p99 ≤ %s s", h.count, h.sum/h.count,
		strconv.FormatFloat(h.quantile(0.5), 'g', -1, 64), strconv.FormatFloat(h.quantile(0.99), 'g', -1, 64))
}

// requestsBy sums the change of a request counter (the API server's
// apiserver_request_total, client-go's rest_client_requests_total) by the
// values of the labels named, e.g. "verb" or "method" and "code": "GET 200
// ×12", or per second over window when it is not 0.
func requestsBy(before, after series, name string, window time.Duration, labels ...string) []string {
	out := map[string]float64{}
	for k, v := range after {
		base, ls, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		var key []string
		for _, l := range labels {
			m := regexp.MustCompile(`(?:^|,)` + l + `="([^"]*)"`).FindStringSubmatch(ls)
			if m == nil {
				key = append(key, "?")
				continue
			}
			key = append(key, m[1])
		}
		out[strings.Join(key, " ")] += v - before[k]
	}
	var lines []string
	var total float64
	for k, v := range out {
		if v <= 0 {
			continue
		}
		total += v
		if window > 0 {
			lines = append(lines, fmt.Sprintf("%s %.1f/s", k, v/window.Seconds()))
		} else {
			lines = append(lines, fmt.Sprintf("%s ×%.0f", k, v))
		}
	}
	sort.Strings(lines)
	if window > 0 {
		return append([]string{fmt.Sprintf("all %.1f/s", total/window.Seconds())}, lines...)
	}
	return append([]string{fmt.Sprintf("all ×%.0f", total)}, lines...)
}

// throttleWait is the line client-go logs when its rate limiter held a
// request (at klog's default level only for waits over 1 s; Metacontroller's
// --zap-log-level=4 shows the shorter ones too).
var throttleWait = regexp.MustCompile(`Waited for ([0-9.]+)(m?s) due to client-side throttling`)

// throttled are the waits a log file records, in seconds.
func throttled(file string) []float64 {
	b, _ := os.ReadFile(file)
	var out []float64
	for _, m := range throttleWait.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		if string(m[2]) == "ms" {
			v /= 1000
		}
		out = append(out, v)
	}
	return out
}

// cpuSeconds is the CPU time a process used so far (user + system, from
// /proc/<pid>/stat; clock ticks of 1/100 s, Linux's USER_HZ).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return (utime + stime) / 100, nil
}

// statusKiB reads a field of /proc/<pid>/status in kB (VmRSS, VmHWM).
func statusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

// meminfoKiB reads a field of /proc/meminfo in kB (MemAvailable).
func meminfoKiB(field string) int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
