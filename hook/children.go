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
// once, and checks that every one is an object filed under its own name: a
// mis-keyed map would make the hook misjudge which children exist. An
// object of another namespace than the parent's is ignored, as if absent
// (see decodeAll).
func newObservedChildren(req *SyncRequest) (*observedChildren, error) {
	o := &observedChildren{children: make(map[string]map[string]observedChild, len(req.Children))}
	ns := req.Parent.Metadata.Namespace
	ignore := func(field, key string) func(namespace, name string) {
		return func(namespace, name string) {
			o.ignored = append(o.ignored, field+" "+key+" "+namespace+"/"+name)
		}
	}
	var err error
	for _, key := range sortedKeys(req.Children) {
		objs := req.Children[key]
		kept := make(map[string]observedChild, len(objs))
		o.children[key] = kept
		switch key {
		case KeyStatefulSet:
			var all map[string]*appsv1.StatefulSet
			if all, err = decodeAll[appsv1.StatefulSet]("children", key, ns, objs, kept, ignore("children", key)); err == nil {
				o.sts = all[statefulSetName(req.Parent.Metadata.Name)]
			}
		case KeyService:
			o.services, err = decodeAll[corev1.Service]("children", key, ns, objs, kept, ignore("children", key))
		case KeySecret:
			o.secrets, err = decodeAll[corev1.Secret]("children", key, ns, objs, kept, ignore("children", key))
		case KeyConfigMap:
			o.configMaps, err = decodeAll[corev1.ConfigMap]("children", key, ns, objs, kept, ignore("children", key))
		case KeyPerconaPGCluster:
			o.percona, err = decodeAll[perconaObject]("children", key, ns, objs, kept, ignore("children", key))
		default:
			_, err = decodeAll[objectHead]("children", key, ns, objs, kept, ignore("children", key))
		}
		if err != nil {
			return nil, err
		}
	}
	for _, key := range sortedKeys(req.Related) {
		objs := req.Related[key]
		switch key {
		case KeySecret:
			o.related, err = decodeAll[corev1.Secret]("related", key, ns, objs, nil, ignore("related", key))
		case KeyStorageClass:
			// Cluster-scoped: no namespace, which decodeAll takes as the
			// parent's; one with a namespace is ignored.
			o.storageClasses, err = decodeAll[objectHead]("related", key, ns, objs, nil, ignore("related", key))
		default:
			_, err = decodeAll[objectHead]("related", key, ns, objs, nil, ignore("related", key))
		}
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(o.ignored)
	return o, nil
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
// under its own name, and records in kept (when not nil) what keeping each
// takes.
//
// An object whose metadata.namespace is another than namespace (the
// parent's; none, as `hook render --observed` files may have, counts as
// the parent's) is left out, as if absent, and told to ignored: children live in the
// parent's namespace, and the customize hook names related Secrets without
// a namespace, which Metacontroller v4.10.2 and older answered with
// same-named Secrets of any namespace. So another namespace's password is
// never sent to DittoFS, its CA never trusted, its data never answered.
func decodeAll[T any, PT interface {
	*T
	GetName() string
	GetNamespace() string
	GetUID() types.UID
	GetAnnotations() map[string]string
}](field, key, namespace string, objs map[string]ObservedObject, kept map[string]observedChild, ignored func(namespace, name string)) (map[string]*T, error) {
	out := make(map[string]*T, len(objs))
	for n, raw := range objs {
		v := PT(new(T))
		where := fmt.Sprintf("%s[%q][%q]", field, key, n)
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, &InputError{Field: where, Reason: "not a Kubernetes object of kind " + key}
		}
		if got := v.GetName(); got != n {
			return nil, &InputError{Field: where, Reason: fmt.Sprintf("filed under %q but named %q", n, got)}
		}
		if got := v.GetNamespace(); got != namespace && got != "" {
			ignored(got, n)
			continue
		}
		out[n] = (*T)(v)
		if kept != nil {
			kept[n] = observedChild{key: key, name: n, raw: raw, uid: v.GetUID(), lastApplied: v.GetAnnotations()[lastAppliedAnnotation]}
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
