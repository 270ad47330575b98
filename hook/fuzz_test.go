package hook_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// The fuzz targets sit where bytes from outside enter the hook: DittoFS's
// adapter list (whatever image answers at a DittoServer's API address), a
// DittoServer's spec (whoever may create one), and Metacontroller's request
// envelope. Each is seeded with small structured inputs, so that the fuzzer
// mutates what matters instead of 44 KB of captured managedFields.

// childNames lists an answer's children as "Kind/name", failing on a name
// given twice (Metacontroller keys children by kind and name: one would
// silently replace the other).
func childNames(t testing.TB, resp *hook.SyncResponse) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, c := range resp.Children {
		var head objectHead
		switch o := c.(type) {
		case interface {
			GetName() string
			GetObjectKind() k8sschema.ObjectKind
		}:
			head.APIVersion, head.Kind = o.GetObjectKind().GroupVersionKind().ToAPIVersionAndKind()
			head.Metadata.Name = o.GetName()
		case json.RawMessage: // a kept child
			if err := json.Unmarshal(o, &head); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("a child of type %T", c)
		}
		k := head.Kind + "/" + head.Metadata.Name
		if head.APIVersion != apiVersions[head.Kind] {
			k = head.Kind + "." + head.APIVersion + "/" + head.Metadata.Name
		}
		if out[k] {
			t.Fatalf("two children named %s", k)
		}
		out[k] = true
	}
	return out
}

// observedChildren lists a request's observed children as "Kind/name",
// sorted, read from its JSON as Metacontroller sent it.
func observedChildren(tb testing.TB, request []byte) []string {
	tb.Helper()
	var req struct {
		Children map[string]map[string]objectHead `json:"children"`
	}
	if err := json.Unmarshal(request, &req); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, objs := range req.Children {
		for n, o := range objs {
			out = append(out, o.Kind+"/"+n)
		}
	}
	slices.Sort(out)
	return out
}

// adapterChildren are the children of an answer (as childNames lists them)
// named after an adapter of the DittoServer cr, sorted.
func adapterChildren(children map[string]bool, cr string) []string {
	var out []string
	for n := range children {
		if _, name, _ := strings.Cut(n, "/"); strings.HasPrefix(name, cr+"-adapter-") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// objectHead is what files an object.
type objectHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// apiVersions of the child kinds: childNames names them "Kind/name".
var apiVersions = map[string]string{"StatefulSet": "apps/v1", "Service": "v1", "NetworkPolicy": "networking.k8s.io/v1", "ConfigMap": "v1", "Secret": "v1"}

// FuzzAdapterList: whatever DittoFS answers to GET /api/v1/adapters, the
// hook decodes and judges it without panicking; a list it accepts exposes
// at most 32 types, each once, sorted, with no two children sharing a name,
// and agrees with what the status says; a list it refuses changes no
// adapter child. The answer is the same for the same bytes.
func FuzzAdapterList(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"id":"a","type":"nfs","enabled":true,"running":true,"port":12049}]`,
		`[{"id":"a","type":"nfs","enabled":true,"running":true,"port":0},{"id":"b","type":"smb","enabled":false,"running":false,"port":1445}]`,
		`[{"id":"b","type":"nfs","enabled":false,"running":false,"port":2049,"created_at":"2026-11-25T20:05:44Z"},{"id":"a","type":"nfs","enabled":true,"running":true,"port":12049}]`,
		`[{"id":"n","type":"nfs","enabled":true,"running":true,"port":12049},{"id":"u","type":"nfs-udp","enabled":true,"running":true,"port":2049}]`,
		`[{"id":"w","type":"WebDAV","enabled":true,"running":false,"port":8443},{"id":"x","type":"webdav-d92634","enabled":true,"running":true,"port":8444}]`,
		`[{"id":"a","enabled":true,"running":true,"port":1}]`,
		`{"adapters":[]}`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Add(hooktest.DittoFSBody("adapters-fresh.body"))
	// A ready server with an nfs adapter's children observed, nfs with UDP.
	sync := prepare(f, []byte(strings.Replace(smallRequest, `"metadataSize":"1Gi"}`, `"metadataSize":"1Gi"},"adapterServices":{"overrides":{"nfs":{"udp":true}}}`, 1)))
	if err := sync.InvalidSpec(); err != nil || !sync.Plan().Contact {
		f.Fatalf("the base request would not poll: %v", err)
	}
	secrets := hook.NewSeededSecretSource("fuzz")
	// What a refused list must answer, read from the request, not from the
	// hook: every observed child, and as adapter children exactly those of
	// the last known adapters (status.adapters: nfs on 12049, enabled; the
	// spec asks for nfs's UDP Service too).
	observed := observedChildren(f, []byte(smallRequest))
	lastKnown := []string{"NetworkPolicy/demo-adapter-nfs", "Service/demo-adapter-nfs", "Service/demo-adapter-nfs-udp"}
	f.Fuzz(func(t *testing.T, body []byte) {
		adapters, err := dittofs.DecodeAdapters(body)
		if err != nil {
			if adapters != nil {
				t.Fatalf("a refused list came with adapters: %v", adapters)
			}
			err = &dittofs.MalformedError{Op: "list adapters", Err: err}
		}
		obs := sync.ObservePoll(adapters, err, api)
		resp := sync.Desired(obs, now, secrets)
		checkEvents(t, sync.Events(obs, resp))
		children := childNames(t, resp)
		poll := obs.Poll()
		switch poll.State {
		case hook.Succeeded:
			judged := obs.Adapters()
			if len(judged) > 32 {
				t.Fatalf("%d adapter types accepted", len(judged))
			}
			for i := 1; i < len(judged); i++ {
				if judged[i-1].Type >= judged[i].Type {
					t.Fatalf("adapters not one per type, sorted: %q then %q", judged[i-1].Type, judged[i].Type)
				}
			}
			// The status lists the poll's adapters, and a last known one
			// (nfs) only where an item the hook cannot read may be it.
			var extra []string
			for _, st := range resp.Status.Adapters {
				if !slices.ContainsFunc(judged, func(a dittofs.Adapter) bool { return a.Type == st.Type }) {
					extra = append(extra, st.Type)
				}
			}
			if len(resp.Status.Adapters)-len(extra) != len(judged) || len(extra) > 0 && (len(obs.Rejected()) == 0 || !slices.Equal(extra, []string{"nfs"})) {
				t.Fatalf("status lists %d adapters (%v not polled), the poll %d, with %d unreadable", len(resp.Status.Adapters), extra, len(judged), len(obs.Rejected()))
			}
		case hook.Failed:
			if poll.Reason != hook.ReasonInvalidResponse || obs.Adapters() != nil {
				t.Fatalf("a refused list: %+v, %d adapters", poll, len(obs.Adapters()))
			}
			for _, n := range observed {
				if !children[n] {
					t.Fatalf("a refused list dropped the observed %s", n)
				}
			}
			if got := adapterChildren(children, "demo"); !slices.Equal(got, lastKnown) {
				t.Fatalf("a refused list answered the adapter children %v, want the last known %v", got, lastKnown)
			}
			if len(resp.Status.Adapters) != 1 || resp.Status.Adapters[0].Type != "nfs" || resp.Status.Adapters[0].Port != 12049 {
				t.Fatalf("a refused list changed status.adapters to %+v", resp.Status.Adapters)
			}
		default:
			t.Fatalf("a poll that happened is %+v", poll)
		}
		if again := sync.ObservePoll(adapters, err, api); !reflect.DeepEqual(obs, again) {
			t.Fatal("the same list was judged twice differently")
		}
	})
}

// FuzzSpec: whatever a DittoServer's spec holds, resolving it never
// panics; a spec the hook cannot use is a *SpecError answered by keeping
// every child, and one it can use gives children with valid names; the
// Events it records (InvalidSpec, ChildTypeNotDeclared, SnapshotPolicyFailed
// for a spec of them) are ones the API server accepts.
func FuzzSpec(f *testing.F) {
	for _, seed := range []string{
		`{"storage":{"metadataSize":"1Gi"}}`,
		`{"storage":{"metadataSize":"1Gi","contentSize":"10Gi","controlPlaneSize":"2Gi","storageClassName":"fast"},"replicas":0}`,
		`{"storage":{"metadataSize":"1Gi"},"database":{"type":"postgres","postgresSecretRef":{"name":"pg"}},"controlPlane":{"port":9090}}`,
		`{"storage":{"metadataSize":"1Gi"},"identity":{"jwt":{"secretRef":{"name":"j","key":"k"},"accessTokenDuration":"10m"},"admin":{"username":"admin","passwordSecretRef":{"name":"a","key":"p"}}}}`,
		`{"storage":{"metadataSize":"1Gi"},"adapterDiscovery":{"pollingInterval":"1m"},"logging":{"level":"DEBUG","format":"text"}}`,
		`{"storage":{"metadataSize":"1Gi"},"adapterServices":{"type":"NodePort","annotations":{"a":"b"},"overrides":{"nfs":{"udp":true,"portmapper":true,"nodePort":30000},"smb":{"type":"LoadBalancer","loadBalancerSourceRanges":["10.0.0.0/8"]}}}}`,
		`{"storage":{"metadataSize":"1Gi"},"networkPolicy":{"enabled":false,"apiFrom":[{"ipBlock":{"cidr":"10.0.0.0/8"}}]},"service":{"type":"NodePort"}}`,
		`{"storage":{"metadataSize":"lots"},"replicas":2}`,
		`{"storage":{"metadataSize":"1Gi"},"controlPlane":{"tls":true,"certSecretName":"t","clientCASecretName":"c"},"metrics":{"enabled":true,"port":9100,"path":"/m","bearerTokenSecret":{"name":"m","key":"t"},"serviceMonitor":{"enabled":true,"interval":"30s","labels":{"a":"b"}}},"logging":{"output":"/data/controlplane/log"}}`,
		`{"storage":{"metadataSize":"1Gi"},"identity":{"type":"memory","ldap":{"enabled":true,"url":"ldaps://dc","baseDN":"b","bindDN":"c","bindPasswordSecretRef":{"name":"l","key":"p"}},"kerberos":{"enabled":true,"servicePrincipal":"nfs/x@X","keytabSecretRef":{"name":"k","key":"kt"},"machineAccount":{"enabled":true,"accountName":"D$","secretRef":{"name":"m","key":"p"},"dcAddress":["dc"]}}}}`,
		`{"storage":{"metadataSize":"1Gi"},"percona":{"enabled":true,"replicas":2,"backup":{"enabled":true,"bucket":"b"}},"snapshotPolicies":[{"share":"/a","interval":"@daily","keepLast":3},{"share":"a","interval":"1h"}]}`,
		`{"storage":{"metadataSize":"1Gi"},"database":{"postgresSecretRef":{"name":"pg","key":"dsn"}},"securityContext":{"runAsUser":1},"podSecurityContext":{"fsGroup":2}}`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		req := &hook.SyncRequest{
			Parent:   &hook.Parent{APIVersion: hook.APIVersion, Kind: hook.Kind, Spec: spec},
			Children: hook.ObservedMap{hook.KeyStatefulSet: {}, hook.KeyService: {}, hook.KeyNetworkPolicy: {}, hook.KeyConfigMap: {}, hook.KeySecret: {}},
		}
		req.Parent.Metadata.Name, req.Parent.Metadata.Namespace, req.Parent.Metadata.UID = "demo", "default", "uid"
		sync, err := hook.Prepare(req, testCeiling)
		if err != nil {
			t.Fatalf("a request with no children refused: %v", err)
		}
		resp := sync.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("fuzz"))
		checkEvents(t, sync.Events(hook.Observation{}, resp))
		children := childNames(t, resp)
		if err := sync.InvalidSpec(); err != nil {
			var specErr *hook.SpecError
			if !errors.As(err, &specErr) || len(children) != 0 || sync.Plan().Contact {
				t.Fatalf("an invalid spec (%v, %T): %d children kept of none, contact %t", err, err, len(children), sync.Plan().Contact)
			}
			return
		}
		for n := range children {
			name := n[strings.Index(n, "/")+1:]
			if len(name) > 63 || !strings.HasPrefix(name, "demo") {
				t.Fatalf("child %s", n)
			}
		}
		// With Percona, DittoFS waits for its database: no StatefulSet yet.
		if (!children["StatefulSet/demo"] && resp.Status.PerconaClusterName == "") || !children["ConfigMap/demo-config"] {
			t.Fatalf("a valid spec without its StatefulSet or ConfigMap: %v", children)
		}
	})
}

// smallRequest is a sync request with one child of each kind the hook
// reads, each a few fields: a seed the fuzzer can mutate usefully.
const smallRequest = `{"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer",
"metadata":{"name":"demo","namespace":"default","uid":"u","generation":1},
"spec":{"storage":{"metadataSize":"1Gi"}},
"status":{"adapters":[{"type":"nfs","port":12049,"enabled":true,"running":true,"service":"demo-adapter-nfs"}]}},
"children":{
"StatefulSet.apps/v1":{"demo":{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"demo"},"status":{"readyReplicas":1}}},
"Service.v1":{"demo-adapter-nfs":{"apiVersion":"v1","kind":"Service","metadata":{"name":"demo-adapter-nfs","annotations":{"metacontroller.k8s.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"demo-adapter-nfs\"}}"}},"spec":{"type":"NodePort","ports":[{"name":"nfs","port":12049,"nodePort":30000}]}}},
"NetworkPolicy.networking.k8s.io/v1":{"demo-adapter-nfs":{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"demo-adapter-nfs"}}},
"ConfigMap.v1":{"demo-config":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"demo-config"},"data":{"config.yaml":"database:\n  sqlite:\n    path: /data/controlplane/controlplane.db\n  type: sqlite\n"}}},
"Secret.v1":{"demo-operator-credentials":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"demo-operator-credentials"},"data":{"password":"cA=="}}}},
"related":{"Secret.v1":{}}}`

// FuzzSyncRequest: whatever Metacontroller sends, decoding it never
// panics and refuses it with an *InputError, or it is answered, the same
// way twice; and when every child is filed under its own kind (as
// Metacontroller files them), a failed poll keeps every observed adapter
// child (unless the spec is unusable, which keeps everything, or
// NetworkPolicies are disabled, which removes every policy).
func FuzzSyncRequest(f *testing.F) {
	f.Add([]byte(smallRequest))
	f.Add([]byte(strings.Replace(smallRequest, `"generation":1}`, `"generation":1,"deletionTimestamp":"2026-11-25T20:09:50Z"},"finalizing":true`, 1)))
	f.Add([]byte(strings.Replace(smallRequest, `"spec":{"storage":{"metadataSize":"1Gi"}}`, `"spec":{"storage":{"metadataSize":"1Gi"},"networkPolicy":{"enabled":false}}`, 1)))
	f.Add([]byte(`{"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":"demo","namespace":"default","uid":"u"}},"children":{}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"parent":null,"children":{}}`))
	// Hook version v2: the controller says so; namespaced objects filed
	// under <namespace>/<name>, a StorageClass under its name.
	f.Add([]byte(`{"controller":{"spec":{"hooks":{"sync":{"version":"v2"}}}},"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer",` +
		`"metadata":{"name":"demo","namespace":"default","uid":"u","generation":1},"spec":{"storage":{"metadataSize":"1Gi","storageClassName":"fast"}}},` +
		`"children":{"ConfigMap.v1":{"default/demo-config":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"demo-config","namespace":"default"}}}},` +
		`"related":{"StorageClass.storage.k8s.io/v1":{"fast":{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"fast"}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := hook.DecodeSyncRequest(body)
		if err == nil {
			var sync *hook.Sync
			if sync, err = hook.Prepare(req, testCeiling); err == nil {
				answerSyncRequest(t, req, sync)
				return
			}
		}
		var inputErr *hook.InputError
		if !errors.As(err, &inputErr) {
			t.Fatalf("refused with a %T, not an *InputError: %v", err, err)
		}
	})
}

// answerSyncRequest checks the answer to an accepted request.
//
// Two answers to one request are the same but for the values of Secrets
// generated afresh (drawn per answer: the same seed draws the same ones).
func answerSyncRequest(t *testing.T, req *hook.SyncRequest, sync *hook.Sync) {
	obs := sync.ObservePoll(nil, timedOut, api)
	resp := sync.Desired(obs, now, hook.NewSeededSecretSource("fuzz"))
	if _, err := json.Marshal(resp); err != nil {
		t.Fatalf("the answer does not encode: %v", err)
	}
	checkEvents(t, sync.Events(obs, resp))
	if again := sync.Desired(sync.ObservePoll(nil, timedOut, api), now, hook.NewSeededSecretSource("fuzz")); !reflect.DeepEqual(resp, again) {
		t.Fatal("two answers to the same request differ")
	}
	if !filedByKind(req) {
		return
	}
	children := childNames(t, resp)
	var spec struct {
		NetworkPolicy *struct {
			Enabled *bool `json:"enabled"`
		} `json:"networkPolicy"`
	}
	_ = json.Unmarshal(req.Parent.Spec, &spec)
	policiesOff := spec.NetworkPolicy != nil && spec.NetworkPolicy.Enabled != nil && !*spec.NetworkPolicy.Enabled
	observed := 0
	for key, objs := range req.Children {
		kind, _, _ := strings.Cut(key, ".")
		observed += len(objs)
		for n := range objs {
			switch {
			case sync.InvalidSpec() != nil:
			case kind == "NetworkPolicy" && policiesOff:
			case (kind == "Service" || kind == "NetworkPolicy") && strings.HasPrefix(n, req.Parent.Metadata.Name+"-adapter-") && !children[kind+"/"+n]:
				t.Fatalf("a failed poll dropped the observed %s/%s", kind, n)
			}
		}
	}
	if sync.InvalidSpec() != nil && len(children) != observed {
		t.Fatalf("an unusable spec kept %d of %d children", len(children), observed)
	}
}

// filedByKind says whether every child's kind and apiVersion are those of
// the key it is filed under.
func filedByKind(req *hook.SyncRequest) bool {
	for key, objs := range req.Children {
		for _, raw := range objs {
			var head objectHead
			if json.Unmarshal(raw, &head) != nil || head.Kind+"."+head.APIVersion != key {
				return false
			}
		}
	}
	return true
}

func prepare(tb testing.TB, body []byte) *hook.Sync {
	tb.Helper()
	req, err := hook.DecodeSyncRequest(body)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := hook.Prepare(req, testCeiling)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// checkEvents: whatever the request or DittoFS said, the Events a sync
// records are ones the API server accepts: a DNS-subdomain name of their
// own, a known reason, one line of note within its bound.
func checkEvents(t *testing.T, evs []hook.Event) {
	t.Helper()
	names := map[string]bool{}
	for _, e := range evs {
		if errs := validation.IsDNS1123Subdomain(e.Name); len(errs) > 0 || names[e.Name] {
			t.Fatalf("Event %s %q: %v (or named twice)", e.Reason, e.Name, errs)
		}
		names[e.Name] = true
		if !slices.Contains(hook.EventReasons, e.Reason) || e.Action == "" || e.Note == "" || len(e.Note) > hook.MaxEventNote || strings.ContainsAny(e.Note, "\n\r") {
			t.Fatalf("Event %s: action %q, note %q", e.Reason, e.Action, e.Note)
		}
	}
}
