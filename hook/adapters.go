package hook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// maxAdapters bounds what one answer of DittoFS may expose: every adapter
// becomes a Service (a load balancer, often billed). An API reporting more
// is treated as a malformed answer, and the last known adapters stay.
const maxAdapters = 32

// judgeAdapters turns a successful poll into the adapters to expose, sorted
// by type, or says why the list is malformed. A type DittoFS reports twice is resolved deterministically: the
// enabled one, then the running one, then the oldest, then the lowest ID.
// Two types whose children would share a name (see adapterChildNames) make
// the answer malformed: Metacontroller keys children by name, so one would
// silently replace the other.
func judgeAdapters(cr string, polled []dittofs.Adapter) ([]dittofs.Adapter, error) {
	sorted := slices.Clone(polled)
	slices.SortStableFunc(sorted, func(a, b dittofs.Adapter) int {
		return cmp.Or(
			cmp.Compare(a.Type, b.Type),
			-cmpBool(a.Enabled, b.Enabled),
			-cmpBool(a.Running, b.Running),
			a.CreatedAt.Compare(b.CreatedAt),
			cmp.Compare(a.ID, b.ID),
		)
	})
	sorted = slices.CompactFunc(sorted, func(a, b dittofs.Adapter) bool { return a.Type == b.Type })
	if len(sorted) > maxAdapters {
		return nil, fmt.Errorf("DittoFS reports %d adapter types; the hook exposes at most %d", len(sorted), maxAdapters)
	}
	claimed := map[string]string{}
	for _, a := range sorted {
		for _, n := range adapterChildNames(cr, a.Type) {
			if other, ok := claimed[n]; ok {
				return nil, fmt.Errorf("DittoFS reports adapter types %q and %q, whose children would both be named %s", other, a.Type, n)
			}
			claimed[n] = a.Type
		}
	}
	return sorted, nil
}

// reservedPorts are the ports of the DittoFS pod that children other than
// an adapter's expose, each with what it is: the API's (always), the
// metrics listener's (with metrics.enabled), DittoFS's portmapper (when an
// enabled adapter's Service exposes it). An adapter DittoFS reports on one
// of them gets no Service and no NetworkPolicy (see refusedAdapters).
func reservedPorts(s *dittoServer, known []dittofs.Adapter) map[int32]string {
	r := map[int32]string{s.APIPort: "the DittoFS API's port (spec.controlPlane.port)"}
	if s.Metrics.Enabled {
		r[s.Metrics.Port] = "DittoFS's metrics port (spec.metrics.port)"
	}
	for _, a := range known {
		if a.Enabled && s.AdapterServices.For(a.Type).Portmapper {
			r[dittofs.PortmapperPort] = "DittoFS's portmapper port (spec.adapterServices.overrides." + a.Type + ".portmapper)"
		}
	}
	return r
}

// refusedAdapters are the known enabled adapters DittoFS reports on a
// reserved port, by type, each with the sentence that says why. Exposing
// one would publish that port (an adapter Service is a LoadBalancer by
// default) and admit everyone to it (adapterFrom), the control-plane API
// included, whatever networkPolicy.apiFrom says: the API Service is
// ClusterIP on purpose. So such an adapter gets neither (what exists of it
// goes as a disabled adapter's does: after a successful poll, the Service
// first), and AdaptersReady says why; the others go on.
func refusedAdapters(s *dittoServer, known []dittofs.Adapter) map[string]string {
	reserved := reservedPorts(s, known)
	var out map[string]string
	for _, a := range known {
		what, ok := reserved[a.Port]
		if !a.Enabled || !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[a.Type] = fmt.Sprintf("%s on %d, %s", a.Type, a.Port, what)
	}
	return out
}

// lastKnownAdapters is the last known adapter list, as the previous sync wrote it.
// What the hook never writes (a type twice, two types sharing a child name:
// a status edited by hand) is dropped deterministically, keeping the first
// by type.
func lastKnownAdapters(cr string, st []AdapterStatus) []dittofs.Adapter {
	out := make([]dittofs.Adapter, 0, len(st))
	for _, a := range st {
		if a.Type == "" || a.Port < 1 || a.Port > 65535 {
			continue // not written by the hook: the CRD schema refuses it
		}
		out = append(out, dittofs.Adapter{Type: a.Type, Port: a.Port, Enabled: a.Enabled, Running: a.Running})
	}
	slices.SortFunc(out, func(a, b dittofs.Adapter) int { return cmp.Compare(a.Type, b.Type) })
	claimed := map[string]bool{}
	return slices.DeleteFunc(out, func(a dittofs.Adapter) bool {
		names := adapterChildNames(cr, a.Type)
		for _, n := range names {
			if claimed[n] {
				return true
			}
		}
		for _, n := range names {
			claimed[n] = true
		}
		return false
	})
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// describeAdapters is a stable one-line summary for condition messages.
func describeAdapters(as []dittofs.Adapter) string {
	if len(as) == 0 {
		return "no adapters"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		state := "enabled"
		if !a.Enabled {
			state = "disabled"
		} else if !a.Running {
			state = "enabled, not running"
		}
		parts[i] = fmt.Sprintf("%s on %d (%s)", a.Type, a.Port, state)
	}
	return strings.Join(parts, ", ")
}
