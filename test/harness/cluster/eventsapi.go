package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// EventsAPI answers the one call the hook makes to the Kubernetes API,
// POST /apis/events.k8s.io/v1/namespaces/<ns>/events, the way the API
// server does: 201 with the Event, or 409 with a metav1.Status of reason
// AlreadyExists for a name it has. It is for tests that need no API server
// but the hook's Events (the end-to-end suite uses a real one): it keeps
// every Event's JSON as the hook sent it.
type EventsAPI struct {
	// URL is where it listens (loopback).
	URL string

	mu     sync.Mutex
	events map[string][]byte
	order  []string
	posts  int
	hold   chan struct{}
	refuse int
}

// StartEventsAPI serves an EventsAPI until the test ends.
func StartEventsAPI(t harness.T) *EventsAPI {
	a := &EventsAPI{events: map[string][]byte{}}
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	a.URL = ts.URL
	return a
}

// Hold makes every call wait until Release (or the caller gives up).
func (a *EventsAPI) Hold() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hold = make(chan struct{})
}

// Release lets held calls through.
func (a *EventsAPI) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hold != nil {
		close(a.hold)
		a.hold = nil
	}
}

// Refuse answers every call with this status (403: no permission) and a
// metav1.Status; 0 answers normally again.
func (a *EventsAPI) Refuse(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refuse = code
}

// Posts is the number of calls answered.
func (a *EventsAPI) Posts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.posts
}

// Events are the Events created, in order, as the JSON the hook sent.
func (a *EventsAPI) Events() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]byte
	for _, name := range a.order {
		out = append(out, a.events[name])
	}
	return out
}

// Kubeconfig writes a kubeconfig naming this server, for hook serve
// --kubeconfig, and returns its path.
func (a *EventsAPI) Kubeconfig(t harness.T, dir string) string {
	path := filepath.Join(dir, "events-kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: events\n  cluster:\n    server: %s\nusers:\n- name: hook\n  user:\n    token: not-checked\ncontexts:\n- name: events\n  context:\n    cluster: events\n    user: hook\ncurrent-context: events\n", a.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (a *EventsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/apis/events.k8s.io/v1/namespaces/")
	ns, _, _ := strings.Cut(rest, "/")
	if r.Method != http.MethodPost || !ok || rest != ns+"/events" {
		status(w, http.StatusNotFound, "NotFound", "unexpected call "+r.Method+" "+r.URL.Path)
		return
	}
	a.mu.Lock()
	hold := a.hold
	a.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Metadata.Name == "" || ev.Metadata.Namespace != ns {
		status(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("not an Event of namespace %s: %v", ns, err))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.posts++
	switch {
	case a.refuse != 0:
		status(w, a.refuse, http.StatusText(a.refuse), "refused by the test")
	case a.events[ns+"/"+ev.Metadata.Name] != nil:
		status(w, http.StatusConflict, "AlreadyExists", fmt.Sprintf("events.events.k8s.io %q already exists", ev.Metadata.Name))
	default:
		a.events[ns+"/"+ev.Metadata.Name] = body
		a.order = append(a.order, ns+"/"+ev.Metadata.Name)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}
}

// status answers a metav1.Status, as the API server does on an error.
func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}
