package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
)

// update rewrites test/testdata/metacontroller/v2 from a live capture
// (TestWireV2Capture).
var update = flag.Bool("update", false, "rewrite test/testdata/metacontroller/v2 from what the real Metacontroller sends")

// captureHookBase is the hooks' address in capture-setup/cc-v2.yaml (and
// cc.yaml): the test puts its recording hook's in its place.
const captureHookBase = "http://127.0.0.1:8091"

// The objects the v2 capture asks for through the customize hook.
const (
	captureNamespace = "default"
	otherNamespace   = "other"
	captureSecret    = "demo-admin-password"
	captureClass     = "capture-sc"
	secretsV1        = "Secret.v1"
	storageClassesV1 = "StorageClass.storage.k8s.io/v1"
)

// v2CustomizeResponse is the recording hook's answer to /customize: the
// admin password Secret by namespace and name, and a StorageClass by name
// (cluster-scoped: no namespace).
const v2CustomizeResponse = `{"relatedResources":[` +
	`{"apiVersion":"v1","resource":"secrets","namespace":"` + captureNamespace + `","names":["` + captureSecret + `"]},` +
	`{"apiVersion":"storage.k8s.io/v1","resource":"storageclasses","names":["` + captureClass + `"]}]}`

// hookCall is one request the recording hook received.
type hookCall struct {
	path string
	body []byte
}

// recorder is a sync/finalize/customize hook that records every request
// body as received and answers with fixed placeholders.
type recorder struct {
	sync, finalize []byte
	mu             sync.Mutex
	calls          []hookCall
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var answer []byte
	switch r.URL.Path {
	case "/sync":
		answer = rec.sync
	case "/finalize":
		answer = rec.finalize
	case "/customize":
		answer = []byte(v2CustomizeResponse)
	default:
		http.NotFound(w, r)
		return
	}
	rec.mu.Lock()
	rec.calls = append(rec.calls, hookCall{r.URL.Path, body})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// first is the first recorded call to path that satisfies ok (nil: any).
func (rec *recorder) first(path string, ok func(wireRequest) bool) (hookCall, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range rec.calls {
		if c.path != path {
			continue
		}
		if ok == nil {
			return c, true
		}
		var req wireRequest
		if json.Unmarshal(c.body, &req) == nil && ok(req) {
			return c, true
		}
	}
	return hookCall{}, false
}

func (rec *recorder) count() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := map[string]int{}
	for _, c := range rec.calls {
		n[c.path]++
	}
	return n
}

// wireRequest is a v2 sync/finalize request as far as its keys go.
type wireRequest struct {
	Children   map[string]map[string]wireObject `json:"children"`
	Related    map[string]map[string]wireObject `json:"related"`
	Finalizing bool                             `json:"finalizing"`
}

type wireObject struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// placeholderChild is a child of placeholder-hook-response.json.
type placeholderChild struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// TestWireV2Capture records what the real Metacontroller v4.17.2 sends to
// hooks at `version: v2` (capture-setup/cc-v2.yaml) on a real control
// plane, for a parent whose customize hook asks for a Secret by namespace
// and name and a StorageClass by name. With -update it writes the four
// requests to test/testdata/metacontroller/v2; without, it compares the
// live requests' shape (top-level keys; children's and related's groups
// and object keys; finalizing) with the committed files, and checks the
// v2 keys: `namespace/name` for namespaced objects, `name` for the
// StorageClass, and nothing of another namespace.
func TestWireV2Capture(t *testing.T) {
	root := harness.RepoRoot()
	setup := filepath.Join(root, "test", "testdata", "metacontroller", "capture-setup")
	fixtures := filepath.Join(root, "test", "testdata", "metacontroller", "v2")
	dir := logDir(t)
	start := time.Now()

	placeholder, err := os.ReadFile(filepath.Join(setup, "placeholder-hook-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The finalize answer: the same children (kept until the parent is
	// gone) and finalized, so that Metacontroller removes its finalizer.
	var fin map[string]any
	if err := json.Unmarshal(placeholder, &fin); err != nil {
		t.Fatalf("placeholder-hook-response.json: %v", err)
	}
	fin["finalized"] = true
	finalize, _ := json.Marshal(fin)
	var resp struct {
		Children []placeholderChild `json:"children"`
	}
	if err := json.Unmarshal(placeholder, &resp); err != nil || len(resp.Children) == 0 {
		t.Fatalf("placeholder-hook-response.json has no children: %v", err)
	}
	rec := &recorder{sync: placeholder, finalize: finalize}
	srv := httptest.NewServer(rec) // 127.0.0.1, a free port
	t.Cleanup(srv.Close)

	c := cluster.Start(t, dir, controller.MetacontrollerCRDs(t), filepath.Join(setup, "crd.yaml"))
	t.Logf("e2e: control plane up in %s", time.Since(start).Round(time.Millisecond))

	// What the customize hook names, and what it must not bring: a Secret
	// of the same name in another namespace.
	c.Kubectl("create", "secret", "generic", captureSecret, "-n", captureNamespace, "--from-literal=password=Adm1n-pass-123")
	c.Kubectl("create", "namespace", otherNamespace)
	c.Kubectl("create", "secret", "generic", captureSecret, "-n", otherNamespace, "--from-literal=password=not-this-one")
	sc := filepath.Join(dir, "storageclass.yaml")
	writeFile(t, sc, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: "+captureClass+"\nprovisioner: example.com/none\n")
	c.Kubectl("apply", "-f", sc)

	ccYAML, err := os.ReadFile(filepath.Join(setup, "cc-v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"sync", "finalize", "customize"} {
		if !strings.Contains(string(ccYAML), h+": {version: v2, webhook: {url: \""+captureHookBase+"/"+h+"\"}}") {
			t.Fatalf("capture-setup/cc-v2.yaml: the %s hook is not at version v2 on %s/%s", h, captureHookBase, h)
		}
	}
	cc := filepath.Join(dir, "cc-v2.yaml")
	writeFile(t, cc, strings.ReplaceAll(string(ccYAML), captureHookBase, srv.URL))
	c.Kubectl("apply", "-f", cc)
	mc := controller.StartMetacontroller(t, c, dir, "dynamic-apply")
	t.Logf("e2e: Metacontroller v4.17.2, log %s; recording hook at %s", mc.Log(), srv.URL)

	// The parent: capture-setup/cr.yaml naming the StorageClass.
	crYAML, err := os.ReadFile(filepath.Join(setup, "cr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cr map[string]any
	if err := yaml.Unmarshal(crYAML, &cr); err != nil {
		t.Fatal(err)
	}
	spec, _ := cr["spec"].(map[string]any)
	storage, _ := spec["storage"].(map[string]any)
	if storage == nil {
		t.Fatal("capture-setup/cr.yaml has no spec.storage")
	}
	storage["storageClassName"] = captureClass
	crOut, _ := yaml.Marshal(cr)
	crFile := filepath.Join(dir, "cr.yaml")
	writeFile(t, crFile, string(crOut))
	c.Kubectl("apply", "-f", crFile)

	allObserved := func(r wireRequest) bool {
		for _, ch := range resp.Children {
			if _, ok := r.Children[ch.Kind+"."+ch.APIVersion][captureNamespace+"/"+ch.Metadata.Name]; !ok {
				return false
			}
		}
		return true
	}
	took := eventually(t, 90*time.Second, "a sync observing every placeholder child", func() bool {
		_, ok := rec.first("/sync", allObserved)
		return ok
	})
	t.Logf("e2e: every child observed in %s", took.Round(time.Millisecond))

	c.Kubectl("delete", "dittoserver", "demo", "-n", captureNamespace, "--wait=false")
	took = eventually(t, 60*time.Second, "a finalize call, then the parent gone", func() bool {
		if _, ok := rec.first("/finalize", nil); !ok {
			return false
		}
		_, err := c.KubectlErr("get", "dittoserver", "demo", "-n", captureNamespace)
		return err != nil && strings.Contains(err.Error(), "NotFound")
	})
	t.Logf("e2e: finalized and deleted in %s; hook calls %v", took.Round(time.Millisecond), rec.count())
	if errs := mc.Errors(); len(errs) > 0 {
		t.Errorf("Metacontroller saw errors:\n%s", strings.Join(errs, "\n"))
	}

	captures := []struct {
		file, path string
		ok         func(wireRequest) bool
	}{
		{"customize-request.json", "/customize", nil},
		{"sync-first.json", "/sync", nil},
		{"sync-children-created.json", "/sync", allObserved},
		{"finalize-request.json", "/finalize", nil},
	}
	live := map[string][]byte{}
	for _, cp := range captures {
		call, ok := rec.first(cp.path, cp.ok)
		if !ok {
			t.Fatalf("%s: no such %s request recorded", cp.file, cp.path)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, call.body, "", "  "); err != nil {
			t.Fatalf("%s: the body is not JSON: %v", cp.file, err)
		}
		live[cp.file] = pretty.Bytes()
	}
	if r := decodeWire(t, "sync-first.json", live["sync-first.json"]); len(objectKeys(r.Children)) > 0 {
		t.Errorf("sync-first.json: the first sync already observes children: %v", objectKeys(r.Children))
	}
	if r := decodeWire(t, "finalize-request.json", live["finalize-request.json"]); !r.Finalizing {
		t.Errorf("finalize-request.json: finalizing is false")
	}

	if *update {
		if err := os.MkdirAll(fixtures, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, cp := range captures {
			writeFile(t, filepath.Join(fixtures, cp.file), string(live[cp.file]))
		}
		t.Logf("e2e: wrote %d captures to %s", len(captures), fixtures)
	}

	for _, cp := range captures {
		committed, err := os.ReadFile(filepath.Join(fixtures, cp.file))
		if err != nil {
			t.Fatalf("%v (run with -update to capture)", err)
		}
		if d := cmp.Diff(wireShape(t, "committed "+cp.file, committed), wireShape(t, "live "+cp.file, live[cp.file])); d != "" {
			t.Errorf("%s: the live v2 request's shape differs from the committed one (-committed +live):\n%s", cp.file, d)
		}
		if cp.path == "/customize" {
			continue
		}
		checkV2Keys(t, "live "+cp.file, decodeWire(t, cp.file, live[cp.file]))
		checkV2Keys(t, "committed "+cp.file, decodeWire(t, cp.file, committed))
	}
	t.Logf("e2e: TestWireV2Capture took %s", time.Since(start).Round(time.Millisecond))
}

// shape is what stays the same from one capture to the next.
type shape struct {
	TopLevel   []string
	Children   map[string][]string
	Related    map[string][]string
	Finalizing *bool
}

func wireShape(t *testing.T, what string, body []byte) shape {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var s shape
	for k := range top {
		s.TopLevel = append(s.TopLevel, k)
	}
	sort.Strings(s.TopLevel)
	groups := func(key string) map[string][]string {
		raw, ok := top[key]
		if !ok {
			return nil
		}
		var m map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %s is not a map of maps: %v", what, key, err)
		}
		out := map[string][]string{}
		for g, objs := range m {
			keys := []string{}
			for k := range objs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out[g] = keys
		}
		return out
	}
	s.Children, s.Related = groups("children"), groups("related")
	if raw, ok := top["finalizing"]; ok {
		var f bool
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("%s: finalizing: %v", what, err)
		}
		s.Finalizing = &f
	}
	return s
}

func decodeWire(t *testing.T, what string, body []byte) wireRequest {
	t.Helper()
	var r wireRequest
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return r
}

// checkV2Keys checks the v2 keys of a sync or finalize request: every
// namespaced object under `default/<name>`, a cluster-scoped one under its
// name; the StorageClass delivered, the admin Secret of the parent's
// namespace delivered and the other namespace's one not.
func checkV2Keys(t *testing.T, what string, r wireRequest) {
	t.Helper()
	for field, m := range map[string]map[string]map[string]wireObject{"children": r.Children, "related": r.Related} {
		for g, objs := range m {
			for k, o := range objs {
				id, want := o.Metadata.Name, o.Metadata.Name // cluster-scoped
				if o.Metadata.Namespace != "" {
					id, want = o.Metadata.Namespace+"/"+o.Metadata.Name, captureNamespace+"/"+o.Metadata.Name
				}
				if k != want {
					t.Errorf("%s: %s[%q] holds %s under key %q, want %q", what, field, g, id, k, want)
				}
			}
		}
	}
	if _, ok := r.Related[storageClassesV1][captureClass]; !ok {
		t.Errorf("%s: related[%q] has no key %q: %v", what, storageClassesV1, captureClass, keysOf(r.Related[storageClassesV1]))
	}
	if _, ok := r.Related[secretsV1][captureNamespace+"/"+captureSecret]; !ok {
		t.Errorf("%s: related[%q] has no key %q: %v", what, secretsV1, captureNamespace+"/"+captureSecret, keysOf(r.Related[secretsV1]))
	}
	if _, ok := r.Related[secretsV1][otherNamespace+"/"+captureSecret]; ok {
		t.Errorf("%s: related[%q] holds %q: the rule names namespace %s", what, secretsV1, otherNamespace+"/"+captureSecret, captureNamespace)
	}
}

func keysOf(m map[string]wireObject) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// objectKeys lists every "group key" of a children or related map.
func objectKeys(m map[string]map[string]wireObject) []string {
	var out []string
	for g, objs := range m {
		for k := range objs {
			out = append(out, fmt.Sprintf("%s %s", g, k))
		}
	}
	sort.Strings(out)
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
