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
	children ObservedMap
	sts      *appsv1.StatefulSet
	services map[string]*corev1.Service
	secrets  map[string]*corev1.Secret
	related  map[string]*corev1.Secret
}

func newObserved(req *SyncRequest) (*observed, error) {
	o := &observed{children: req.Children}
	if raw, ok := req.Children[KeyStatefulSet][statefulSetName(req.Parent.Metadata.Name)]; ok {
		o.sts = &appsv1.StatefulSet{}
		if err := decodeChild(KeyStatefulSet, raw, o.sts); err != nil {
			return nil, err
		}
	}
	var err error
	if o.services, err = decodeAll[corev1.Service](KeyService, req.Children[KeyService]); err != nil {
		return nil, err
	}
	if o.secrets, err = decodeAll[corev1.Secret](KeySecret, req.Children[KeySecret]); err != nil {
		return nil, err
	}
	if o.related, err = decodeAll[corev1.Secret]("related "+KeySecret, req.Related[KeySecret]); err != nil {
		return nil, err
	}
	return o, nil
}

func decodeAll[T any](key string, objs map[string]ObservedObject) (map[string]*T, error) {
	out := make(map[string]*T, len(objs))
	for name, raw := range objs {
		v := new(T)
		if err := decodeChild(key, raw, v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func decodeChild(key string, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return &InputError{Field: fmt.Sprintf("children[%q]", key), Reason: "holds an object that is not a valid " + key + ": " + err.Error()}
	}
	return nil
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
