package hook

import (
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

// sortedKeys returns a map's keys in order, so that answers never depend on
// map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
