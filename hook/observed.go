package hook

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// observed is what the hook reads of the observed children and related
// objects, decoded once per sync. Only the fields the hook uses are decoded.
type observed struct {
	children   ObservedMap
	sts        *appsv1.StatefulSet
	services   map[string]*corev1.Service
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	related    map[string]*corev1.Secret
}

// newObserved decodes the observed children and related objects, each
// once, and checks that every one is an object filed under its own name: a
// mis-keyed map would make the hook misjudge which children exist.
func newObserved(req *SyncRequest) (*observed, error) {
	o := &observed{children: req.Children}
	var err error
	for _, key := range sortedKeys(req.Children) {
		objs := req.Children[key]
		switch key {
		case KeyStatefulSet:
			var all map[string]*appsv1.StatefulSet
			if all, err = decodeAll("children", key, objs, func(s *appsv1.StatefulSet) string { return s.Name }); err == nil {
				o.sts = all[statefulSetName(req.Parent.Metadata.Name)]
			}
		case KeyService:
			o.services, err = decodeAll("children", key, objs, func(s *corev1.Service) string { return s.Name })
		case KeySecret:
			o.secrets, err = decodeAll("children", key, objs, func(s *corev1.Secret) string { return s.Name })
		case KeyConfigMap:
			o.configMaps, err = decodeAll("children", key, objs, func(c *corev1.ConfigMap) string { return c.Name })
		default:
			_, err = decodeAll("children", key, objs, func(h *objectHead) string { return h.Metadata.Name })
		}
		if err != nil {
			return nil, err
		}
	}
	for _, key := range sortedKeys(req.Related) {
		objs := req.Related[key]
		if key == KeySecret {
			o.related, err = decodeAll("related", key, objs, func(s *corev1.Secret) string { return s.Name })
		} else {
			_, err = decodeAll("related", key, objs, func(h *objectHead) string { return h.Metadata.Name })
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// objectHead is what the hook reads of a kind it does not use.
type objectHead struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decodeAll decodes the objects of one kind, checking that each is filed
// under its own name.
func decodeAll[T any](field, key string, objs map[string]ObservedObject, name func(*T) string) (map[string]*T, error) {
	out := make(map[string]*T, len(objs))
	for n, raw := range objs {
		v := new(T)
		where := fmt.Sprintf("%s[%q][%q]", field, key, n)
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, &InputError{Field: where, Reason: "not a Kubernetes object of kind " + key}
		}
		if got := name(v); got != n {
			return nil, &InputError{Field: where, Reason: fmt.Sprintf("filed under %q but named %q", n, got)}
		}
		out[n] = v
	}
	return out, nil
}

func (o *observed) secret(name string) *corev1.Secret { return o.secrets[name] }

func (o *observed) service(name string) *corev1.Service { return o.services[name] }

// has says whether a child of this kind and name exists.
func (o *observed) has(key, name string) bool {
	_, ok := o.children[key][name]
	return ok
}

// readyReplicas of the observed StatefulSet (0 when it does not exist yet).
func (o *observed) readyReplicas() int32 {
	if o.sts == nil {
		return 0
	}
	return o.sts.Status.ReadyReplicas
}
