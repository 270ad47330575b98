package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Loop is an in-memory model of Metacontroller's side of the hook contract,
// for tests that need the hook's behaviour over several syncs but no API
// server: it posts the parent and its children, applies the answer (every
// returned child replaces the observed one, every child not returned is
// deleted, the status is replaced), and lets the test play the kubelet or a
// cloud load balancer. The end-to-end suite does the same against a real
// API server.
type Loop struct {
	T harness.T
	// HookURL is the hook's base URL.
	HookURL string
	// Parent is the DittoServer (metadata and spec); Status is what the hook
	// last answered.
	Parent map[string]any
	// Children is the observed state: key "<Kind>.<apiVersion>" → name → object.
	Children map[string]map[string]map[string]any
	// Related is sent as the request's related objects.
	Related map[string]map[string]map[string]any
	// Finalizing marks the next calls as finalize calls.
	Finalizing bool

	// Do, when set, answers a call in place of an HTTP hook at HookURL
	// (path "/sync" or "/finalize", the request body): for tests of the
	// core over many syncs, without a server.
	Do func(path string, body []byte) (code int, answer []byte)

	// Last is the last answer.
	Last Response
	// Seq numbers the UIDs and cluster IPs it assigns.
	seq int
}

// Response is a hook answer as the Loop reads it.
type Response struct {
	Status             map[string]any   `json:"status"`
	Children           []map[string]any `json:"children"`
	ResyncAfterSeconds float64          `json:"resyncAfterSeconds"`
	Finalized          bool             `json:"finalized"`
	// Raw is the answer's bytes.
	Raw []byte `json:"-"`
	// Took is the hook's round trip (post to last byte of the answer).
	Took time.Duration `json:"-"`
}

// ChildKeys are the child kinds of compositecontroller.yaml.
var ChildKeys = []string{"StatefulSet.apps/v1", "Service.v1", "NetworkPolicy.networking.k8s.io/v1", "ConfigMap.v1", "Secret.v1"}

// NewLoop returns a loop for a DittoServer with the given name and spec.
func NewLoop(t harness.T, hookURL, name string, spec map[string]any) *Loop {
	l := &Loop{T: t, HookURL: hookURL, Children: map[string]map[string]map[string]any{}, Related: map[string]map[string]map[string]any{"Secret.v1": {}}}
	for _, k := range ChildKeys {
		l.Children[k] = map[string]map[string]any{}
	}
	l.Parent = map[string]any{
		"apiVersion": "dittofs.dittofs.com/v1alpha1",
		"kind":       "DittoServer",
		"metadata": map[string]any{
			"name": name, "namespace": "default", "uid": "uid-" + name, "generation": 1,
			"creationTimestamp": "2026-11-25T20:00:00Z",
		},
		"spec": spec,
	}
	return l
}

// Request is the body the loop would post now.
func (l *Loop) Request() []byte {
	b, err := json.Marshal(map[string]any{
		"controller": map[string]any{"apiVersion": "metacontroller.k8s.io/v1alpha1", "kind": "CompositeController", "metadata": map[string]any{"name": "dittofs-hook"}},
		"parent":     l.Parent,
		"children":   l.Children,
		"related":    l.Related,
		"finalizing": l.Finalizing,
	})
	if err != nil {
		l.T.Fatal(err)
	}
	return b
}

// Sync posts one sync (or finalize) and applies the answer; anything but
// a 200 fails the test.
func (l *Loop) Sync() Response {
	l.T.Helper()
	r, err := l.TrySync(nil)
	if err != nil {
		l.T.Fatalf("%v", err)
	}
	return r
}

// TrySync posts one sync and applies the answer only when it is a 200, as
// Metacontroller does: on any error nothing changes. client may be nil.
func (l *Loop) TrySync(client *http.Client) (Response, error) {
	path := "/sync"
	if l.Finalizing {
		path = "/finalize"
	}
	if client == nil {
		client = http.DefaultClient
	}
	body := l.Request()
	start := time.Now()
	var code int
	var raw []byte
	if l.Do != nil {
		code, raw = l.Do(path, body)
	} else {
		resp, err := client.Post(l.HookURL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return Response{}, fmt.Errorf("post %s: %w", path, err)
		}
		defer resp.Body.Close()
		if raw, err = io.ReadAll(resp.Body); err != nil {
			return Response{}, fmt.Errorf("read answer: %w", err)
		}
		code = resp.StatusCode
	}
	took := time.Since(start)
	if code != 200 {
		return Response{}, fmt.Errorf("hook answered %d: %s", code, raw)
	}
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		return Response{}, fmt.Errorf("hook answer: %w", err)
	}
	r.Raw, r.Took = raw, took
	l.apply(r)
	l.Last = r
	return r, nil
}

func (l *Loop) apply(r Response) {
	next := map[string]map[string]map[string]any{}
	for _, k := range ChildKeys {
		next[k] = map[string]map[string]any{}
	}
	for _, c := range r.Children {
		kind, _ := c["kind"].(string)
		apiVersion, _ := c["apiVersion"].(string)
		md, _ := c["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		key := kind + "." + apiVersion
		if _, ok := next[key]; !ok {
			l.T.Fatalf("hook returned a child of kind %s, which the controller does not own", key)
		}
		prev := l.Children[key][name]
		next[key][name] = l.observe(key, c, prev)
	}
	l.Children = next
	status := r.Status
	if status == nil {
		status = map[string]any{}
	}
	status["observedGeneration"] = l.Parent["metadata"].(map[string]any)["generation"]
	l.Parent["status"] = status
}

// observe turns a returned child into what the API server would store:
// namespace, uid, the last-applied annotation, and for Services a cluster IP
// and node ports that survive updates. Status stays as the test set it.
func (l *Loop) observe(key string, desired, prev map[string]any) map[string]any {
	obj := deepCopy(desired)
	md := obj["metadata"].(map[string]any)
	last, _ := json.Marshal(desired)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann["metacontroller.k8s.io/last-applied-configuration"] = string(last)
	md["annotations"] = ann
	md["namespace"] = "default"
	var pmd map[string]any
	if prev != nil {
		pmd = prev["metadata"].(map[string]any)
		md["uid"] = pmd["uid"]
		if st, ok := prev["status"]; ok {
			obj["status"] = st
		}
	} else {
		l.seq++
		md["uid"] = fmt.Sprintf("child-uid-%d", l.seq)
	}
	if key == "Service.v1" {
		spec := obj["spec"].(map[string]any)
		var pspec map[string]any
		if prev != nil {
			pspec = prev["spec"].(map[string]any)
		}
		if _, ok := spec["clusterIP"]; !ok {
			if pspec != nil {
				spec["clusterIP"] = pspec["clusterIP"]
			} else {
				l.seq++
				spec["clusterIP"] = fmt.Sprintf("10.0.%d.%d", l.seq/250, l.seq%250+1)
			}
		}
		if typ, _ := spec["type"].(string); typ == "NodePort" || typ == "LoadBalancer" {
			ports, _ := spec["ports"].([]any)
			for _, p := range ports {
				pm := p.(map[string]any)
				if _, ok := pm["nodePort"]; !ok {
					l.seq++
					pm["nodePort"] = float64(30000 + l.seq)
				}
			}
		}
		if _, ok := obj["status"]; !ok {
			obj["status"] = map[string]any{"loadBalancer": map[string]any{}}
		}
	}
	return obj
}

// SetReady plays the kubelet: the StatefulSet has n ready replicas.
func (l *Loop) SetReady(name string, n int) {
	sts, ok := l.Children["StatefulSet.apps/v1"][name]
	if !ok {
		l.T.Fatalf("no StatefulSet %s", name)
	}
	sts["status"] = map[string]any{"replicas": n, "readyReplicas": n, "availableReplicas": n}
}

// SetIngress plays a cloud load balancer for a Service.
func (l *Loop) SetIngress(name, ip string) {
	svc, ok := l.Children["Service.v1"][name]
	if !ok {
		l.T.Fatalf("no Service %s", name)
	}
	svc["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": ip}}}}
}

// Names lists the observed children as "Kind/name", sorted.
func (l *Loop) Names() []string {
	var out []string
	for key, objs := range l.Children {
		kind := key[:strings.Index(key, ".")]
		for name := range objs {
			out = append(out, kind+"/"+name)
		}
	}
	sort.Strings(out)
	return out
}

// Condition returns a status condition's reason ("" when absent) and status.
func (l *Loop) Condition(typ string) (status, reason, message string) {
	st, _ := l.Parent["status"].(map[string]any)
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == typ {
			return m["status"].(string), m["reason"].(string), m["message"].(string)
		}
	}
	return "", "", ""
}

// Child returns an observed child's JSON.
func (l *Loop) Child(key, name string) []byte {
	obj, ok := l.Children[key][name]
	if !ok {
		return nil
	}
	c := deepCopy(obj)
	delete(c, "status")
	b, _ := json.Marshal(c)
	return b
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// ChildNames lists a hook answer's children as "Kind/name".
func ChildNames(t harness.T, answer []byte) map[string]bool {
	t.Helper()
	var r struct {
		Children []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"children"`
	}
	if err := json.Unmarshal(answer, &r); err != nil {
		t.Fatalf("hook answer: %v", err)
	}
	out := map[string]bool{}
	for _, c := range r.Children {
		out[c.Kind+"/"+c.Metadata.Name] = true
	}
	return out
}
