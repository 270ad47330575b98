package hook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The Metacontroller CompositeController hook contract, as a real
// Metacontroller v4.17.2 sends it in both its hook versions (see
// test/testdata/metacontroller, v1, and test/testdata/metacontroller/v2).
// The two differ in how children and related objects are filed: v1 files
// each under its name and sends, for a namespaced parent, only objects of
// the parent's namespace; v2 files a namespaced object under
// "<namespace>/<name>" and a cluster-scoped one under its name, and sends
// cluster-scoped related objects too (a StorageClass). The shipped
// CompositeController asks for v2; a v1 one keeps working, without the
// StorageClass check (storageclass.go).

// Hook versions, as a CompositeController's spec.hooks.<hook>.version says.
const (
	HookV1 = "v1"
	HookV2 = "v2"
)

// Parent is the DittoServer as Metacontroller sends it. Spec stays raw until
// the hook parses it, so that a spec the hook cannot use still lets it answer
// with every observed child kept (instead of a 400 that stalls the parent).
type Parent struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec,omitempty"`
	Status     DittoServerStatus `json:"status,omitzero"`
}

// ObservedObject is one child or related object as the API server stores it.
// It is kept raw: the hook decodes the kinds it reads when it needs them, and
// returns an object it keeps as it was observed.
type ObservedObject = json.RawMessage

// ObservedMap is Metacontroller's children/related shape: "<Kind>.<apiVersion>"
// → object name → object.
type ObservedMap map[string]map[string]ObservedObject

// SyncRequest is the body of a sync or finalize call.
type SyncRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     *Parent         `json:"parent"`
	Children   ObservedMap     `json:"children"`
	Related    ObservedMap     `json:"related"`
	Finalizing bool            `json:"finalizing"`
}

// SyncResponse is the answer to a sync or finalize call. Children is always
// present (an empty list deletes every child, an absent key too: the hook
// never answers 200 without having decided every child).
type SyncResponse struct {
	Status             *DittoServerStatus `json:"status"`
	Children           []any              `json:"children"`
	ResyncAfterSeconds float64            `json:"resyncAfterSeconds,omitempty"`
	Finalized          bool               `json:"finalized,omitempty"`
}

// CustomizeRequest is the body of a customize call.
type CustomizeRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     *Parent         `json:"parent"`
}

// CustomizeResponse names the related objects Metacontroller must send with
// every sync of this parent.
type CustomizeResponse struct {
	RelatedResources []RelatedResourceRule `json:"relatedResources"`
}

// RelatedResourceRule selects related objects by name: of a namespaced
// kind in Namespace (the parent's, always named: without it, hook version
// v2 sends same-named objects of every namespace), of a cluster-scoped
// kind (a StorageClass) without one.
type RelatedResourceRule struct {
	APIVersion string   `json:"apiVersion"`
	Resource   string   `json:"resource"`
	Namespace  string   `json:"namespace,omitempty"`
	Names      []string `json:"names,omitempty"`
}

// InputError is a request the hook cannot understand. The handler answers it
// with a 4xx: Metacontroller then changes nothing, which is the only safe
// answer to a request whose children the hook cannot see.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// DecodeSyncRequest parses and checks a sync or finalize body. Unknown keys
// are ignored, since Metacontroller may add fields. The observed objects are
// checked when Prepare decodes them (once).
func DecodeSyncRequest(body []byte) (*SyncRequest, error) {
	var req SyncRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := req.Check(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Check refuses a request the hook cannot answer: a parent that is not a
// DittoServer with a valid name and namespace, or no children. (A request
// built rather than decoded, as `hook render` builds one, goes through it
// too.)
func (req *SyncRequest) Check() error {
	if err := checkParent(req.Parent); err != nil {
		return err
	}
	if req.Children == nil {
		return &InputError{Field: "children", Reason: "missing; Metacontroller always sends one key per child resource"}
	}
	_, err := req.HookVersion()
	return err
}

// HookVersion is the wire format of this call: the version the
// CompositeController (the request's controller) gives its finalize hook
// for a finalize call, its sync hook otherwise. A request without a
// controller (`hook render` builds one) is v1: its objects are filed under
// their names.
func (req *SyncRequest) HookVersion() (string, error) {
	hook := "sync"
	if req.Finalizing {
		hook = "finalize"
	}
	return hookVersion(req.Controller, hook)
}

// HookVersion is the version of the sync hook, whose requests carry the
// related objects the customize answer names.
func (req *CustomizeRequest) HookVersion() (string, error) {
	return hookVersion(req.Controller, "sync")
}

// hookVersion reads spec.hooks.<hook>.version of a CompositeController
// (absent: v1, Metacontroller's default).
func hookVersion(controller json.RawMessage, hook string) (string, error) {
	if len(controller) == 0 || string(controller) == "null" {
		return HookV1, nil
	}
	var cc struct {
		Spec struct {
			Hooks map[string]*struct {
				Version string `json:"version"`
			} `json:"hooks"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(controller, &cc); err != nil {
		return "", &InputError{Field: "controller", Reason: "not a CompositeController"}
	}
	switch h := cc.Spec.Hooks[hook]; {
	case h == nil || h.Version == "" || h.Version == HookV1:
		return HookV1, nil
	case h.Version == HookV2:
		return HookV2, nil
	}
	return "", &InputError{Field: "controller.spec.hooks." + hook + ".version", Reason: "is neither v1 nor v2, the hook versions Metacontroller v4.17.2 has (the value is not repeated)"}
}

// DecodeCustomizeRequest parses and checks a customize body.
func DecodeCustomizeRequest(body []byte) (*CustomizeRequest, error) {
	var req CustomizeRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkParent(req.Parent); err != nil {
		return nil, err
	}
	if _, err := req.HookVersion(); err != nil {
		return nil, err
	}
	return &req, nil
}

func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &InputError{Reason: "empty body; expected a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &InputError{Field: typeErr.Field, Reason: fmt.Sprintf("has JSON type %s, want %s", typeErr.Value, typeErr.Type)}
		}
		return &InputError{Reason: "not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &InputError{Reason: "trailing data after the JSON object"}
	}
	return nil
}

func checkParent(p *Parent) error {
	switch {
	case p == nil:
		return &InputError{Field: "parent", Reason: "missing"}
	case p.APIVersion != APIVersion || p.Kind != Kind:
		// The offending values are not echoed: a request's content is
		// never repeated in an answer or a log line.
		return &InputError{Field: "parent", Reason: fmt.Sprintf("is not a %s; this hook serves %s %s only (check the CompositeController's parentResource)", Kind, APIVersion, Kind)}
	case p.Metadata.Name == "" || p.Metadata.Namespace == "":
		return &InputError{Field: "parent.metadata", Reason: "needs a name and a namespace"}
	case len(validation.IsDNS1123Label(p.Metadata.Namespace)) > 0:
		// The namespace becomes part of the DittoFS API's address: a value
		// no API server would store ("ns@host:port/#") must never get there.
		return &InputError{Field: "parent.metadata.namespace", Reason: "is not a DNS-1123 label, so not the name of a Kubernetes namespace (the value is not repeated)"}
	case len(validation.IsDNS1123Subdomain(p.Metadata.Name)) > 0:
		return &InputError{Field: "parent.metadata.name", Reason: "is not a DNS-1123 subdomain, so not the name of a Kubernetes object (the value is not repeated)"}
	case p.Metadata.UID == "":
		return &InputError{Field: "parent.metadata.uid", Reason: "missing"}
	}
	return nil
}
