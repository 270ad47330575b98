package soak

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
)

// grace is how long after an adapter was enabled again a removal still
// counts as justified: a poll that began before the enable may answer, and
// its removal be applied and seen, a little later.
const grace = 10 * time.Second

// ledger knows which adapters were disabled when (the schedule tells it),
// which fault is under way, and every invariant violation seen.
type ledger struct {
	mu         sync.Mutex
	disabled   map[string][]window // ns/name/type → when it was disabled
	phase      string              // the fault under way (or its recovery), "fleet" before any
	violations []violation
}

type window struct{ from, to time.Time } // to is zero while disabled

type violation struct {
	phase, what string
	at          time.Time
}

func (v violation) String() string {
	return fmt.Sprintf("%s (during %s, at %s)", v.what, v.phase, v.at.Format("15:04:05.000"))
}

func newLedger() *ledger { return &ledger{disabled: map[string][]window{}, phase: "fleet"} }

func (l *ledger) disable(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disabled[key] = append(l.disabled[key], window{from: at})
}

func (l *ledger) enable(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ws := l.disabled[key]; len(ws) > 0 && ws[len(ws)-1].to.IsZero() {
		ws[len(ws)-1].to = at
	}
}

func (l *ledger) isDisabled(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.disabled[key]
	return len(ws) > 0 && ws[len(ws)-1].to.IsZero()
}

// justified says whether removing the adapter's children at this moment
// follows from its having been disabled.
func (l *ledger) justified(key string, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.disabled[key] {
		if !at.Before(w.from) && (w.to.IsZero() || at.Before(w.to.Add(grace))) {
			return true
		}
	}
	return false
}

func (l *ledger) setPhase(p string) {
	l.mu.Lock()
	l.phase = p
	l.mu.Unlock()
}

func (l *ledger) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.violations = append(l.violations, violation{phase: l.phase, what: fmt.Sprintf(format, args...), at: time.Now()})
}

func (l *ledger) allViolations() []violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]violation(nil), l.violations...)
}

// --- the API server, polled every second ---

// watcher lists every child the hook manages in the fleet's namespaces
// once a second and checks each against what it was: no child deleted or
// replaced unless it is an adapter's and the adapter was disabled; an
// adapter's NetworkPolicy never gone while its Service is there; a kept
// Service keeps its cluster IP, node ports and load balancer address; a
// Secret keeps its value.
type watcher struct {
	c          *cluster.Cluster
	ledger     *ledger
	namespaces map[string]bool
	done, quit chan struct{}

	mu            sync.Mutex
	known         map[string]childState
	polls, failed int
}

type childState struct {
	uid, adapterKey string
	clusterIP       string
	nodePorts       map[string]string // port/protocol → node port
	lb              string
	data            string // hash of a Secret's data
}

var watchedKinds = []struct{ kind, path string }{
	{"Service", "/api/v1/services"},
	{"NetworkPolicy", "/apis/networking.k8s.io/v1/networkpolicies"},
	{"Secret", "/api/v1/secrets"},
	{"StatefulSet", "/apis/apps/v1/statefulsets"},
	{"ConfigMap", "/api/v1/configmaps"},
}

func startWatcher(t *testing.T, c *cluster.Cluster, l *ledger, namespaces []string) *watcher {
	w := &watcher{c: c, ledger: l, namespaces: map[string]bool{}, known: map[string]childState{}, done: make(chan struct{}), quit: make(chan struct{})}
	for _, ns := range namespaces {
		w.namespaces[ns] = true
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-tick.C:
				w.poll()
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *watcher) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func (w *watcher) counts() (polls, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, w.failed
}

type k8sObject struct {
	Metadata struct {
		Namespace, Name, UID string
		Labels               map[string]string
	}
	Spec struct {
		ClusterIP string `json:"clusterIP"`
		Ports     []struct {
			Port     int
			Protocol string
			NodePort int `json:"nodePort"`
		}
	}
	Status struct {
		LoadBalancer struct {
			Ingress []struct{ IP, Hostname string }
		} `json:"loadBalancer"`
	}
	Data map[string]string
}

func (w *watcher) poll() {
	now := map[string]childState{}
	for _, k := range watchedKinds {
		code, body := w.c.Do("GET", k.path+"?labelSelector=app.kubernetes.io%2Fmanaged-by%3Ddittofs-hook", "", nil)
		var list struct{ Items []k8sObject }
		if code != 200 || json.Unmarshal(body, &list) != nil {
			// Judge nothing on a failed list (the API server restarting).
			w.mu.Lock()
			w.polls++
			w.failed++
			w.mu.Unlock()
			return
		}
		for _, o := range list.Items {
			md := o.Metadata
			if !w.namespaces[md.Namespace] {
				continue
			}
			st := childState{uid: md.UID}
			if typ := md.Labels["dittofs.io/adapter-type"]; typ != "" {
				st.adapterKey = md.Namespace + "/" + md.Labels["app.kubernetes.io/instance"] + "/" + typ
			}
			switch k.kind {
			case "Service":
				st.clusterIP = o.Spec.ClusterIP
				st.nodePorts = map[string]string{}
				for _, p := range o.Spec.Ports {
					if p.NodePort != 0 {
						st.nodePorts[fmt.Sprintf("%d/%s", p.Port, p.Protocol)] = fmt.Sprint(p.NodePort)
					}
				}
				for _, in := range o.Status.LoadBalancer.Ingress {
					st.lb += in.IP + in.Hostname + " "
				}
			case "Secret":
				keys := make([]string, 0, len(o.Data))
				for k := range o.Data {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				h := sha256.New()
				for _, k := range keys {
					fmt.Fprintf(h, "%s=%s\n", k, o.Data[k])
				}
				st.data = fmt.Sprintf("%x", h.Sum(nil))
			}
			now[k.kind+" "+md.Namespace+"/"+md.Name] = st
		}
	}
	at := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	services := map[string]bool{} // adapter keys that have a Service now
	for key, cur := range now {
		if strings.HasPrefix(key, "Service ") && cur.adapterKey != "" {
			services[cur.adapterKey] = true
		}
	}
	for key, old := range w.known {
		cur, ok := now[key]
		switch {
		case !ok:
			if old.adapterKey == "" || !w.ledger.justified(old.adapterKey, at) {
				w.ledger.violate("%s deleted", key)
			}
			// Access goes only after the address: an adapter's policy may
			// not go while its Service is still there.
			if strings.HasPrefix(key, "NetworkPolicy ") && old.adapterKey != "" && services[old.adapterKey] {
				w.ledger.violate("%s deleted while its adapter's Service still exists", key)
			}
			delete(w.known, key)
		case cur.uid != old.uid:
			if old.adapterKey == "" || !w.ledger.justified(old.adapterKey, at) {
				w.ledger.violate("%s replaced: UID %s → %s", key, old.uid, cur.uid)
			}
		default:
			w.compare(key, old, cur)
		}
	}
	for key, cur := range now {
		if old, ok := w.known[key]; ok && old.uid == cur.uid && old.lb != "" && cur.lb == "" {
			cur.lb = old.lb // compare reported the loss; keep judging by the first address
		}
		w.known[key] = cur
	}
}

// compare checks a child that kept its UID.
func (w *watcher) compare(key string, old, cur childState) {
	if old.clusterIP != cur.clusterIP {
		w.ledger.violate("%s: cluster IP %s → %s", key, old.clusterIP, cur.clusterIP)
	}
	for port, np := range old.nodePorts {
		if c, ok := cur.nodePorts[port]; ok && c != np {
			w.ledger.violate("%s: node port of %s %s → %s", key, port, np, c)
		} else if !ok {
			w.ledger.violate("%s: port %s (node port %s) gone", key, port, np)
		}
	}
	if old.lb != "" && cur.lb != old.lb {
		w.ledger.violate("%s: load balancer address %q → %q", key, strings.TrimSpace(old.lb), strings.TrimSpace(cur.lb))
	}
	if old.data != cur.data {
		w.ledger.violate("%s: its value changed", key)
	}
}

// --- every hook answer ---

// answerProxy stands between the controller and the hook's Service. It
// passes every call through unchanged and checks each 200 answer to a sync
// or finalize against the children the request carried (those the
// controller observed): a child that exists and is missing from a 200
// answer is deleted by Metacontroller, so it is a violation, unless it is
// an adapter's child and the answer says a successful poll found that
// adapter disabled or gone, and the schedule disabled it.
type answerProxy struct {
	URL    string
	target string
	ledger *ledger
	client *http.Client

	mu      sync.Mutex
	checked int
	codes   map[string]int
	// calls counts the calls received, syncs the /sync calls among them;
	// last is when the last one arrived.
	calls, syncs int
	last         time.Time
	srv          *httptest.Server
}

// startAnswerProxy listens on host (the node's bridge address: Metacontroller
// in its pod reaches the host there) and passes every call on to target,
// the hook's Service.
func startAnswerProxy(t *testing.T, host, target string, l *ledger) *answerProxy {
	p := &answerProxy{target: target, ledger: l, client: &http.Client{Timeout: 20 * time.Second}, codes: map[string]int{}}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("the answer checker's listener: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL, p.srv = srv.URL, srv
	return p
}

// keepAlive turns the checker's keep-alive connections on or off; off
// also closes the idle ones. A NetworkPolicy stops new connections only:
// kube-router admits packets of known connections before any policy, and
// conntrack takes up a connection whose entry was deleted again in the
// middle of its stream as established, so a kept-alive connection from
// Metacontroller would outlive the policy.
func (p *answerProxy) keepAlive(on bool) { p.srv.Config.SetKeepAlivesEnabled(on) }

// received is how many calls have arrived so far.
func (p *answerProxy) received() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// lastCall is when the last call arrived.
func (p *answerProxy) lastCall() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// syncCalls is how many /sync calls have arrived so far.
func (p *answerProxy) syncCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.syncs
}

func (p *answerProxy) count(code string) {
	p.mu.Lock()
	p.codes[code]++
	p.mu.Unlock()
}

func (p *answerProxy) counts() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for c, n := range p.codes {
		parts = append(parts, fmt.Sprintf("%s: %d", c, n))
	}
	sort.Strings(parts)
	return p.checked, strings.Join(parts, ", ")
}

func (p *answerProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.calls++
	p.last = time.Now()
	if r.URL.Path == "/sync" {
		p.syncs++
	}
	p.mu.Unlock()
	reqBody, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.Path, bytes.NewReader(reqBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, h := range []string{"Content-Type", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	resp, err := p.client.Do(out)
	if err != nil {
		// What a controller sees when the replica it reached goes away.
		p.count("no answer")
		http.Error(w, "hook unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		p.count("answer cut")
		http.Error(w, "hook answer cut: "+err.Error(), http.StatusBadGateway)
		return
	}
	p.count(fmt.Sprintf("%s %d", r.URL.Path, resp.StatusCode))
	if resp.StatusCode == http.StatusOK && (r.URL.Path == "/sync" || r.URL.Path == "/finalize") {
		p.check(reqBody, respBody)
	}
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

type syncRequest struct {
	Parent struct {
		Metadata struct{ Namespace, Name string }
	}
	// Children by "<Kind>.<apiVersion>", then by name (hook version v1)
	// or "<namespace>/<name>" (v2): the checker reads each one's name.
	Children map[string]map[string]struct {
		Metadata struct {
			Name   string
			Labels map[string]string
		}
	}
}

type syncAnswer struct {
	Status struct {
		Conditions []struct{ Type, Status, Reason string }
		Adapters   []struct {
			Type    string
			Enabled bool
		}
	}
	Children []struct {
		APIVersion string `json:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
	}
}

func (p *answerProxy) check(reqBody, respBody []byte) {
	at := time.Now()
	var req syncRequest
	var ans syncAnswer
	if err := json.Unmarshal(reqBody, &req); err != nil {
		p.ledger.violate("a sync request the checker cannot read: %v", err)
		return
	}
	if err := json.Unmarshal(respBody, &ans); err != nil {
		p.ledger.violate("a 200 answer that is not a sync answer: %v", err)
		return
	}
	p.mu.Lock()
	p.checked++
	p.mu.Unlock()
	parent := req.Parent.Metadata.Namespace + "/" + req.Parent.Metadata.Name
	answered := map[string]bool{}
	for _, c := range ans.Children {
		answered[c.Kind+"."+c.APIVersion+"/"+c.Metadata.Name] = true
	}
	polled := false
	for _, c := range ans.Status.Conditions {
		if c.Type == "AdaptersDiscovered" && c.Status == "True" {
			polled = true
		}
	}
	for key, byName := range req.Children {
		for _, c := range byName {
			name := c.Metadata.Name
			if answered[key+"/"+name] {
				continue
			}
			typ := c.Metadata.Labels["dittofs.io/adapter-type"]
			if typ != "" && polled && !adapterEnabled(ans, typ) && p.ledger.justified(parent+"/"+typ, at) {
				continue // removed after a successful poll that no longer lists it enabled
			}
			p.ledger.violate("a 200 answer for %s omits its %s %s, which exists (adapter-type %q, poll succeeded: %v)", parent, key, name, typ, polled)
		}
	}
}

func adapterEnabled(a syncAnswer, typ string) bool {
	for _, ad := range a.Status.Adapters {
		if ad.Type == typ && ad.Enabled {
			return true
		}
	}
	return false
}
