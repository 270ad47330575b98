package main

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
)

// render prints what the service would answer for a DittoServer, through
// the same code path (hook.Prepare, then Desired), without a cluster and
// without DittoFS: --adapters stands for DittoFS's adapter list and
// --observed for the children that already exist.
func render(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	file := fs.String("f", "", "DittoServer manifest (YAML or JSON; - for stdin)")
	adaptersFile := fs.String("adapters", "", "JSON adapter list, as GET /api/v1/adapters answers it, standing for a successful poll")
	observedDir := fs.String("observed", "", "directory of YAML/JSON objects standing for existing children (and the Secrets the DittoServer names)")
	components := fs.String("components", "", "opt-in child types the installation declares, as manifests/components names them: servicemonitor, percona (comma-separated)")
	ceiling := ceilingFlags(fs)
	seed := fs.String("seed", "", "draw the generated Secrets' values from this seed, so that the output is reproducible (never apply such Secrets: whoever knows the seed knows them); random when empty")
	if err := parseFlags(fs, args, stdout, "Usage: hook render -f FILE [--adapters FILE] [--observed DIR] [--components servicemonitor,percona] [--seed S]\n\nPrints, as YAML, the children and status hook serve would answer for a DittoServer manifest.", false); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("render: -f is required")
	}
	c, err := ceiling()
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	var data []byte
	if *file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(*file)
	}
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	optIn, err := childTypes(*components)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	req, err := renderRequest(data, *observedDir, optIn)
	if err != nil {
		return fmt.Errorf("render %s: %w", *file, err)
	}
	if err := strictSpec(req.Parent.Spec); err != nil {
		return fmt.Errorf("render %s: invalid DittoServer: %w", *file, err)
	}
	in, err := hook.Prepare(req, c)
	if err != nil {
		return fmt.Errorf("render %s: %w", *file, err)
	}
	if err := in.InvalidSpec(); err != nil {
		return fmt.Errorf("render %s: invalid DittoServer: %w", *file, err)
	}
	var adapters []dittofs.Adapter
	if *adaptersFile != "" {
		raw, err := os.ReadFile(*adaptersFile)
		if err != nil {
			return fmt.Errorf("render: %w", err)
		}
		if adapters, err = dittofs.DecodeAdapters(raw); err != nil {
			return fmt.Errorf("render %s: %w", *adaptersFile, err)
		}
	}
	secrets := hook.NewSecretSource(rand.Reader)
	if *seed != "" {
		secrets = hook.NewSeededSecretSource(*seed)
	}
	now := time.Now()
	answer := func(in *hook.Sync) *hook.SyncResponse {
		var obs hook.Observation
		if *adaptersFile != "" {
			obs = in.ObservePoll(adapters, nil, "")
		}
		return in.Desired(obs, now, secrets)
	}
	resp := answer(in)
	// A new adapter's Service comes one sync after its NetworkPolicy
	// (access never after the address). With an adapter list, render
	// shows what the DittoServer becomes: the answer once the policies it
	// made exist, as Metacontroller's next sync sees them.
	if *adaptersFile != "" {
		if added, err := observePolicies(req, resp); err != nil {
			return fmt.Errorf("render: %w", err)
		} else if added {
			if in, err = hook.Prepare(req, c); err != nil {
				return fmt.Errorf("render %s: %w", *file, err)
			}
			resp = answer(in)
		}
	}
	js, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}

// observePolicies adds the NetworkPolicies of an answer that the request
// did not observe to its children, as the API server would hold them; it
// says whether it added any.
func observePolicies(req *hook.SyncRequest, resp *hook.SyncResponse) (bool, error) {
	added := false
	for _, child := range resp.Children {
		raw, err := json.Marshal(child)
		if err != nil {
			return false, fmt.Errorf("encode a child: %w", err)
		}
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			return false, fmt.Errorf("decode a child: %w", err)
		}
		key := o.Kind + "." + o.APIVersion
		if key != hook.KeyNetworkPolicy {
			continue
		}
		if _, seen := req.Children[key][o.Metadata.Name]; !seen {
			req.Children[key][o.Metadata.Name] = raw
			added = true
		}
	}
	return added, nil
}

// renderRequest builds the sync request Metacontroller would send for a
// manifest and a directory of existing objects. The manifest holds one
// DittoServer; Secrets beside it (as in the samples) count as existing.
func renderRequest(manifest []byte, observedDir string, optIn []string) (*hook.SyncRequest, error) {
	docs, err := splitDocuments(manifest, "the manifest")
	if err != nil {
		return nil, err
	}
	var parent *hook.Parent
	var others []object
	for _, d := range docs {
		if d.Kind != hook.Kind {
			others = append(others, d)
			continue
		}
		if parent != nil {
			return nil, errors.New("more than one DittoServer; render one at a time")
		}
		parent = new(hook.Parent)
		if err := json.Unmarshal(d.raw, parent); err != nil {
			return nil, fmt.Errorf("the DittoServer: %w", err)
		}
	}
	if parent == nil {
		return nil, errors.New("no DittoServer (kind: DittoServer) in the manifest")
	}
	md := &parent.Metadata
	md.Namespace = cmp.Or(md.Namespace, "default")
	md.UID = cmp.Or(md.UID, "00000000-0000-0000-0000-000000000000")
	md.Generation = cmp.Or(md.Generation, 1)
	req := &hook.SyncRequest{Parent: parent, Children: hook.ObservedMap{}, Related: hook.ObservedMap{hook.KeySecret: {}}}
	for _, k := range append([]string{hook.KeyStatefulSet, hook.KeyService, hook.KeyNetworkPolicy, hook.KeyConfigMap, hook.KeySecret}, optIn...) {
		req.Children[k] = map[string]hook.ObservedObject{}
	}
	objs := others
	if observedDir != "" {
		dirObjs, err := readObjects(observedDir)
		if err != nil {
			return nil, err
		}
		objs = append(objs, dirObjs...)
	}
	for _, o := range objs {
		key := o.Kind + "." + o.APIVersion
		if m, ok := req.Children[key]; ok && o.Metadata.Name != "" {
			m[o.Metadata.Name] = o.raw
			if key == hook.KeySecret {
				req.Related[key][o.Metadata.Name] = o.raw
			}
		}
	}
	return req, req.Check()
}

// childTypes turns --components into the child type keys Metacontroller
// sends when the CompositeController declares them.
func childTypes(components string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(components, ",") {
		switch strings.TrimSpace(c) {
		case "":
		case "servicemonitor":
			out = append(out, hook.KeyServiceMonitor)
		case "percona":
			out = append(out, hook.KeyPerconaPGCluster)
		default:
			return nil, fmt.Errorf("--components: %q is not a component (servicemonitor, percona)", c)
		}
	}
	return out, nil
}

// strictSpec refuses fields the DittoServer does not have: the API server
// would drop them silently, so a typo would go unnoticed.
func strictSpec(spec json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	var s hook.DittoServerSpec
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nil
}

// object is one document of a manifest: its JSON, and what files it.
type object struct {
	raw        json.RawMessage
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// readObjects reads every .yaml, .yml and .json file of a directory; a file
// may hold several YAML documents.
func readObjects(dir string) ([]object, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--observed: %w", err)
	}
	var out []object
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		docs, err := splitDocuments(data, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

// splitDocuments parses a YAML stream (or one JSON object) into objects,
// each converted to JSON once.
func splitDocuments(data []byte, name string) ([]object, error) {
	var out []object
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if strings.TrimSpace(strings.TrimPrefix(string(doc), "---")) == "" {
			continue
		}
		raw, err := yaml.YAMLToJSONStrict(doc)
		var o object
		if err == nil {
			err = json.Unmarshal(raw, &o)
		}
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: not a YAML or JSON object: %w", name, i+1, err)
		}
		if string(raw) != "null" {
			o.raw = raw
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	return out, nil
}
