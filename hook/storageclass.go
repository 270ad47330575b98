package hook

import (
	"fmt"
	"slices"
	"strings"
)

// StorageClasses the spec names. A claim naming a StorageClass that does
// not exist stays Pending for good, and the user learns it only from the
// claim, where upstream's validating webhook refuses such a spec. The hook
// has no webhook: the customize hook asks for the classes the spec names,
// and when a sync's related objects carry the StorageClass key
// (KeyStorageClass), a class the spec names that is absent from it is a
// condition (StorageClassNotFound) before any claim is made.
//
// Only hook version v2 carries them: Metacontroller v4.17.2's v1 sync
// request keeps, for a namespaced parent, only related objects of the
// parent's namespace, and a StorageClass has none
// (pkg/controller/common/api/v2 UniformObjectMap.Convert), so under v1 the
// key would always come empty. newObservedChildren therefore reads it
// only under v2, and Customize asks only then; without it nothing is
// known and nothing held back.

// namedClass is a StorageClass the spec names, with the field naming it
// and the child whose volume claims use it.
type namedClass struct {
	name, field string
	// child is what makes the claims: KeyStatefulSet or KeyPerconaPGCluster.
	child string
}

// storageClasses are the StorageClasses the spec names, for claims the
// hook's children make: the StatefulSet's volumes, and with Percona its
// PerconaPGCluster's. An empty name ("": no class, no dynamic
// provisioning) names none.
func (s *dittoServer) storageClasses() []namedClass {
	var out []namedClass
	if c := s.Storage.ClassName; c != nil && *c != "" {
		out = append(out, namedClass{name: *c, field: "spec.storage.storageClassName", child: KeyStatefulSet})
	}
	if s.Percona.Enabled && s.Percona.Spec != nil {
		if c := s.Percona.Spec.StorageClassName; c != nil && *c != "" {
			out = append(out, namedClass{name: *c, field: "spec.percona.storageClassName", child: KeyPerconaPGCluster})
		}
	}
	return out
}

// missingClasses are the StorageClasses the spec names that the request's
// related objects lack. Without a StorageClass key in the request (a
// customize hook that asked for none, as before this check, or `hook
// render` without it) nothing is known, so none is missing: the hook never
// holds a StatefulSet back on what it was not told.
func (s *Sync) missingClasses() []namedClass {
	if s.observed.storageClasses == nil {
		return nil
	}
	var out []namedClass
	for _, c := range s.server.storageClasses() {
		if s.observed.storageClasses[c.name] == nil {
			out = append(out, c)
		}
	}
	return out
}

// heldForClass says whether the child that makes claims (KeyStatefulSet,
// KeyPerconaPGCluster) is held back: a class it uses is missing. The
// caller only asks for a child that does not exist yet: one that exists is
// never dropped or changed for a class deleted later.
func (s *Sync) heldForClass(child string) bool {
	return slices.ContainsFunc(s.missingClasses(), func(c namedClass) bool { return c.child == child })
}

// storageClassCondition is ConfigReady False with StorageClassNotFound when
// a named class is missing: which, the field naming it, what to do, and
// what waits for it (or, the child existing, that it is kept as it is).
func (s *Sync) storageClassCondition() (cond, bool) {
	missing := s.missingClasses()
	if len(missing) == 0 {
		return cond{}, false
	}
	var named, waits, kept []string
	for _, c := range missing {
		named = append(named, fmt.Sprintf("StorageClass %s (%s)", c.name, c.field))
		switch child := s.classChild(c.child); {
		case c.child == KeyStatefulSet && s.observed.sts != nil,
			c.child == KeyPerconaPGCluster && s.observed.percona[perconaClusterName(s.server.Name)] != nil:
			kept = append(kept, child)
		default:
			waits = append(waits, child)
		}
	}
	verb := "does"
	if len(missing) > 1 {
		verb = "do"
	}
	msg := fmt.Sprintf("%s %s not exist: create it, or name an existing one (kubectl get storageclass)", strings.Join(named, " and "), verb)
	if len(waits) > 0 {
		msg += fmt.Sprintf("; %s and its volume claims are created once it exists", strings.Join(slices.Compact(waits), " and "))
	}
	if len(kept) > 0 {
		msg += fmt.Sprintf("; %s exists and is kept as it is, but a volume claim it makes meanwhile stays Pending", strings.Join(slices.Compact(kept), " and "))
	}
	return falseCond(CondConfigReady, ReasonStorageClassNotFound, msg), true
}

// classChild names the child that makes claims, for messages.
func (s *Sync) classChild(key string) string {
	if key == KeyPerconaPGCluster {
		return "PerconaPGCluster " + perconaClusterName(s.server.Name)
	}
	return "StatefulSet " + statefulSetName(s.server.Name)
}
