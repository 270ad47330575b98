//go:build scale

package scale

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

// requestsBy sums the change of a request counter (the API server's
// apiserver_request_total, client-go's rest_client_requests_total) by the
// values of the labels named, e.g. "verb" or "method" and "code": "GET 200
// ×12", or per second over window when it is not 0.
func requestsBy(before, after promscrape.Series, name string, window time.Duration, labels ...string) []string {
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
