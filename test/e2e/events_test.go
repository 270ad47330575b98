package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

// reportingController is the hook's name in its Events.
const reportingController = "dittofs.dittofs.com/dittofs-hook"

// recordedEvent is an events.k8s.io/v1 Event as the API server stores it.
type recordedEvent struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Reason              string     `json:"reason"`
	Type                string     `json:"type"`
	Action              string     `json:"action"`
	Note                string     `json:"note"`
	ReportingController string     `json:"reportingController"`
	ReportingInstance   string     `json:"reportingInstance"`
	Regarding           reference  `json:"regarding"`
	Related             *reference `json:"related"`
	raw                 string
}

type reference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// recorded lists the Events the hook recorded in the test namespace, from
// the API server (Metacontroller's own are left out).
func (r *rig) recorded(t *testing.T) []recordedEvent {
	t.Helper()
	code, body := r.cluster.Do("GET", "/apis/events.k8s.io/v1/namespaces/"+ns+"/events", "", nil)
	if code != http.StatusOK {
		t.Fatalf("list events: %d %s", code, body)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	var out []recordedEvent
	for _, raw := range list.Items {
		var e recordedEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		e.raw = string(raw)
		if e.ReportingController == reportingController {
			out = append(out, e)
		}
	}
	return out
}

func countByReason(evs []recordedEvent) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Reason]++
	}
	return out
}

// expectEvents waits until the Events recorded so far are those of the
// steps before plus these (Events are sent after the answers, so they
// trail them a little), then checks that no more come in the next two
// seconds: each transition recorded exactly once.
func (r *rig) expectEvents(t *testing.T, step string, add map[string]int) {
	t.Helper()
	for reason, n := range add {
		r.events[reason] += n
	}
	want := map[string]int{}
	for k, v := range r.events {
		want[k] = v
	}
	var got map[string]int
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = countByReason(r.recorded(t))
		if cmp.Equal(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if cmp.Equal(want, got) {
		time.Sleep(2 * time.Second)
		got = countByReason(r.recorded(t))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("after %q, the Events recorded by reason (-want +got):\n%s", step, d)
	}
	t.Logf("e2e: events after %-52q %v", step, add)
}

// describe prints what a user sees (kubectl describe dittoserver, the
// README's excerpt comes from here) and keeps the Secrets' values for the
// last check.
func (r *rig) describe(t *testing.T) {
	out := r.cluster.Kubectl("describe", "dittoserver", "demo", "-n", ns)
	t.Logf("e2e: $ kubectl describe dittoserver demo -n %s\n%s", ns, out)
	// kubectl describe orders Events by lastTimestamp, which an
	// events.k8s.io/v1 Event may not set; kubectl events orders them by
	// eventTime.
	t.Logf("e2e: $ kubectl events -n %s --for dittoserver/demo\n%s", ns, r.cluster.Kubectl("events", "-n", ns, "--for", "dittoserver/demo"))
	i := strings.Index(out, "Events:")
	if i < 0 {
		t.Fatalf("kubectl describe shows no Events section")
	}
	sc := bufio.NewScanner(strings.NewReader(out[i:]))
	seen := map[string]bool{}
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 2 {
			seen[f[1]] = true
		}
	}
	for reason := range r.events {
		if !seen[reason] {
			t.Errorf("kubectl describe does not show the %s Event", reason)
		}
	}
	code, body := r.cluster.Do("GET", "/api/v1/namespaces/"+ns+"/secrets", "", nil)
	if code != http.StatusOK {
		t.Fatalf("list secrets: %d", code)
	}
	var secrets struct {
		Items []struct {
			Data map[string]string `json:"data"`
		} `json:"items"`
	}
	_ = json.Unmarshal(body, &secrets)
	for _, sec := range secrets.Items {
		for k, v := range sec.Data {
			if b, err := base64.StdEncoding.DecodeString(v); err == nil && k != "username" && len(b) >= 8 {
				r.secrets = append(r.secrets, string(b))
			}
		}
	}
	if len(r.secrets) < 3 {
		t.Fatalf("read %d secret values, want the jwt, admin and operator ones", len(r.secrets))
	}
}

// eventsRecorded checks every Event the run recorded: about the
// DittoServer (regarding, with its UID), with the child it concerns as
// related where there is one, one line, no Secret's value in any field;
// and prints the counts, and the replicas' own count of created and
// duplicate Events (a duplicate is a transition another call recorded).
func (r *rig) eventsRecorded(t *testing.T) {
	evs := r.recorded(t)
	related := map[string]string{
		"AdapterServiceCreated": "Service", "AdapterServiceDeleted": "Service", "AdapterServiceUpdated": "Service",
		"AdapterNetworkPolicyCreated": "NetworkPolicy", "AdapterNetworkPolicyDeleted": "NetworkPolicy",
		"LoadBalancerPending": "Service", "LoadBalancerAssigned": "Service",
		"AuthAPIUnreachable": "Service", "DittoFSRecovered": "Service", "AuthProvisioned": "Secret",
	}
	for _, e := range evs {
		if e.Regarding.Kind != "DittoServer" || e.Regarding.Name != "demo" || e.Regarding.Namespace != ns || e.Regarding.UID == "" || !strings.HasPrefix(e.Metadata.Name, "demo.") {
			t.Errorf("%s %s: regarding %+v", e.Reason, e.Metadata.Name, e.Regarding)
		}
		if kind := related[e.Reason]; kind != "" && (e.Related == nil || e.Related.Kind != kind || !strings.HasPrefix(e.Related.Name, "demo-")) {
			t.Errorf("%s: related %+v, want a %s of the DittoServer", e.Reason, e.Related, kind)
		}
		if e.Note == "" || strings.ContainsAny(e.Note, "\n\r") || e.Action == "" || (e.Type != "Normal" && e.Type != "Warning") {
			t.Errorf("%s: type %q, action %q, note %q", e.Reason, e.Type, e.Action, e.Note)
		}
		for _, v := range r.secrets {
			if strings.Contains(e.raw, v) || strings.Contains(e.raw, base64.StdEncoding.EncodeToString([]byte(v))) {
				t.Errorf("%s holds a Secret's value", e.Reason)
			}
		}
	}
	counts := countByReason(evs)
	var reasons []string
	for k := range counts {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	var table strings.Builder
	for _, k := range reasons {
		fmt.Fprintf(&table, "\n  %-28s %d", k, counts[k])
	}
	t.Logf("e2e: %d Events recorded over the run, by reason:%s", len(evs), table.String())
	for i, url := range r.hookURLs {
		t.Logf("e2e: hook replica %d: created %v, duplicate %v, dropped %v, failed %v", i,
			metricSum(t, url, "created"), metricSum(t, url, "duplicate"), metricSum(t, url, "dropped_queue_full"), metricSum(t, url, "failed"))
		if f := metricSum(t, url, "failed") + metricSum(t, url, "dropped_queue_full"); f != 0 {
			t.Errorf("hook replica %d failed or dropped %v Events", i, f)
		}
	}
}

// metricSum adds dittofs_hook_events_total over reasons for one result.
func metricSum(t *testing.T, url, result string) float64 {
	s, err := promscrape.Scrape(url+"/metrics", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return promscrape.Sum(nil, s, "dittofs_hook_events_total", `result="`+result+`"`)
}
