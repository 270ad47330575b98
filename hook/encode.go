package hook

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// A child's status belongs to its own controller. The typed objects encode
// an empty status (StatefulSetStatus has non-omitempty fields), which
// dynamic-apply would see as a difference on every sync; these wrappers hide
// it: a field at depth 0 wins over the embedded object's field of the same
// JSON name.
type (
	statefulSetChild struct {
		*appsv1.StatefulSet
		Status *struct{} `json:"status,omitempty"`
	}
	serviceChild struct {
		*corev1.Service
		Status *struct{} `json:"status,omitempty"`
	}
)

// child prepares a rendered object for the response.
func child(obj any) any {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return statefulSetChild{StatefulSet: o}
	case *corev1.Service:
		return serviceChild{Service: o}
	}
	return obj
}

// keepObserved returns an observed child so that Metacontroller leaves it as
// it is: the object the hook last returned, which dynamic-apply keeps in the
// last-applied annotation. Without that annotation (server-side apply), the
// observed object without what the API server owns (status, uid,
// resourceVersion, managedFields, …).
func keepObserved(raw ObservedObject) json.RawMessage {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return json.RawMessage(raw) // checked by DecodeSyncRequest; unreachable
	}
	md, _ := obj["metadata"].(map[string]any)
	if ann, ok := md["annotations"].(map[string]any); ok {
		if last, ok := ann[lastAppliedAnnotation].(string); ok && json.Valid([]byte(last)) {
			var buf bytes.Buffer
			if json.Compact(&buf, []byte(last)) == nil {
				return buf.Bytes()
			}
		}
	}
	delete(obj, "status")
	keep := map[string]any{}
	for _, k := range []string{"name", "namespace", "labels", "annotations"} {
		if v, ok := md[k]; ok {
			keep[k] = v
		}
	}
	obj["metadata"] = keep
	out, _ := json.Marshal(obj)
	return out
}

// sortedKeys returns a map's keys in order, so that answers never depend on
// map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
