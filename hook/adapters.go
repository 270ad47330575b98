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
// by type, and the items DittoFS reported that the hook cannot expose (their
// Problem set: see dittofs.DecodeAdapters), or says why the list is
// malformed. A type DittoFS reports twice is resolved deterministically: an
// item the hook can read first, then the enabled one, then the running one,
// then the oldest, then the lowest ID. Two types whose children would share
// a name (see adapterChildNames) make the answer malformed: Metacontroller
// keys children by name, so one would silently replace the other.
func judgeAdapters(cr string, polled []dittofs.Adapter) (usable, rejected []dittofs.Adapter, err error) {
	for _, a := range polled {
		if a.Problem != "" {
			rejected = append(rejected, a)
		} else {
			usable = append(usable, a)
		}
	}
	slices.SortStableFunc(usable, func(a, b dittofs.Adapter) int {
		return cmp.Or(
			cmp.Compare(a.Type, b.Type),
			-cmpBool(a.Enabled, b.Enabled),
			-cmpBool(a.Running, b.Running),
			a.CreatedAt.Compare(b.CreatedAt),
			cmp.Compare(a.ID, b.ID),
		)
	})
	usable = slices.CompactFunc(usable, func(a, b dittofs.Adapter) bool { return a.Type == b.Type })
	// A rejected item whose type also came readable is a duplicate, resolved
	// as duplicates are; the others are sorted so that the status does not
	// follow DittoFS's order.
	rejected = slices.DeleteFunc(rejected, func(r dittofs.Adapter) bool {
		return r.Type != "" && slices.ContainsFunc(usable, func(a dittofs.Adapter) bool { return a.Type == r.Type })
	})
	slices.SortFunc(rejected, func(a, b dittofs.Adapter) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Problem, b.Problem))
	})
	rejected = slices.CompactFunc(rejected, func(a, b dittofs.Adapter) bool {
		return a.Type == b.Type && (a.Type != "" || a.ID == b.ID && a.Problem == b.Problem)
	})
	if n := len(usable) + len(rejected); n > maxAdapters {
		return nil, nil, fmt.Errorf("DittoFS reports %d adapter types; the hook exposes at most %d", n, maxAdapters)
	}
	claimed := map[string]string{}
	for _, a := range usable {
		for _, n := range adapterChildNames(cr, a.Type) {
			if other, ok := claimed[n]; ok {
				return nil, nil, fmt.Errorf("DittoFS reports adapter types %q and %q, whose children would both be named %s", other, a.Type, n)
			}
			claimed[n] = a.Type
		}
	}
	return usable, rejected, nil
}

// knownAdapters are the adapters this sync renders: a successful poll's,
// plus what an item of it the hook cannot read might be, as last known (an
// unreadable item says nothing about its adapter: like a failed poll, it
// never removes what exists): the last known adapter of its type, or, for
// an item without a usable type (it may be any of them), every last known
// adapter the poll does not name. After a failed poll, the last known.
// Sorted by type.
func knownAdapters(cr string, o Observation, prev []AdapterStatus) []dittofs.Adapter {
	last := lastKnownAdapters(cr, prev)
	if o.poll.State != Succeeded {
		return last
	}
	known := slices.Clone(o.adapters)
	anonymous := slices.ContainsFunc(o.rejected, func(r dittofs.Adapter) bool { return r.Type == "" })
	for _, l := range last {
		if slices.ContainsFunc(known, func(a dittofs.Adapter) bool { return a.Type == l.Type }) {
			continue
		}
		if anonymous || slices.ContainsFunc(o.rejected, func(r dittofs.Adapter) bool { return r.Type == l.Type }) {
			known = append(known, l)
		}
	}
	slices.SortFunc(known, func(a, b dittofs.Adapter) int { return cmp.Compare(a.Type, b.Type) })
	return known
}

// describeRejected names each item the hook cannot expose, for a condition
// message: by type, else by id, with its problem and what the hook does.
func describeRejected(rejected, known []dittofs.Adapter) string {
	parts := make([]string, 0, len(rejected))
	for _, r := range rejected {
		var name string
		switch {
		case r.Type != "":
			name = r.Type
		case r.ID != "":
			name = fmt.Sprintf("the adapter with id %q", r.ID)
		default:
			name = "an adapter without a usable type or id"
		}
		what := "it gets no Service"
		switch {
		case r.Type == "":
			what = "it gets no Service; the adapters the list does not name keep theirs as last known"
		case slices.ContainsFunc(known, func(a dittofs.Adapter) bool { return a.Type == r.Type }):
			what = "its Service and NetworkPolicy stay as last known"
		}
		parts = append(parts, name+": "+r.Problem+" ("+what+")")
	}
	return strings.Join(parts, "; ")
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
		out = append(out, dittofs.Adapter{Type: a.Type, Port: a.Port, Enabled: a.Enabled, Running: a.Running, Health: a.Health})
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
