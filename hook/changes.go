package hook

import (
	"encoding/json"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Changes are the decisions an answer makes against its request: what a
// reader of one sync (a log line, a Kubernetes Event) would want to know,
// derived from the request and the answer alone, so the same sync always
// tells the same story.
type Changes struct {
	// Added are children the answer has and the request did not observe;
	// Removed are observed children the answer leaves out, which
	// Metacontroller deletes. Both sorted by key, then name.
	Added, Removed []ChildRef
	// Conditions are the conditions whose status or reason the answer
	// changes (a message alone is no change), in status order.
	Conditions []ConditionChange
}

// ChildRef names a child as Metacontroller files it.
type ChildRef struct {
	// Key is "<Kind>.<apiVersion>", e.g. "Service.v1".
	Key  string
	Name string
}

// ConditionChange is one condition's transition; From is empty for a new
// condition.
type ConditionChange struct {
	Type               string
	From, To           metav1.ConditionStatus
	FromReason, Reason string
	Message            string
}

// Changes compares an answer of Desired with this sync's request.
func (s *Sync) Changes(resp *SyncResponse) Changes {
	var c Changes
	answered := map[ChildRef]bool{}
	for _, child := range resp.Children {
		if ref, ok := childRef(child); ok {
			answered[ref] = true
			if _, observed := s.observed.children[ref.Key][ref.Name]; !observed {
				c.Added = append(c.Added, ref)
			}
		}
	}
	for _, key := range sortedKeys(s.observed.children) {
		for _, name := range sortedKeys(s.observed.children[key]) {
			if ref := (ChildRef{key, name}); !answered[ref] {
				c.Removed = append(c.Removed, ref)
			}
		}
	}
	slices.SortFunc(c.Added, func(a, b ChildRef) int {
		if a.Key != b.Key {
			return strings.Compare(a.Key, b.Key)
		}
		return strings.Compare(a.Name, b.Name)
	})
	if resp.Status == nil {
		return c
	}
	for _, now := range resp.Status.Conditions {
		was := meta.FindStatusCondition(s.req.Parent.Status.Conditions, now.Type)
		if was != nil && was.Status == now.Status && was.Reason == now.Reason {
			continue
		}
		ch := ConditionChange{Type: now.Type, To: now.Status, Reason: now.Reason, Message: now.Message}
		if was != nil {
			ch.From, ch.FromReason = was.Status, was.Reason
		}
		c.Conditions = append(c.Conditions, ch)
	}
	return c
}

// childRef files an answered child: a rendered object by its kind and name,
// a kept one (its JSON) by what the JSON says.
func childRef(child any) (ChildRef, bool) {
	switch o := child.(type) {
	case interface {
		GetName() string
		GetObjectKind() schema.ObjectKind
	}:
		apiVersion, kind := o.GetObjectKind().GroupVersionKind().ToAPIVersionAndKind()
		return ChildRef{Key: kind + "." + apiVersion, Name: o.GetName()}, true
	case json.RawMessage:
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if json.Unmarshal(o, &head) != nil {
			return ChildRef{}, false
		}
		return ChildRef{Key: head.Kind + "." + head.APIVersion, Name: head.Metadata.Name}, true
	}
	return ChildRef{}, false
}
