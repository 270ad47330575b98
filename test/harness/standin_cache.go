package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// informer keeps a copy of one kind's objects the way Metacontroller's
// informers do: one list, then a watch from its resourceVersion, listed
// again when the API server says the version is gone (410) and watched
// again after any other interruption (a restarted API server). Reading the
// cache costs the API server nothing, so the stand-in can look at a fleet
// of parents every 200 ms without polling it per parent.
type informer struct {
	cluster *Cluster
	client  *http.Client // no overall timeout: a watch is a long request
	// path is the cluster-wide collection path, with its query.
	path             string
	kind, apiVersion string

	mu     sync.Mutex
	objs   map[string]object // namespace/name → object, never mutated once stored
	synced bool
}

func newInformer(c *Cluster, path, kind, apiVersion string) *informer {
	return &informer{
		cluster: c, path: path, kind: kind, apiVersion: apiVersion,
		client: &http.Client{Transport: c.client.Transport},
		objs:   map[string]object{},
	}
}

// errGone: the watch's resourceVersion is too old; list again.
var errGone = errors.New("resource version gone")

// run lists and watches until ctx ends.
func (in *informer) run(ctx context.Context) {
	for ctx.Err() == nil {
		rv, err := in.list(ctx)
		if err != nil {
			sleepCtx(ctx, 500*time.Millisecond)
			continue
		}
		for ctx.Err() == nil {
			rv, err = in.watch(ctx, rv)
			if errors.Is(err, errGone) {
				break
			}
			if err != nil {
				sleepCtx(ctx, 500*time.Millisecond)
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (in *informer) request(ctx context.Context, query string) (*http.Response, error) {
	sep := "?"
	if strings.Contains(in.path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", in.cluster.URL+in.path+sep+query, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+in.cluster.Token)
	req.Header.Set("Accept", "application/json")
	return in.client.Do(req)
}

func (in *informer) list(ctx context.Context) (string, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := in.request(lctx, "limit=0")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("list %s: %d", in.path, resp.StatusCode)
	}
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []object `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", err
	}
	objs := make(map[string]object, len(list.Items))
	for _, o := range list.Items {
		objs[in.key(o)] = o
	}
	in.mu.Lock()
	in.objs, in.synced = objs, true
	in.mu.Unlock()
	return list.Metadata.ResourceVersion, nil
}

// key names an object and gives it the kind and apiVersion list items lack
// (Metacontroller sends full objects).
func (in *informer) key(o object) string {
	o["kind"], o["apiVersion"] = in.kind, in.apiVersion
	md := meta(o)
	return str(md, "namespace") + "/" + str(md, "name")
}

// watch applies events until the server ends the watch; it returns the
// last resourceVersion seen.
func (in *informer) watch(ctx context.Context, rv string) (string, error) {
	resp, err := in.request(ctx, "watch=1&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion="+rv)
	if err != nil {
		return rv, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return rv, errGone
	}
	if resp.StatusCode != 200 {
		return rv, fmt.Errorf("watch %s: %d", in.path, resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type   string `json:"type"`
			Object object `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return rv, err
		}
		if ev.Type == "ERROR" {
			if code, _ := ev.Object["code"].(float64); code == http.StatusGone {
				return rv, errGone
			}
			return rv, fmt.Errorf("watch %s: %v", in.path, ev.Object["message"])
		}
		if v := str(meta(ev.Object), "resourceVersion"); v != "" {
			rv = v
		}
		if ev.Type == "BOOKMARK" {
			continue
		}
		k := in.key(ev.Object)
		in.mu.Lock()
		if ev.Type == "DELETED" {
			delete(in.objs, k)
		} else {
			in.objs[k] = ev.Object
		}
		in.mu.Unlock()
	}
}

// snapshot returns the cached objects (shared: callers must not mutate
// them) and whether the first list has completed.
func (in *informer) snapshot() ([]object, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]object, 0, len(in.objs))
	for _, o := range in.objs {
		out = append(out, o)
	}
	return out, in.synced
}
