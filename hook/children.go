package hook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// observedChildren is what the hook reads of the observed children and
// related objects, each decoded once per sync: the kinds the builders read as typed
// objects, and every child's name and last-applied annotation, from which
// the hook returns it unchanged when it keeps it.
type observedChildren struct {
	children   map[string]map[string]observedChild
	sts        *appsv1.StatefulSet
	services   map[string]*corev1.Service
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	related    map[string]*corev1.Secret
	percona    map[string]*perconaObject
	// storageClasses are the related StorageClasses; nil when the request
	// has no StorageClass key (the customize hook asked for none, or a
	// Metacontroller without it): then nothing is known of them.
	storageClasses map[string]*objectHead
	// ignored are the objects of other namespaces the request held
	// ("children|related <key> <namespace>/<name>"), sorted.
	ignored []string
}

// observedChild is one observed child, as much of it as keeping it takes.
type observedChild struct {
	// key and name file it: "<Kind>.<apiVersion>" and its name.
	key, name string
	raw       ObservedObject
	// uid is the API server's: one object's life, which a removal's Event
	// is named after.
	uid types.UID
	// lastApplied is Metacontroller's last-applied annotation: the object the
	// hook last returned ("" under server-side apply, which keeps none).
	lastApplied string
}

// newObservedChildren decodes the observed children and related objects, each
// once, and checks that every one is an object filed as the request's hook
// version files it (v1: its name; v2: "<namespace>/<name>", a
// cluster-scoped one its name): a mis-keyed map would make the hook
// misjudge which children exist. Whatever the version, the hook then knows
// each object by its name. An object of another namespace than the
// parent's is ignored, as if absent (see decodeAll).
func newObservedChildren(req *SyncRequest) (*observedChildren, error) {
	version, err := req.HookVersion()
	if err != nil {
		return nil, err
	}
	o := &observedChildren{children: make(map[string]map[string]observedChild, len(req.Children))}
	d := decoder{namespace: req.Parent.Metadata.Namespace, qualified: version == HookV2, ignored: &o.ignored}
	for _, key := range sortedKeys(req.Children) {
		objs := req.Children[key]
		kept := make(map[string]observedChild, len(objs))
		o.children[key] = kept
		in := d.in("children", key, kept)
		switch key {
		case KeyStatefulSet:
			var all map[string]*appsv1.StatefulSet
			if all, err = decodeAll[appsv1.StatefulSet](in, objs); err == nil {
				o.sts = all[statefulSetName(req.Parent.Metadata.Name)]
			}
		case KeyService:
			o.services, err = decodeAll[corev1.Service](in, objs)
		case KeySecret:
			o.secrets, err = decodeAll[corev1.Secret](in, objs)
		case KeyConfigMap:
			o.configMaps, err = decodeAll[corev1.ConfigMap](in, objs)
		case KeyPerconaPGCluster:
			o.percona, err = decodeAll[perconaObject](in, objs)
		default:
			_, err = decodeAll[objectHead](in, objs)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, key := range sortedKeys(req.Related) {
		objs := req.Related[key]
		in := d.in("related", key, nil)
		switch key {
		case KeySecret:
			o.related, err = decodeAll[corev1.Secret](in, objs)
		case KeyStorageClass:
			// Cluster-scoped: no namespace, which decodeAll takes as the
			// parent's; one with a namespace is ignored. Under v1 the map
			// says nothing: Metacontroller v4.17.2 drops every related
			// object outside the parent's namespace from a v1 request, so
			// it comes empty whatever exists (storageclass.go).
			var classes map[string]*objectHead
			if classes, err = decodeAll[objectHead](in, objs); err == nil && version == HookV2 {
				o.storageClasses = classes
			}
		default:
			_, err = decodeAll[objectHead](in, objs)
		}
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(o.ignored)
	return o, nil
}

// decoder is what decodeAll checks objects against: the parent's
// namespace, and the hook version's way of filing them.
type decoder struct {
	namespace string
	// qualified: hook version v2, "<namespace>/<name>" keys.
	qualified bool
	ignored   *[]string
	// field ("children" or "related") and key ("<Kind>.<apiVersion>") name
	// the map decoded; kept, when not nil, records what keeping each
	// object takes.
	field, key string
	kept       map[string]observedChild
}

func (d decoder) in(field, key string, kept map[string]observedChild) decoder {
	d.field, d.key, d.kept = field, key, kept
	return d
}

// objectHead is what the hook reads of a kind it does not build from.
type objectHead struct {
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		UID         types.UID         `json:"uid"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

func (h *objectHead) GetName() string                   { return h.Metadata.Name }
func (h *objectHead) GetNamespace() string              { return h.Metadata.Namespace }
func (h *objectHead) GetUID() types.UID                 { return h.Metadata.UID }
func (h *objectHead) GetAnnotations() map[string]string { return h.Metadata.Annotations }

// perconaObject is what the hook reads of a PerconaPGCluster: whether it
// serves.
type perconaObject struct {
	objectHead
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// decodeAll decodes the objects of one kind, checking that each is filed
// as the hook version files it, and returns them by name (recording in
// d.kept, when not nil, what keeping each takes).
//
// An object whose metadata.namespace is another than the parent's (none,
// as `hook render --observed` files and cluster-scoped objects have,
// counts as the parent's) is left out, as if absent, and told to ignored:
// children live in the parent's namespace, and related objects of another
// namespace reach the hook when a customize answer names them without a
// namespace (Metacontroller v4.10.2 and older under v1; v4.17.2 under v2).
// So another namespace's password is never sent to DittoFS, its CA never
// trusted, its data never answered.
func decodeAll[T any, PT interface {
	*T
	GetName() string
	GetNamespace() string
	GetUID() types.UID
	GetAnnotations() map[string]string
}](d decoder, objs map[string]ObservedObject) (map[string]*T, error) {
	out := make(map[string]*T, len(objs))
	for n, raw := range objs {
		v := PT(new(T))
		where := fmt.Sprintf("%s[%q][%q]", d.field, d.key, n)
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, &InputError{Field: where, Reason: "not a Kubernetes object of kind " + d.key}
		}
		name, ns := v.GetName(), v.GetNamespace()
		want, how := name, "v1 files an object under its name"
		if d.qualified && ns != "" {
			want, how = ns+"/"+name, "v2 files a namespaced object under <namespace>/<name>"
		} else if d.qualified {
			how = "v2 files a cluster-scoped object under its name"
		}
		if n != want {
			return nil, &InputError{Field: where, Reason: fmt.Sprintf("filed under %q but is %q (hook version %s)", n, want, how)}
		}
		if ns != d.namespace && ns != "" {
			*d.ignored = append(*d.ignored, d.field+" "+d.key+" "+ns+"/"+name)
			continue
		}
		if _, dup := out[name]; dup {
			// A v2 map holding name and <namespace>/<name> alike.
			return nil, &InputError{Field: where, Reason: fmt.Sprintf("%q is filed twice", name)}
		}
		out[name] = (*T)(v)
		if d.kept != nil {
			d.kept[name] = observedChild{key: d.key, name: name, raw: raw, uid: v.GetUID(), lastApplied: v.GetAnnotations()[lastAppliedAnnotation]}
		}
	}
	return out, nil
}

// keep returns an observed child so that Metacontroller leaves it as it
// is: the object the hook last returned, which dynamic-apply keeps in the
// last-applied annotation (when it is that same object: the annotation is
// anyone's to edit). Without it (server-side apply), the observed object
// without what the API server owns (status, uid, resourceVersion,
// managedFields, …), its other fields as they came.
func (c observedChild) keep() json.RawMessage {
	var last struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if c.lastApplied != "" && json.Unmarshal([]byte(c.lastApplied), &last) == nil &&
		last.Kind+"."+last.APIVersion == c.key && last.Metadata.Name == c.name {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(c.lastApplied)) == nil {
			return buf.Bytes()
		}
	}
	var obj, md map[string]json.RawMessage
	if json.Unmarshal(c.raw, &obj) != nil {
		return json.RawMessage(c.raw) // decoded by newObservedChildren; unreachable
	}
	_ = json.Unmarshal(obj["metadata"], &md)
	delete(obj, "status")
	meta := map[string]json.RawMessage{}
	for _, k := range []string{"name", "namespace", "labels", "annotations"} {
		if v, ok := md[k]; ok {
			meta[k] = v
		}
	}
	obj["metadata"], _ = json.Marshal(meta)
	out, _ := json.Marshal(obj)
	return out
}

func (o *observedChildren) secret(name string) *corev1.Secret { return o.secrets[name] }

func (o *observedChildren) service(name string) *corev1.Service { return o.services[name] }

// declares says whether Metacontroller's request has the child type key:
// it sends one, empty or not, for every child type the CompositeController
// declares, so an opt-in child type is declared exactly when it is there.
func (o *observedChildren) declares(key string) bool {
	_, ok := o.children[key]
	return ok
}

// has says whether a child of this kind and name exists.
func (o *observedChildren) has(key, name string) bool {
	_, ok := o.children[key][name]
	return ok
}

// readyReplicas of the observed StatefulSet (0 when it does not exist yet).
func (o *observedChildren) readyReplicas() int32 {
	if o.sts == nil {
		return 0
	}
	return o.sts.Status.ReadyReplicas
}
