package hook_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
)

// maxName is the longest DittoServer name the hook accepts: the upstream
// operator's real limit (see maxNameLength in names.go).
const maxName = 52

// adapterTypeSets are the adapter lists each name is answered with: the two
// types DittoFS has, and types it may report one day (their Service names
// take a hashed fragment of up to 17 characters).
var adapterTypeSets = [][]string{
	{"nfs", "smb"},
	{"nfs", "WebDAV", "a-very-long-adapter-type-from-the-future", "x", "NFSv4.1"},
}

// nameOfLength is a DNS-1035 label of n characters, with a dash where a
// shortened name cuts it (after 24), so that the cut is tested.
func nameOfLength(n int) string {
	const pattern = "dittofs-s3-smb-server-wi-th-secrets-and-a-long-tail-xyz"
	s := []byte(pattern[:n])
	if s[n-1] == '-' {
		s[n-1] = 'z'
	}
	return string(s)
}

// namesRequest is a first sync of a DittoServer called name, every child
// type declared, with the features that add children: metrics with a
// ServiceMonitor, nfs over UDP, the portmapper.
func namesRequest(name string, percona bool) *hook.SyncRequest {
	spec := `{"storage":{"metadataSize":"1Gi","contentSize":"1Gi"},
		"metrics":{"enabled":true,"serviceMonitor":{"enabled":true}},
		"adapterServices":{"overrides":{"nfs":{"udp":true,"portmapper":true}}}}`
	if percona {
		spec = `{"storage":{"metadataSize":"1Gi"},"percona":{"enabled":true}}`
	}
	req := &hook.SyncRequest{
		Parent: &hook.Parent{APIVersion: hook.APIVersion, Kind: hook.Kind, Spec: json.RawMessage(spec)},
		Children: hook.ObservedMap{hook.KeyStatefulSet: {}, hook.KeyService: {}, hook.KeyNetworkPolicy: {}, hook.KeyConfigMap: {},
			hook.KeySecret: {}, hook.KeyServiceMonitor: {}, hook.KeyPerconaPGCluster: {}},
		Related: hook.ObservedMap{hook.KeySecret: {}},
	}
	md := &req.Parent.Metadata
	md.Name, md.Namespace, md.UID, md.Generation = name, "default", "uid", 1
	return req
}

// child is an answered child, decoded as far as naming goes.
type child struct {
	raw        json.RawMessage
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		// StatefulSet
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"volumeClaimTemplates"`
		ServiceName string `json:"serviceName"`
	} `json:"spec"`
}

func decodeChildren(t testing.TB, resp *hook.SyncResponse) []child {
	t.Helper()
	var out []child
	for _, c := range resp.Children {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var ch child
		if err := json.Unmarshal(raw, &ch); err != nil {
			t.Fatal(err)
		}
		ch.raw = raw
		out = append(out, ch)
	}
	return out
}

// checkChildNames fails unless every child's name is valid for its kind,
// with room for the names Kubernetes derives from it (a StatefulSet's pod,
// its controller-revision-hash label, its PVCs), and every label value is
// valid.
func checkChildNames(t testing.TB, cr string, children []child) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range children {
		n := c.Metadata.Name
		var errs []string
		switch c.Kind {
		case "StatefulSet":
			errs = validation.IsDNS1123Label(n)
			// The pod's hostname, and its controller-revision-hash label:
			// <name>-<hash of up to 10 characters>.
			errs = append(errs, validation.IsDNS1123Label(n+"-0")...)
			errs = append(errs, validation.IsValidLabelValue(n+"-4294967295")...)
			for _, pvc := range c.Spec.VolumeClaimTemplates {
				errs = append(errs, validation.IsDNS1123Subdomain(pvc.Metadata.Name+"-"+n+"-0")...)
			}
			errs = append(errs, validation.IsDNS1123Label(c.Spec.ServiceName)...)
			errs = append(errs, labelErrs(c.Spec.Template.Metadata.Labels)...)
		case "Service", "NetworkPolicy", "PerconaPGCluster":
			// NetworkPolicy names may be DNS subdomains; the hook names
			// each as its Service. Percona names its own Services after
			// the cluster.
			errs = validation.IsDNS1035Label(n)
		case "Secret", "ConfigMap", "ServiceMonitor":
			errs = validation.IsDNS1123Subdomain(n)
		default:
			t.Fatalf("%s: a child of kind %s", cr, c.Kind)
		}
		errs = append(errs, labelErrs(c.Metadata.Labels)...)
		if len(errs) > 0 {
			t.Errorf("DittoServer %s (%d characters): %s %s: %s", cr, len(cr), c.Kind, n, strings.Join(errs, "; "))
		}
		if seen[c.Kind+"/"+n] {
			t.Errorf("DittoServer %s: two children named %s/%s", cr, c.Kind, n)
		}
		seen[c.Kind+"/"+n] = true
	}
}

func labelErrs(l map[string]string) []string {
	var errs []string
	for k, v := range l {
		errs = append(errs, validation.IsQualifiedName(k)...)
		errs = append(errs, validation.IsValidLabelValue(v)...)
	}
	return errs
}

// answerNames answers a first sync of name with adapters of the types
// given, as a successful poll, then a second one observing that answer's
// children (an adapter's Service comes once its policy is observed), and
// then a sync observing the second answer's children with the poll
// failing. It returns the second and third answers' children.
func answerNames(t testing.TB, name string, types []string, percona bool) (first, kept []child) {
	t.Helper()
	secrets := hook.NewSeededSecretSource("names")
	var adapters []dittofs.Adapter
	for i, typ := range types {
		adapters = append(adapters, dittofs.Adapter{ID: fmt.Sprint(i), Type: typ, Enabled: true, Running: true, Port: int32(20000 + i)})
	}
	// observing is the next request: every child of the last answer
	// observed, as the API server stores it.
	observing := func(resp *hook.SyncResponse, children []child) *hook.Sync {
		next := namesRequest(name, percona)
		if resp != nil {
			next.Parent.Status = *resp.Status
		}
		for _, c := range children {
			key := c.Kind + "." + c.APIVersion
			if next.Children[key] == nil {
				t.Fatalf("a child of undeclared type %s", key)
			}
			next.Children[key][c.Metadata.Name] = c.raw
		}
		sync, err := hook.Prepare(next, testCeiling)
		if err != nil {
			t.Fatal(err)
		}
		if err := sync.InvalidSpec(); err != nil {
			t.Fatalf("DittoServer %s (%d characters) refused: %v", name, len(name), err)
		}
		return sync
	}
	sync := observing(nil, nil)
	resp := sync.Desired(sync.ObservePoll(adapters, nil, api), now, secrets)
	sync = observing(resp, decodeChildren(t, resp))
	resp = sync.Desired(sync.ObservePoll(adapters, nil, api), now, secrets)
	first = decodeChildren(t, resp)
	sync = observing(resp, first)
	resp = sync.Desired(sync.ObservePoll(nil, timedOut, api), now, secrets)
	return first, decodeChildren(t, resp)
}

// TestChildNamesValid: every DittoServer name of 1 to 52 characters (the
// upstream operator's real limit) is accepted, and every child it gets is
// validly named for its kind, with any adapter type; an adapter child keeps
// the upstream operator's name <name>-adapter-<type>[-udp] wherever that
// fits a Service name (so no child that exists is renamed), its short form
// only where it does not; a failed poll keeps every adapter child, short
// names included. 53 characters is refused.
func TestChildNamesValid(t *testing.T) {
	for n := 1; n <= maxName; n++ {
		name := nameOfLength(n)
		for _, types := range adapterTypeSets {
			first, kept := answerNames(t, name, types, false)
			checkChildNames(t, name, first)
			adapterChildren := 0
			for _, c := range first {
				if c.Metadata.Labels[hook.LabelAdapterType] == "" {
					continue
				}
				adapterChildren++
				frag := c.Metadata.Labels[hook.LabelAdapterType]
				if strings.HasSuffix(c.Metadata.Name, "-udp") {
					frag += "-udp"
				}
				full := name + "-adapter-" + frag
				if len(full) <= 63 && c.Metadata.Name != full {
					t.Errorf("%s %s: the upstream name %s fits, and is not used", c.Kind, c.Metadata.Name, full)
				}
				if len(full) > 63 && !strings.HasSuffix(c.Metadata.Name, "-adapter-"+frag) {
					t.Errorf("%s %s: a short name does not end in -adapter-%s", c.Kind, c.Metadata.Name, frag)
				}
			}
			if adapterChildren < 2*len(types)+1 { // a Service and a policy each, nfs's UDP Service
				t.Errorf("%s: %d adapter children for %d types", name, adapterChildren, len(types))
			}
			names := map[string]bool{}
			for _, c := range kept {
				names[c.Kind+"/"+c.Metadata.Name] = true
			}
			for _, c := range first {
				if !names[c.Kind+"/"+c.Metadata.Name] {
					t.Errorf("%s (%d characters): a failed poll dropped %s %s", name, n, c.Kind, c.Metadata.Name)
				}
			}
		}
		first, _ := answerNames(t, name, nil, true)
		checkChildNames(t, name, first)
	}
	sync, err := hook.Prepare(namesRequest(nameOfLength(maxName)+"a", false), testCeiling)
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.InvalidSpec(); err == nil || !strings.Contains(err.Error(), "at most 52 characters") {
		t.Errorf("a name of 53 characters: %v", err)
	}
}

// FuzzChildNames: whatever the DittoServer's name and an adapter's type, a
// name the hook accepts (a DNS-1035 label of at most 52 characters) gives
// children validly named for their kinds, which a failed poll keeps.
func FuzzChildNames(f *testing.F) {
	f.Add("demo", "nfs")
	f.Add(nameOfLength(maxName), "smb")
	f.Add(nameOfLength(47), "nfs")
	f.Add(nameOfLength(48), "nfs")
	f.Add(nameOfLength(maxName), "WebDAV over QUIC, version 2")
	f.Add("a", "")
	f.Add(nameOfLength(maxName)+"a", "nfs")
	f.Fuzz(func(t *testing.T, name, typ string) {
		valid := len(name) <= maxName && len(validation.IsDNS1035Label(name)) == 0
		sync, err := hook.Prepare(namesRequest(name, false), testCeiling)
		if err != nil {
			t.Fatal(err)
		}
		if (sync.InvalidSpec() == nil) != valid {
			t.Fatalf("name %q (%d characters): accepted %t, want %t", name, len(name), sync.InvalidSpec() == nil, valid)
		}
		if !valid {
			return
		}
		first, kept := answerNames(t, name, []string{"nfs", typ}, false)
		checkChildNames(t, name, first)
		if len(kept) != len(first) {
			t.Fatalf("a failed poll kept %d of %d children", len(kept), len(first))
		}
	})
}
