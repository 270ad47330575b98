package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// StandIn is a minimal, documented stand-in for Metacontroller's
// CompositeController, used by the end-to-end suite and the demo when no
// real Metacontroller binary is given (METACONTROLLER_BIN). It implements
// the part of the contract the hook relies on, against the real API server:
//
//   - it watches DittoServers and the children they own (a list, then a
//     watch, per kind, cluster-wide, as Metacontroller's informers do), and
//     syncs a parent when it or one of its children changed, or when the
//     hook's resyncAfterSeconds is due, with up to Workers parents at
//     once (Metacontroller's --workers) and never one parent twice at once;
//   - it calls /customize once per parent generation and sends the Secrets
//     it names as related objects;
//   - it POSTs {controller, parent, children, related, finalizing} to /sync
//     (or /finalize while the parent is being deleted);
//   - it applies each returned child with server-side apply (field manager
//     "metacontroller", force), adding the namespace, the controller-uid
//     label and a controller ownerReference — but only when the child is
//     missing or differs from the live object the way Metacontroller's
//     default dynamic-apply judges it (a list whose items all carry a merge
//     key is matched item by item; any other list must be equal whole), and
//     never updates a Secret (the OnDelete strategy);
//   - it deletes owned children the answer left out;
//   - it writes the answered status, with observedGeneration, through the
//     status subresource when it differs;
//   - it adds its finalizer and removes it once the hook answers finalized.
//
// A non-200 answer changes nothing; a 429 is retried later without an error,
// as Metacontroller does. Apply errors (422s and the like) are
// recorded in Errors for the test to assert on.
type StandIn struct {
	Cluster *Cluster
	HookURL string
	// Name is the CompositeController's name (its finalizer is
	// metacontroller.io/compositecontroller-<Name>).
	Name string
	// Resync is the default period (resyncPeriodSeconds).
	Resync time.Duration
	// Logf receives one line per action; may be nil.
	Logf func(format string, args ...any)
	// ChildTypes are the opt-in child types the CompositeController
	// declares besides the hook's five (OptInServiceMonitor,
	// OptInPerconaPGCluster), as manifests/components adds them.
	ChildTypes []ChildType
	// Workers is how many parents are synced at once (Metacontroller's
	// --workers, default 5); one parent is never synced twice at once.
	Workers int
	// AuthToken, when set, is sent as "Authorization: Bearer <token>", as
	// Metacontroller sends the Secret its webhook.authorization names.
	AuthToken string

	mu     sync.Mutex
	errors []string
	syncs  int
	state  map[string]*parentState
	// applied is the object last applied per child (key/namespace/name):
	// what dynamic-apply keeps in its last-applied annotation.
	applied  map[string]object
	stop     chan struct{}
	stopped  chan struct{}
	http     *http.Client
	parents  *informer
	children map[string]*informer // by child key
	cancel   context.CancelFunc
	inflight map[string]bool // parent UIDs a worker is syncing
	slots    chan struct{}
	workers  sync.WaitGroup
	// conflicts counts write conflicts: each makes every parent sync again
	// (a stale read).
	conflicts int
}

type parentState struct {
	fingerprint string
	conflicts   int // StandIn.conflicts when fingerprint was taken
	next        time.Time
	customized  int64
	related     []string
}

// ChildType is a child resource of the CompositeController: its key in a
// request, its collection path (with %s for the namespace) and whether its
// update strategy is OnDelete.
type ChildType struct {
	Key, Path string
	OnDelete  bool
}

// The opt-in child types of manifests/components.
var (
	OptInServiceMonitor   = ChildType{"ServiceMonitor.monitoring.coreos.com/v1", "/apis/monitoring.coreos.com/v1/namespaces/%s/servicemonitors", false}
	OptInPerconaPGCluster = ChildType{"PerconaPGCluster.pgv2.percona.com/v2", "/apis/pgv2.percona.com/v2/namespaces/%s/perconapgclusters", true}
)

// childTypes are every declared child type.
func (s *StandIn) childTypes() []ChildType {
	out := make([]ChildType, 0, len(childResources)+len(s.ChildTypes))
	for _, cr := range childResources {
		out = append(out, ChildType{cr.key, cr.path, cr.onDelete})
	}
	return append(out, s.ChildTypes...)
}

var childResources = []struct {
	key, path string // path under /api(s)/…/namespaces/<ns>/
	onDelete  bool
}{
	{"StatefulSet.apps/v1", "/apis/apps/v1/namespaces/%s/statefulsets", false},
	{"Service.v1", "/api/v1/namespaces/%s/services", false},
	{"NetworkPolicy.networking.k8s.io/v1", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies", false},
	{"ConfigMap.v1", "/api/v1/namespaces/%s/configmaps", false},
	{"Secret.v1", "/api/v1/namespaces/%s/secrets", true},
}

const parentPath = "/apis/dittofs.dittofs.com/v1alpha1"

// Start runs the stand-in until Stop.
func (s *StandIn) Start() {
	s.state = map[string]*parentState{}
	s.applied = map[string]object{}
	s.inflight = map[string]bool{}
	if s.Workers == 0 {
		s.Workers = 5
	}
	s.slots = make(chan struct{}, s.Workers)
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	s.http = &http.Client{Timeout: 15 * time.Second}
	if s.Resync == 0 {
		s.Resync = 600 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.parents = newInformer(s.Cluster, parentPath+"/dittoservers", "DittoServer", "dittofs.dittofs.com/v1alpha1")
	go s.parents.run(ctx)
	s.children = map[string]*informer{}
	for _, cr := range s.childTypes() {
		// Metacontroller selects children by the controller-uid label it
		// adds (generateSelector), then keeps those the parent controls;
		// it watches each type cluster-wide.
		kind, apiVersion, _ := strings.Cut(cr.Key, ".")
		in := newInformer(s.Cluster, strings.Replace(cr.Path, "/namespaces/%s", "", 1)+"?labelSelector=controller-uid", kind, apiVersion)
		s.children[cr.Key] = in
		go in.run(ctx)
	}
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.round()
			}
		}
	}()
}

// Stop ends the loop, waits for the syncs under way, and ends the watches.
// A stopped stand-in can be started again (a restarted Metacontroller): it
// lists everything anew and syncs every parent.
func (s *StandIn) Stop() {
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
		s.workers.Wait()
		s.cancel()
		s.stop = nil
	}
}

// Errors returns the apply and hook errors seen so far.
func (s *StandIn) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

// Syncs returns how many hook calls the stand-in made.
func (s *StandIn) Syncs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}

func (s *StandIn) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.errors = append(s.errors, msg)
	s.mu.Unlock()
	s.logf("error: %s", msg)
}

func (s *StandIn) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf("stand-in: "+format, args...)
	}
}

func (s *StandIn) get(path string, out any) bool {
	code, body := s.Cluster.Do("GET", path, "", nil)
	if code == http.StatusNotFound {
		return false
	}
	if code == http.StatusTooManyRequests {
		// The API server asks to retry (a CRD just established: "storage
		// is (re)initializing"); Metacontroller's informers retry too.
		s.logf("GET %s: 429, retrying", path)
		return false
	}
	if code != 200 {
		s.fail("GET %s: %d %s", path, code, body)
		return false
	}
	if err := json.Unmarshal(body, out); err != nil {
		s.fail("GET %s: %v", path, err)
		return false
	}
	return true
}

type object = map[string]any

// round hands every parent in the caches (none before every cache has
// listed once) to a worker, as Metacontroller's work queue does: at most
// Workers at once, and never one parent to two workers. A worker reads the
// caches again when it starts.
func (s *StandIn) round() {
	parents, ok := s.parents.snapshot()
	if !ok {
		return
	}
	for _, in := range s.children {
		if _, ok := in.snapshot(); !ok {
			return
		}
	}
	sort.Slice(parents, func(i, j int) bool { return parentKey(parents[i]) < parentKey(parents[j]) })
	for _, p := range parents {
		uid := str(meta(p), "uid")
		s.mu.Lock()
		busy := s.inflight[uid]
		s.inflight[uid] = true
		s.mu.Unlock()
		if busy {
			continue
		}
		select {
		case s.slots <- struct{}{}:
		case <-s.stop:
			return
		}
		s.workers.Add(1)
		go func(key, uid string) {
			defer func() {
				<-s.slots
				s.mu.Lock()
				delete(s.inflight, uid)
				s.mu.Unlock()
				s.workers.Done()
			}()
			if parent := s.latest(key, uid); parent != nil {
				s.reconcile(parent, s.owned(uid))
			}
		}(parentKey(p), uid)
	}
}

func parentKey(p object) string { return str(meta(p), "namespace") + "/" + str(meta(p), "name") }

// latest is the cached parent now, or nil when it is gone or replaced.
func (s *StandIn) latest(key, uid string) object {
	parents, _ := s.parents.snapshot()
	for _, p := range parents {
		if parentKey(p) == key && str(meta(p), "uid") == uid {
			return p
		}
	}
	return nil
}

// owned returns the cached children a parent controls, by child key and
// name.
func (s *StandIn) owned(uid string) map[string]map[string]object {
	out := map[string]map[string]object{}
	for key, in := range s.children {
		objs, _ := in.snapshot()
		for _, c := range objs {
			if controllerUID(c) != uid {
				continue
			}
			if out[key] == nil {
				out[key] = map[string]object{}
			}
			out[key][str(meta(c), "name")] = c
		}
	}
	return out
}

func meta(o object) object {
	m, _ := o["metadata"].(object)
	if m == nil {
		m = object{}
		o["metadata"] = m
	}
	return m
}

func str(o object, k string) string { v, _ := o[k].(string); return v }

func (s *StandIn) reconcile(parent object, owned map[string]map[string]object) {
	md := meta(parent)
	ns, name, uid := str(md, "namespace"), str(md, "name"), str(md, "uid")
	gen, _ := md["generation"].(float64)
	s.mu.Lock()
	st := s.state[uid]
	if st == nil {
		st = &parentState{customized: -1}
		s.state[uid] = st
	}
	s.mu.Unlock()
	deleting := md["deletionTimestamp"] != nil
	finalizer := "metacontroller.io/compositecontroller-" + s.Name
	if !deleting && !hasString(md["finalizers"], finalizer) {
		fins := append(stringList(md["finalizers"]), finalizer)
		s.patch(fmt.Sprintf("%s/namespaces/%s/dittoservers/%s", parentPath, ns, name), "application/merge-patch+json", object{"metadata": object{"finalizers": fins}})
		return // the change wakes the next round
	}

	children := map[string]map[string]object{}
	fp := []string{str(md, "resourceVersion")}
	for _, cr := range s.childTypes() {
		children[cr.Key] = map[string]object{}
		for cname, c := range owned[cr.Key] {
			if str(meta(c), "namespace") != ns {
				continue
			}
			children[cr.Key][cname] = c
			fp = append(fp, cr.Key+"/"+cname+"@"+str(meta(c), "resourceVersion"))
		}
	}
	related := map[string]map[string]object{"Secret.v1": {}}
	if int64(gen) != st.customized {
		var resp struct {
			RelatedResources []struct {
				Resource string   `json:"resource"`
				Names    []string `json:"names"`
			} `json:"relatedResources"`
		}
		if !s.callHook("/customize", object{"controller": s.controller(), "parent": parent}, &resp) {
			return
		}
		st.related = nil
		for _, r := range resp.RelatedResources {
			if r.Resource == "secrets" {
				st.related = append(st.related, r.Names...)
			}
		}
		st.customized = int64(gen)
	}
	for _, n := range st.related {
		var sec object
		if s.get(fmt.Sprintf("/api/v1/namespaces/%s/secrets/%s", ns, n), &sec) {
			related["Secret.v1"][n] = sec
			fp = append(fp, "related/"+n+"@"+str(meta(sec), "resourceVersion"))
		}
	}
	sort.Strings(fp)
	fingerprint := strings.Join(fp, ",")
	s.mu.Lock()
	unchanged := fingerprint == st.fingerprint && st.conflicts == s.conflicts && time.Now().Before(st.next)
	conflicts := s.conflicts
	s.mu.Unlock()
	if unchanged {
		return
	}

	path := "/sync"
	if deleting {
		path = "/finalize"
	}
	var resp struct {
		Status             object   `json:"status"`
		Children           []object `json:"children"`
		ResyncAfterSeconds float64  `json:"resyncAfterSeconds"`
		Finalized          bool     `json:"finalized"`
	}
	req := object{"controller": s.controller(), "parent": parent, "children": children, "related": related, "finalizing": deleting}
	if !s.callHook(path, req, &resp) {
		st.next = time.Now().Add(2 * time.Second) // retry with backoff, change nothing
		return
	}
	st.fingerprint, st.conflicts = fingerprint, conflicts
	if resp.ResyncAfterSeconds > 0 {
		st.next = time.Now().Add(time.Duration(resp.ResyncAfterSeconds * float64(time.Second)))
	} else {
		st.next = time.Now().Add(s.Resync)
	}

	desired := map[string]bool{}
	for _, c := range resp.Children {
		key := str(c, "kind") + "." + str(c, "apiVersion")
		cname := str(meta(c), "name")
		desired[key+"/"+cname] = true
		s.applyChild(parent, key, c, children[key][cname])
	}
	for _, cr := range s.childTypes() {
		for cname := range children[cr.Key] {
			if !desired[cr.Key+"/"+cname] {
				s.logf("delete %s %s/%s", cr.Key, ns, cname)
				code, body := s.Cluster.Do("DELETE", fmt.Sprintf(cr.Path, ns)+"/"+cname+"?propagationPolicy=Background", "", nil)
				if code >= 300 && code != http.StatusNotFound {
					s.fail("delete %s %s: %d %s", cr.Key, cname, code, body)
				}
			}
		}
	}
	if resp.Status != nil {
		resp.Status["observedGeneration"] = gen
		if live, _ := parent["status"].(object); !reflect.DeepEqual(normalize(live), normalize(resp.Status)) {
			s.logf("status %s/%s", ns, name)
			up := copyObject(parent)
			up["status"] = resp.Status
			code, body := s.Cluster.Do("PUT", fmt.Sprintf("%s/namespaces/%s/dittoservers/%s/status", parentPath, ns, name), "", up)
			if code == http.StatusConflict {
				st.fingerprint = "" // stale read: sync again
			} else if code >= 300 {
				s.fail("update status of %s: %d %s", name, code, body)
			}
		}
	}
	if deleting && resp.Finalized && hasString(md["finalizers"], finalizer) {
		var keep []string
		for _, f := range stringList(md["finalizers"]) {
			if f != finalizer {
				keep = append(keep, f)
			}
		}
		s.logf("remove finalizer from %s/%s", ns, name)
		s.patch(fmt.Sprintf("%s/namespaces/%s/dittoservers/%s", parentPath, ns, name), "application/merge-patch+json", object{"metadata": object{"finalizers": keep, "resourceVersion": str(md, "resourceVersion")}})
	}
}

func (s *StandIn) controller() object {
	return object{"apiVersion": "metacontroller.k8s.io/v1alpha1", "kind": "CompositeController", "metadata": object{"name": s.Name}}
}

func (s *StandIn) callHook(path string, req, out any) bool {
	body, _ := json.Marshal(req)
	s.mu.Lock()
	s.syncs++
	s.mu.Unlock()
	hreq, err := http.NewRequest(http.MethodPost, s.HookURL+path, bytes.NewReader(body))
	if err != nil {
		s.fail("hook %s: %v", path, err)
		return false
	}
	hreq.Header.Set("Content-Type", "application/json")
	if s.AuthToken != "" {
		// As Metacontroller's webhook.authorization sends it.
		hreq.Header.Set("Authorization", "Bearer "+s.AuthToken)
	}
	resp, err := s.http.Do(hreq)
	if err != nil {
		s.logf("hook %s: %v", path, err)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		// Metacontroller requeues after Retry-After without an error.
		s.logf("hook %s answered 429 (Retry-After %s); retrying later", path, resp.Header.Get("Retry-After"))
		return false
	}
	if resp.StatusCode != 200 {
		var e bytes.Buffer
		_, _ = e.ReadFrom(resp.Body)
		s.fail("hook %s answered %d: %s", path, resp.StatusCode, e.String())
		return false
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		s.fail("hook %s: %v", path, err)
		return false
	}
	return true
}

func (s *StandIn) applyChild(parent object, key string, desired, live object) {
	pmd := meta(parent)
	ns, uid := str(pmd, "namespace"), str(pmd, "uid")
	c := copyObject(desired)
	md := meta(c)
	md["namespace"] = ns
	labels, _ := md["labels"].(object)
	if labels == nil {
		labels = object{}
	}
	labels["controller-uid"] = uid
	md["labels"] = labels
	md["ownerReferences"] = []any{object{
		"apiVersion": str(parent, "apiVersion"), "kind": str(parent, "kind"), "name": str(pmd, "name"), "uid": uid,
		"controller": true, "blockOwnerDeletion": true,
	}}
	var path string
	onDelete := false
	for _, cr := range s.childTypes() {
		if cr.Key == key {
			path, onDelete = fmt.Sprintf(cr.Path, ns), cr.OnDelete
		}
	}
	if path == "" {
		s.fail("hook returned a %s, which the controller does not own", key)
		return
	}
	id := key + "/" + ns + "/" + str(md, "name")
	s.mu.Lock() // parents are synced by several workers
	last := s.applied[id]
	s.mu.Unlock()
	if live != nil && (onDelete || covers(live, c, last)) {
		return
	}
	s.mu.Lock()
	s.applied[id] = c
	s.mu.Unlock()
	verb := "create"
	if live != nil {
		verb = "update"
	}
	s.logf("%s %s %s/%s", verb, key, ns, str(md, "name"))
	body, _ := json.Marshal(c)
	s.patch(path+"/"+str(md, "name")+"?fieldManager=metacontroller&force=true", "application/apply-patch+yaml", body)
}

func (s *StandIn) patch(path, contentType string, body any) {
	code, out := s.Cluster.Do("PATCH", path, contentType, body)
	if code == http.StatusConflict {
		s.logf("conflict on %s; retrying on the next round", path)
		s.mu.Lock()
		s.conflicts++
		s.mu.Unlock()
		return
	}
	if code >= 300 {
		s.fail("PATCH %s: %d %s", path, code, out)
	}
}

// covers says whether the live object already holds everything desired
// holds, judged the way dynamic-apply does: a list whose items carry a
// merge key is matched item by item, and a live item desired lacks is a
// difference only when the last applied object had it (dynamic-apply
// removes what it applied before, and keeps what others added: the ports
// of a Service another controller made, say). last may be nil.
func covers(live, desired, last any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		lastMap, _ := last.(map[string]any)
		for k, dv := range d {
			lv, ok := l[k]
			if !ok {
				if isEmpty(dv) {
					continue
				}
				return false
			}
			if !covers(lv, dv, lastMap[k]) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return false
		}
		key := mergeKey(d)
		if key == "" {
			return reflect.DeepEqual(normalize(l), normalize(d))
		}
		lastList, _ := last.([]any)
		item := func(list []any, k any) map[string]any {
			for _, x := range list {
				if m, ok := x.(map[string]any); ok && reflect.DeepEqual(normalize(m[key]), normalize(k)) {
					return m
				}
			}
			return nil
		}
		for _, di := range d {
			dm := di.(map[string]any)
			lm := item(l, dm[key])
			if lm == nil || !covers(lm, dm, item(lastList, dm[key])) {
				return false
			}
		}
		for _, li := range l {
			lm, ok := li.(map[string]any)
			if !ok {
				return false
			}
			if item(d, lm[key]) == nil && item(lastList, lm[key]) != nil {
				return false // applied before, desired no longer: removed
			}
		}
		return true
	}
	return reflect.DeepEqual(normalize(live), normalize(desired))
}

// mergeKey is the key dynamic-apply matches list items by: the first of
// its candidate keys that every item has, or "" (the list is atomic).
func mergeKey(items []any) string {
	for _, k := range []string{"containerPort", "port", "mountPath", "name", "uid", "ip", "path"} {
		all := len(items) > 0
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok || m[k] == nil {
				all = false
				break
			}
		}
		if all {
			return k
		}
	}
	return ""
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// normalize makes JSON values comparable (numbers as float64).
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func copyObject(o object) object {
	b, _ := json.Marshal(o)
	var out object
	_ = json.Unmarshal(b, &out)
	return out
}

// controllerUID is the UID of the object's controlling owner, or "".
func controllerUID(o object) string {
	refs, _ := meta(o)["ownerReferences"].([]any)
	for _, r := range refs {
		if m, ok := r.(map[string]any); ok && m["controller"] == true {
			uid, _ := m["uid"].(string)
			return uid
		}
	}
	return ""
}

func stringList(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func hasString(v any, s string) bool {
	for _, x := range stringList(v) {
		if x == s {
			return true
		}
	}
	return false
}
