// Package hooktest builds the sync requests tests send to the hook, in the
// style of cert-manager's test/unit/gen: a request a real Metacontroller
// v4.17.2 sent (test/testdata/metacontroller, byte for byte), changed by
// named modifiers, so that a test says what its case is where it defines it
// ("Steady(WithSpecField("replicas", 0))"), not in a file of 44 KB.
//
// Observed children that a modifier adds are copies of the captured ones
// (server defaults, managedFields, the last-applied annotation and all) with
// their name, port or address changed.
package hooktest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// Captured requests, as a real Metacontroller v4.17.2 sent them for the
// DittoServer "demo" (see test/testdata/metacontroller).
const (
	// FirstSync: the first sync of a new DittoServer; no child exists yet.
	FirstSync = "sync-first.json"
	// ChildrenCreated: the next one, with the children the first answer made.
	ChildrenCreated = "sync-children-created.json"
	// ReadyLB: the pod ready, an adapter Service with a load balancer address.
	ReadyLB = "sync-ready-lb.json"
	// FinalizeCall: a finalize call after kubectl delete.
	FinalizeCall = "finalize-request.json"
	// CustomizeCall: the customize call before the first sync.
	CustomizeCall = "customize-request.json"
)

const lastApplied = "metacontroller.k8s.io/last-applied-configuration"

// Dir is test/testdata, where the captured traffic lives.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "testdata")
}

// Request is a sync request being built: a JSON tree that modifiers change.
// Until one does, it is the captured bytes.
type Request struct {
	raw  []byte
	tree map[string]any
}

// Modifier changes a request.
type Modifier func(*Request)

// Captured is a captured request (FirstSync, ChildrenCreated, ReadyLB,
// FinalizeCall) with the modifiers applied in order.
func Captured(name string, mods ...Modifier) *Request {
	raw, err := os.ReadFile(filepath.Join(Dir(), "metacontroller", name))
	if err != nil {
		panic("hooktest: " + err.Error())
	}
	r := &Request{raw: raw}
	return r.With(mods...)
}

// With applies more modifiers.
func (r *Request) With(mods ...Modifier) *Request {
	for _, m := range mods {
		r.edit()
		m(r)
	}
	return r
}

// JSON is the request's body: the captured bytes when no modifier changed
// it, else the tree encoded.
func (r *Request) JSON() []byte {
	if r.tree == nil {
		return r.raw
	}
	b, err := json.Marshal(r.tree)
	if err != nil {
		panic("hooktest: " + err.Error())
	}
	return b
}

// Tree is the request as a JSON tree, for a modifier of a test's own.
func (r *Request) Tree() map[string]any {
	r.edit()
	return r.tree
}

func (r *Request) edit() {
	if r.tree != nil {
		return
	}
	if err := json.Unmarshal(r.raw, &r.tree); err != nil {
		panic("hooktest: " + err.Error())
	}
}

func (r *Request) parent() map[string]any { return r.tree["parent"].(map[string]any) }

func (r *Request) metadata() map[string]any { return r.parent()["metadata"].(map[string]any) }

func (r *Request) spec() map[string]any {
	p := r.parent()
	if p["spec"] == nil {
		p["spec"] = map[string]any{}
	}
	return p["spec"].(map[string]any)
}

func (r *Request) children(key string) map[string]any {
	cs := r.tree["children"].(map[string]any)
	if cs[key] == nil {
		cs[key] = map[string]any{}
	}
	return cs[key].(map[string]any)
}

func (r *Request) status() map[string]any {
	p := r.parent()
	if p["status"] == nil {
		p["status"] = map[string]any{}
	}
	return p["status"].(map[string]any)
}

// UID of the captured DittoServer "demo".
const UID = "ee158683-a2f5-4ace-8cc9-5a891607c06b"

// Steady is the captured ready request after the hook's own first poll:
// the operator account provisioned, nfs (12049, with a load balancer
// address) and smb (1445) discovered, their Services and NetworkPolicies
// observed, the status as the hook wrote it.
func Steady(mods ...Modifier) *Request {
	base := []Modifier{
		WithChild(OperatorSecret()),
		WithChild(AdapterService("demo-adapter-nfs", "nfs", 12049, 31236, "10.0.0.33", "203.0.113.10")),
		WithChild(AdapterService("demo-adapter-smb", "smb", 1445, 30445, "10.0.0.34", "")),
		WithChild(AdapterPolicy("demo-adapter-nfs", 12049)),
		WithChild(AdapterPolicy("demo-adapter-smb", 1445)),
		WithStatusAdapters(
			StatusAdapter{Type: "nfs", Port: 12049, Enabled: true, Running: true, Health: "healthy", Service: "demo-adapter-nfs", Endpoints: []string{"203.0.113.10:12049", "*:31236", "10.0.0.33:12049"}},
			StatusAdapter{Type: "smb", Port: 1445, Enabled: true, Running: true, Health: "healthy", Service: "demo-adapter-smb", Endpoints: []string{"*:30445", "10.0.0.34:1445"}},
		),
		WithWorkload("Running", 1, 1, SteadyConfigHash),
		WithConditions(
			Condition{"ConfigReady", "True", "ConfigValid", "DittoFS's configuration is rendered into ConfigMap demo-config", SteadySince},
			Condition{"Available", "True", "ReplicaReady", "the DittoFS pod is ready", SteadySince},
			Condition{"Progressing", "False", "RolloutComplete", "StatefulSet demo runs the current template", SteadySince},
			Condition{"Authenticated", "True", "AuthenticationSucceeded", "logged in to the DittoFS API as k8s-operator", SteadySince},
			Condition{"AdaptersDiscovered", "True", "PollSucceeded", "DittoFS reports nfs on 12049 (enabled), smb on 1445 (enabled)", SteadySince},
			Condition{"AdaptersReady", "False", "LoadBalancerPending", "no load balancer address yet for smb (Service demo-adapter-smb); on a cluster without load balancers set spec.adapterServices.type to NodePort", SteadySince},
			Condition{"Ready", "False", "LoadBalancerPending", "no load balancer address yet for smb (Service demo-adapter-smb); on a cluster without load balancers set spec.adapterServices.type to NodePort", SteadySince},
		),
	}
	return Captured(ReadyLB, append(base, mods...)...)
}

// SteadySince is when the conditions of Steady last changed.
const SteadySince = "2026-11-25T20:06:00Z"

// SteadyConfigHash is the pod template's config hash the hook answers for
// the captured DittoServer "demo" (config.yaml alone: it reads no Secret of
// the user's at start).
const SteadyConfigHash = "b80f7bde8c75bef8"

// WithWorkload sets the status the hook reports of the StatefulSet: the
// phase, spec.replicas, the ready (and available) replicas and the config
// hash.
func WithWorkload(phase string, replicas, ready int, configHash string) Modifier {
	return func(r *Request) {
		st := r.status()
		st["phase"], st["replicas"], st["readyReplicas"], st["availableReplicas"], st["configHash"] = phase, replicas, ready, ready, configHash
		for k, v := range st {
			if v == 0 {
				delete(st, k) // omitempty, as the hook writes it
			}
		}
	}
}

// WithSpec replaces the parent's spec, and drops the parent's annotations
// (the captured kubectl last-applied copy of the old spec).
func WithSpec(spec map[string]any) Modifier {
	return func(r *Request) {
		r.parent()["spec"] = clone(spec)
		delete(r.metadata(), "annotations")
	}
}

// WithSpecField sets one field of the spec, by its dotted path
// ("identity.admin.username"), making the objects on the way.
func WithSpecField(path string, value any) Modifier {
	return func(r *Request) {
		m := r.spec()
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = clone(value)
	}
}

// WithChild adds an observed child, or replaces the one of its kind and name.
func WithChild(obj map[string]any) Modifier {
	return func(r *Request) {
		kind, _ := obj["kind"].(string)
		apiVersion, _ := obj["apiVersion"].(string)
		name, _ := obj["metadata"].(map[string]any)["name"].(string)
		r.children(kind + "." + apiVersion)[name] = clone(obj)
	}
}

// WithoutChild removes an observed child; kind is its Kind ("Service").
func WithoutChild(kind, name string) Modifier {
	return func(r *Request) {
		delete(r.children(childKey(kind)), name)
	}
}

// WithChildEdit changes an observed child in place.
func WithChildEdit(kind, name string, edit func(obj map[string]any)) Modifier {
	return func(r *Request) {
		obj, ok := r.children(childKey(kind))[name].(map[string]any)
		if !ok {
			panic(fmt.Sprintf("hooktest: no observed %s %s", kind, name))
		}
		edit(obj)
	}
}

// WithStatefulSetStatus sets the observed StatefulSet's status: what the
// kubelet reports.
func WithStatefulSetStatus(status map[string]any) Modifier {
	return WithChildEdit("StatefulSet", "demo", func(obj map[string]any) { obj["status"] = clone(status) })
}

// WithConfigYAML replaces the observed ConfigMap's config.yaml: the
// configuration the running DittoFS was given.
func WithConfigYAML(configYAML string) Modifier {
	return WithChildEdit("ConfigMap", "demo-config", func(obj map[string]any) {
		obj["data"].(map[string]any)["config.yaml"] = configYAML
	})
}

// WithoutRelatedSecrets sends no related Secret (the one passwordSecretRef
// names does not exist).
func WithoutRelatedSecrets() Modifier {
	return func(r *Request) { r.tree["related"] = map[string]any{hook.KeySecret: map[string]any{}} }
}

// WithRelatedSecret adds, or replaces, a related Secret: one of the user's
// that the customize hook named, as the API server stores it (its data,
// UID and resourceVersion; a new resourceVersion is a rotation).
func WithRelatedSecret(name string, data map[string]string, resourceVersion string) Modifier {
	return func(r *Request) {
		rel, _ := r.tree["related"].(map[string]any)
		if rel == nil {
			rel = map[string]any{}
			r.tree["related"] = rel
		}
		secrets, _ := rel[hook.KeySecret].(map[string]any)
		if secrets == nil {
			secrets = map[string]any{}
			rel[hook.KeySecret] = secrets
		}
		enc := map[string]any{}
		for k, v := range data {
			enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		secrets[name] = map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": name, "namespace": "default", "uid": "secret-uid-" + name, "resourceVersion": resourceVersion},
			"data":     enc, "type": "Opaque",
		}
	}
}

// WithPostgresEnv makes the observed StatefulSet's DittoFS read its
// Postgres settings from Secret secret, as a pod the hook made for a
// DittoServer on Postgres does (DITTOFS_DATABASE_POSTGRES_HOST names it).
func WithPostgresEnv(secret string) Modifier {
	return WithChildEdit("StatefulSet", "demo", func(obj map[string]any) {
		ctr := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		env, _ := ctr["env"].([]any)
		ctr["env"] = append(env, map[string]any{"name": "DITTOFS_DATABASE_POSTGRES_HOST",
			"valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": secret, "key": "host"}}})
	})
}

// DerivedPostgresSecret is an observed Secret the hook derived from the
// connection string of the user's Secret source, owned by "demo".
func DerivedPostgresSecret(name, source string, data map[string]string) map[string]any {
	owners := captured("Service", "demo-adapter-nfs")["metadata"].(map[string]any)["ownerReferences"]
	enc := map[string]any{}
	for k, v := range data {
		enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"name": name, "namespace": "default", "uid": "derived-uid-" + name, "resourceVersion": "300",
			"labels":          map[string]any{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "dittofs", "app.kubernetes.io/component": "postgres", "controller-uid": UID},
			"annotations":     map[string]any{"dittofs.io/postgres-secret": source},
			"ownerReferences": owners,
		},
		"data": enc, "type": "Opaque",
	}
}

// WithoutRelatedSecret removes a related Secret (it does not exist).
func WithoutRelatedSecret(name string) Modifier {
	return func(r *Request) {
		if secrets, ok := r.tree["related"].(map[string]any)[hook.KeySecret].(map[string]any); ok {
			delete(secrets, name)
		}
	}
}

// WithChildType declares an opt-in child type (hook.KeyServiceMonitor,
// hook.KeyPerconaPGCluster): Metacontroller sends a key, an empty map when
// nothing of it exists, for every child type the CompositeController
// declares.
func WithChildType(key string) Modifier {
	return func(r *Request) { r.children(key) }
}

// PerconaCluster is an observed PerconaPGCluster "demo-postgres" whose
// status.state is state ("" for none yet), owned by "demo".
func PerconaCluster(state string) map[string]any {
	owners := captured("Service", "demo-adapter-nfs")["metadata"].(map[string]any)["ownerReferences"]
	obj := map[string]any{
		"apiVersion": "pgv2.percona.com/v2", "kind": "PerconaPGCluster",
		"metadata": map[string]any{"name": "demo-postgres", "namespace": "default", "uid": "pg-uid", "resourceVersion": "300",
			"labels": map[string]any{"controller-uid": UID}, "ownerReferences": owners},
		"spec": map[string]any{"crVersion": "2.8.0", "postgresVersion": 16},
	}
	if state != "" {
		obj["status"] = map[string]any{"state": state}
	}
	return obj
}

// WithUpstreamStatefulSet makes the observed StatefulSet one the upstream
// operator made: its selector and pod labels are app: dittofs-server,
// instance: demo (a selector cannot change).
func WithUpstreamStatefulSet() Modifier {
	return WithChildEdit("StatefulSet", "demo", func(obj map[string]any) {
		spec := obj["spec"].(map[string]any)
		upstream := map[string]any{"app": "dittofs-server", "instance": "demo"}
		spec["selector"] = map[string]any{"matchLabels": clone(upstream)}
		spec["template"].(map[string]any)["metadata"].(map[string]any)["labels"] = clone(upstream)
		delete(obj["metadata"].(map[string]any)["annotations"].(map[string]any), lastApplied)
	})
}

// UpstreamNFSService is demo-adapter-nfs as the upstream operator makes it
// for nfs on port: one Service with its TCP port, the portmapper on 111
// (TCP and UDP), the same port over UDP and mDNS, under its own port names,
// each with a node port; no last-applied annotation (the hook never
// applied it).
func UpstreamNFSService(port int) map[string]any {
	s := AdapterService("demo-adapter-nfs", "nfs", port, 31236, "10.0.0.33", "203.0.113.10")
	md := s["metadata"].(map[string]any)
	delete(md["annotations"].(map[string]any), lastApplied)
	md["labels"] = map[string]any{"app": "dittofs-server", "instance": "demo", "dittofs.io/adapter-service": "true", "dittofs.io/adapter-type": "nfs", "controller-uid": UID}
	spec := s["spec"].(map[string]any)
	spec["selector"] = map[string]any{"app": "dittofs-server", "instance": "demo"}
	spec["ports"] = []any{
		map[string]any{"name": "adapter-nfs", "port": port, "protocol": "TCP", "targetPort": port, "nodePort": 31236},
		map[string]any{"name": "portmap", "port": 111, "protocol": "TCP", "targetPort": 10111, "nodePort": 31111},
		map[string]any{"name": "portmap-udp", "port": 111, "protocol": "UDP", "targetPort": 10111, "nodePort": 31112},
		map[string]any{"name": "adapter-nfs-udp", "port": port, "protocol": "UDP", "targetPort": port, "nodePort": 31237},
		map[string]any{"name": "mdns", "port": 5353, "protocol": "UDP", "targetPort": 5353, "nodePort": 31353},
	}
	return s
}

// WithSnapshotStatus sets status.snapshotPolicies: what the hook recorded
// as applied.
func WithSnapshotStatus(hash string, shares ...string) Modifier {
	return func(r *Request) {
		sh := make([]any, len(shares))
		for i, v := range shares {
			sh[i] = v
		}
		r.status()["snapshotPolicies"] = map[string]any{"appliedHash": hash, "shares": sh}
	}
}

// WithRelatedEdit changes a related object in place; kind is its Kind.
func WithRelatedEdit(kind, name string, edit func(obj map[string]any)) Modifier {
	return func(r *Request) {
		rel := r.tree["related"].(map[string]any)[childKey(kind)].(map[string]any)
		edit(rel[name].(map[string]any))
	}
}

// StatusAdapter is one entry of status.adapters, as the hook writes it.
type StatusAdapter = hook.AdapterStatus

// WithStatusAdapters sets status.adapters (the last known adapters); with
// none, it removes the field, as a status written before discovery has none.
func WithStatusAdapters(adapters ...StatusAdapter) Modifier {
	return func(r *Request) {
		st := r.status()
		st["observedGeneration"] = 1
		if len(adapters) == 0 {
			delete(st, "adapters")
			return
		}
		st["adapters"] = toTree(adapters)
	}
}

// Condition is one status condition, as the hook writes it at generation 1.
type Condition struct {
	Type, Status, Reason, Message string
	// Since is its lastTransitionTime.
	Since string
}

// WithConditions replaces status.conditions.
func WithConditions(conds ...Condition) Modifier {
	return func(r *Request) {
		st := r.status()
		st["observedGeneration"] = 1
		out := make([]any, len(conds))
		for i, c := range conds {
			out[i] = map[string]any{"type": c.Type, "status": c.Status, "observedGeneration": 1, "lastTransitionTime": c.Since, "reason": c.Reason, "message": c.Message}
		}
		st["conditions"] = out
	}
}

// WithAddedCondition adds a condition to status.conditions, before Ready
// (which the hook writes last).
func WithAddedCondition(c Condition) Modifier {
	return func(r *Request) {
		st := r.status()
		conds, _ := st["conditions"].([]any)
		add := map[string]any{"type": c.Type, "status": c.Status, "observedGeneration": 1, "lastTransitionTime": c.Since, "reason": c.Reason, "message": c.Message}
		at := len(conds)
		for i, x := range conds {
			if x.(map[string]any)["type"] == "Ready" {
				at = i
			}
		}
		st["conditions"] = append(conds[:at:at], append([]any{add}, conds[at:]...)...)
	}
}

// WithCondition changes the conditions of the given types (Status, Reason,
// Message and Since of c; its Type names no one condition, types does).
func WithCondition(c Condition, types ...string) Modifier {
	return func(r *Request) {
		for _, x := range r.status()["conditions"].([]any) {
			m := x.(map[string]any)
			for _, typ := range types {
				if m["type"] == typ {
					m["status"], m["reason"], m["message"], m["lastTransitionTime"] = c.Status, c.Reason, c.Message, c.Since
				}
			}
		}
	}
}

// Finalizing makes the request a finalize call: the DittoServer deleted at
// deletedAt (RFC 3339).
func Finalizing(deletedAt string) Modifier {
	return func(r *Request) {
		r.tree["finalizing"] = true
		r.metadata()["deletionTimestamp"] = deletedAt
	}
}

// WithParentEdit changes the parent in place (a name, a namespace, a kind).
func WithParentEdit(edit func(parent map[string]any)) Modifier {
	return func(r *Request) { edit(r.parent()) }
}

func childKey(kind string) string {
	switch kind {
	case "StatefulSet":
		return hook.KeyStatefulSet
	case "Service":
		return hook.KeyService
	case "NetworkPolicy":
		return hook.KeyNetworkPolicy
	case "ConfigMap":
		return hook.KeyConfigMap
	case "Secret":
		return hook.KeySecret
	case "PerconaPGCluster":
		return hook.KeyPerconaPGCluster
	}
	panic("hooktest: unknown child kind " + kind)
}

// captured returns a child of the captured ReadyLB request.
func captured(kind, name string) map[string]any {
	r := Captured(ReadyLB)
	return clone(r.Tree()["children"].(map[string]any)[childKey(kind)].(map[string]any)[name]).(map[string]any)
}

// AdapterService is the captured nfs adapter Service with another name,
// adapter type, port and addresses: the node port and cluster IP the API
// server gave it, and a load balancer address (none when ingressIP is "").
func AdapterService(name, adapterType string, port, nodePort int, clusterIP, ingressIP string) map[string]any {
	s := captured("Service", "demo-adapter-nfs")
	md := s["metadata"].(map[string]any)
	md["name"] = name
	md["uid"] = "svc-uid-" + name
	md["labels"].(map[string]any)["dittofs.io/adapter-type"] = adapterType
	ann := md["annotations"].(map[string]any)
	last := decode(ann[lastApplied].(string))
	last["metadata"].(map[string]any)["name"] = name
	last["metadata"].(map[string]any)["labels"].(map[string]any)["dittofs.io/adapter-type"] = adapterType
	p := map[string]any{"name": adapterType, "port": port, "protocol": "TCP", "targetPort": port}
	last["spec"].(map[string]any)["ports"] = []any{p}
	ann[lastApplied] = encode(last)
	spec := s["spec"].(map[string]any)
	spec["clusterIP"] = clusterIP
	spec["clusterIPs"] = []any{clusterIP}
	observed := clone(p).(map[string]any)
	observed["nodePort"] = nodePort
	spec["ports"] = []any{observed}
	s["status"] = map[string]any{"loadBalancer": map[string]any{}}
	if ingressIP != "" {
		s["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": ingressIP, "ipMode": "VIP"}}}}
	}
	return s
}

// AdapterPolicy is the captured nfs adapter NetworkPolicy with another
// name and port.
func AdapterPolicy(name string, port int) map[string]any {
	n := captured("NetworkPolicy", "demo-adapter-nfs")
	md := n["metadata"].(map[string]any)
	md["name"] = name
	md["uid"] = "np-uid-" + name
	ann := md["annotations"].(map[string]any)
	last := decode(ann[lastApplied].(string))
	last["metadata"].(map[string]any)["name"] = name
	firstPort(last)["port"] = port
	ann[lastApplied] = encode(last)
	firstPort(n)["port"] = port
	return n
}

func firstPort(policy map[string]any) map[string]any {
	return policy["spec"].(map[string]any)["ingress"].([]any)[0].(map[string]any)["ports"].([]any)[0].(map[string]any)
}

// OperatorSecret is demo-operator-credentials as the API server stores it:
// k8s-operator, password "operator-pass-observed".
func OperatorSecret() map[string]any {
	return generatedSecret("demo-operator-credentials", "5a1f6c52-3d0c-4a52-9a3e-2f1e0b6c7d01", "240", "k8s-operator", "operator-pass-observed")
}

// AdminSecret is demo-admin-bootstrap-credentials as the API server
// stores it: admin, password "admin-pass-observed".
func AdminSecret() map[string]any {
	return generatedSecret("demo-admin-bootstrap-credentials", "5a1f6c52-3d0c-4a52-9a3e-2f1e0b6c7d02", "241", "admin", "admin-pass-observed")
}

// LegacyAdminSecret is the upstream operator's demo-admin-credentials (the
// admin bootstrap Secret's name before its rename), labelled for the move.
func LegacyAdminSecret(password string) map[string]any {
	return generatedSecret("demo-admin-credentials", "5a1f6c52-3d0c-4a52-9a3e-2f1e0b6c7d03", "242", "admin", password)
}

func generatedSecret(name, uid, resourceVersion, username, password string) map[string]any {
	owners := captured("Service", "demo-adapter-nfs")["metadata"].(map[string]any)["ownerReferences"]
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata": map[string]any{
			"name": name, "namespace": "default", "uid": uid, "resourceVersion": resourceVersion,
			"labels":          map[string]any{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "dittofs", "controller-uid": UID},
			"ownerReferences": owners,
		},
		"data": map[string]any{"password": base64.StdEncoding.EncodeToString([]byte(password)), "username": base64.StdEncoding.EncodeToString([]byte(username))},
		"type": "Opaque",
	}
}

// DittoFSBody is a captured answer body of the real DittoFS v0.29.0
// (test/testdata/dittofs), e.g. "adapters-fresh.body".
func DittoFSBody(name string) []byte {
	b, err := os.ReadFile(filepath.Join(Dir(), "dittofs", name))
	if err != nil {
		panic("hooktest: " + err.Error())
	}
	return b
}

func clone(v any) any {
	var out any
	if err := json.Unmarshal([]byte(encode(v)), &out); err != nil {
		panic("hooktest: " + err.Error())
	}
	return out
}

func toTree(v any) any { return clone(v) }

func decode(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic("hooktest: " + err.Error())
	}
	return m
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("hooktest: " + err.Error())
	}
	return string(b)
}

// WithStorageClasses sends related StorageClasses: the key (empty when
// none is given) and one object per name. Only hook version v2 delivers
// them (HookV2); under v1 Metacontroller v4.17.2 sends the key always empty
// (see hook/storageclass.go), which is what WithStorageClasses() without
// names and HookV2 sends.
func WithStorageClasses(names ...string) Modifier {
	return func(r *Request) {
		rel, _ := r.tree["related"].(map[string]any)
		if rel == nil {
			rel = map[string]any{}
			r.tree["related"] = rel
		}
		classes := map[string]any{}
		for _, n := range names {
			classes[n] = map[string]any{
				"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
				"metadata":    map[string]any{"name": n, "uid": "storageclass-uid-" + n, "resourceVersion": "700"},
				"provisioner": "example.com/none", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
			}
		}
		rel[hook.KeyStorageClass] = classes
	}
}

// HookV2 turns the request into hook version v2's wire format, as a real
// Metacontroller v4.17.2 sends it when the CompositeController's hooks say
// `version: v2` (test/testdata/metacontroller/v2): the controller says so,
// and every namespaced child and related object is filed under
// "<namespace>/<name>", a cluster-scoped one (a StorageClass) under its
// name. Apply it last: the other modifiers file what they add under the
// name alone, as v1 does. Applied twice, it changes nothing more.
func HookV2() Modifier {
	return func(r *Request) {
		cc, _ := r.tree["controller"].(map[string]any)
		if cc == nil {
			cc = map[string]any{}
			r.tree["controller"] = cc
		}
		spec, _ := cc["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			cc["spec"] = spec
		}
		hooks, _ := spec["hooks"].(map[string]any)
		if hooks == nil {
			hooks = map[string]any{}
			spec["hooks"] = hooks
		}
		for _, h := range []string{"customize", "sync", "finalize"} {
			hk, _ := hooks[h].(map[string]any)
			if hk == nil {
				hk = map[string]any{}
				hooks[h] = hk
			}
			hk["version"] = "v2"
		}
		for _, field := range []string{"children", "related"} {
			m, _ := r.tree[field].(map[string]any)
			for key, objs := range m {
				filed := map[string]any{}
				for name, obj := range objs.(map[string]any) {
					md, _ := obj.(map[string]any)["metadata"].(map[string]any)
					if ns, _ := md["namespace"].(string); ns != "" && !strings.HasPrefix(name, ns+"/") {
						name = ns + "/" + name
					}
					filed[name] = obj
				}
				m[key] = filed
			}
		}
	}
}
