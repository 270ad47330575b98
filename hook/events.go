package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// Kubernetes Events, exactly once per transition, without state.
//
// The hook remembers nothing between syncs, runs as several replicas, and
// Metacontroller retries and resyncs: the same transition is decided by
// many calls. So an Event is recorded only by a sync whose request shows
// the transition happening or being decided in its answer, and its name is
// derived from the transition itself: the parent's UID, the reason, and the
// state being LEFT (a removed child's UID, the previous condition's status,
// reason and lastTransitionTime, the DittoFS adapter's id and updated_at).
// That state stays the same in every request until Metacontroller writes
// the new one, so every retry, replica and restarted hook names the Event
// the same way: the first create wins and the API server answers the others
// AlreadyExists. Nothing in a name comes from the clock.

// Event reasons. Those of the upstream DittoFS operator keep its names
// where the meaning is the same.
const (
	EventAdapterServiceCreated       = "AdapterServiceCreated"
	EventAdapterServiceUpdated       = "AdapterServiceUpdated"
	EventAdapterServiceDeleted       = "AdapterServiceDeleted"
	EventAdapterNetworkPolicyCreated = "AdapterNetworkPolicyCreated"
	EventAdapterNetworkPolicyDeleted = "AdapterNetworkPolicyDeleted"
	EventLoadBalancerPending         = "LoadBalancerPending"
	EventLoadBalancerAssigned        = "LoadBalancerAssigned"
	EventAuthProvisioned             = "AuthProvisioned"
	EventAuthAPIUnreachable          = "AuthAPIUnreachable"
	EventAuthFailed                  = "AuthFailed"
	EventAdapterDiscoveryFailed      = "AdapterDiscoveryFailed"
	EventOperatorAccountConflict     = "OperatorAccountConflict"
	EventDittoFSRecovered            = "DittoFSRecovered"
	EventInvalidSpec                 = "InvalidSpec"
	EventCleanupTimeout              = "CleanupTimeout"
	EventOperatorAccountDeleted      = "OperatorAccountDeleted"
	EventSnapshotPoliciesApplied     = "SnapshotPoliciesApplied"
	EventSnapshotPolicyFailed        = "SnapshotPolicyFailed"
	EventChildTypeNotDeclared        = "ChildTypeNotDeclared"
	EventAdapterPortReserved         = "AdapterPortReserved"
	EventAdapterDegraded             = "AdapterDegraded"
	EventStorageClassNotFound        = "StorageClassNotFound"
)

// EventReasons are every reason the hook records, for metrics that start
// at zero and for the README's table.
var EventReasons = []string{
	EventAdapterServiceCreated, EventAdapterServiceUpdated, EventAdapterServiceDeleted,
	EventAdapterNetworkPolicyCreated, EventAdapterNetworkPolicyDeleted,
	EventLoadBalancerPending, EventLoadBalancerAssigned,
	EventAuthProvisioned, EventAuthAPIUnreachable, EventAuthFailed, EventAdapterDiscoveryFailed,
	EventOperatorAccountConflict, EventDittoFSRecovered,
	EventInvalidSpec, EventCleanupTimeout, EventOperatorAccountDeleted,
	EventSnapshotPoliciesApplied, EventSnapshotPolicyFailed, EventChildTypeNotDeclared,
	EventAdapterPortReserved, EventAdapterDegraded, EventStorageClassNotFound,
}

// eventAction is each reason's action (events.k8s.io/v1 requires one):
// what the hook did or found.
var eventAction = map[string]string{
	EventAdapterServiceCreated:       "Create",
	EventAdapterServiceUpdated:       "Update",
	EventAdapterServiceDeleted:       "Delete",
	EventAdapterNetworkPolicyCreated: "Create",
	EventAdapterNetworkPolicyDeleted: "Delete",
	EventLoadBalancerPending:         "WaitForAddress",
	EventLoadBalancerAssigned:        "ObserveAddress",
	EventAuthProvisioned:             "ProvisionAccount",
	EventAuthAPIUnreachable:          "PollAdapters",
	EventAuthFailed:                  "Authenticate",
	EventAdapterDiscoveryFailed:      "PollAdapters",
	EventOperatorAccountConflict:     "Authenticate",
	EventDittoFSRecovered:            "PollAdapters",
	EventInvalidSpec:                 "Validate",
	EventCleanupTimeout:              "Finalize",
	EventOperatorAccountDeleted:      "Finalize",
	EventSnapshotPoliciesApplied:     "ApplySnapshotPolicies",
	EventSnapshotPolicyFailed:        "ApplySnapshotPolicies",
	EventChildTypeNotDeclared:        "Validate",
	EventAdapterPortReserved:         "PollAdapters",
	EventAdapterDegraded:             "PollAdapters",
	EventStorageClassNotFound:        "Validate",
}

// Event is one Kubernetes Event a sync records about its DittoServer. The
// shell turns it into an events.k8s.io/v1 Event (adding the time and who
// reports it) and creates it under Name.
type Event struct {
	// Name is the Event's deterministic name: "<parent>.<16 hex digits>".
	Name string
	// Type is Normal or Warning.
	Type   string
	Reason string
	// Action is what the hook did or found (events.k8s.io/v1 requires it).
	Action string
	// Note is one line of at most MaxEventNote bytes, without secrets,
	// saying what happened and, for a Warning, what to do.
	Note string
	// Regarding is the DittoServer; Related the child the Event is about,
	// when there is one (without a UID when it does not exist yet).
	Regarding ObjectRef
	Related   *ObjectRef
}

// ObjectRef names an object an Event is about.
type ObjectRef struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

// MaxEventNote is the API server's bound on an Event's note, in bytes.
const MaxEventNote = 1024

// Events are the Events this sync records: the transitions its request
// shows or its answer decides. At steady state, and while a failure goes
// on, there are none.
func (s *Sync) Events(o Observation, resp *SyncResponse) []Event {
	if resp == nil || resp.Status == nil {
		return nil
	}
	e := &eventBuilder{s: s, o: o, resp: resp, prev: s.req.Parent.Status, next: *resp.Status}
	if s.invalid != nil {
		e.invalidSpec()
		return e.out
	}
	e.dittofsState()
	e.provisioned()
	e.children()
	e.portMoves()
	e.reservedPorts()
	e.degraded()
	e.loadBalancers()
	e.snapshotPolicies()
	e.childTypes()
	e.storageClass()
	e.finalize()
	return e.out
}

type eventBuilder struct {
	s          *Sync
	o          Observation
	resp       *SyncResponse
	prev, next DittoServerStatus
	out        []Event
}

// add records an Event named after the transition it reports.
func (e *eventBuilder) add(typ, reason, note string, related *ObjectRef, transition ...string) {
	md := e.s.req.Parent.Metadata
	e.out = append(e.out, Event{
		Name:      EventName(md.Name, md.UID, reason, transition...),
		Type:      typ,
		Reason:    reason,
		Action:    eventAction[reason],
		Note:      eventNote(note),
		Regarding: ObjectRef{APIVersion: APIVersion, Kind: Kind, Namespace: md.Namespace, Name: md.Name, UID: md.UID},
		Related:   related,
	})
}

// EventName is "<parent>.<hash>": the hash of the parent's UID, the reason
// and what identifies the transition (its parts, in order). The same
// transition always gets the same name, and a transition of another
// parent, reason or identity another name. The parent's name leads, as in
// the names kubectl and client-go give Events, and is cut (never below a
// valid DNS subdomain) to keep the whole within 253 characters.
func EventName(parent string, uid types.UID, reason string, transition ...string) string {
	h := sha256.New()
	for _, part := range append([]string{string(uid), reason}, transition...) {
		// Each part's length first: no two lists of parts hash alike.
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	const suffix = 1 + 16
	if len(parent) > 253-suffix {
		parent = strings.TrimRight(parent[:253-suffix], ".-")
	}
	return parent + "." + hex.EncodeToString(h.Sum(nil))[:16]
}

// eventNote makes a note one line within the API server's bound, cut at a
// character boundary.
func eventNote(s string) string {
	s = dittofs.OneLine(s, MaxEventNote)
	if len(s) <= MaxEventNote {
		return s
	}
	const ellipsis = "…"
	cut := MaxEventNote - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// conditionState identifies a condition's state: status, reason and
// lastTransitionTime ("-" when it is absent, as on a first sync).
func conditionState(c *metav1.Condition) string {
	if c == nil {
		return "-"
	}
	return string(c.Status) + "/" + c.Reason + "/" + c.LastTransitionTime.UTC().Format("2006-01-02T15:04:05Z")
}

func (e *eventBuilder) cond(st DittoServerStatus, typ string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, typ)
}

// invalidSpec: Ready turns InvalidSpec, or says another problem of the
// spec than before.
func (e *eventBuilder) invalidSpec() {
	was, now := e.cond(e.prev, CondReady), e.cond(e.next, CondReady)
	if now == nil || now.Reason != ReasonInvalidSpec {
		return
	}
	if was != nil && was.Reason == ReasonInvalidSpec && was.Message == now.Message {
		return
	}
	prevMsg := ""
	if was != nil {
		prevMsg = was.Message
	}
	e.add(corev1.EventTypeWarning, EventInvalidSpec, now.Message, nil, conditionState(was), prevMsg, now.Message)
}

// dittofsState is how the hook gets on with DittoFS, as the status says it:
// the kind of situation and, where it tells the user something new, its
// reason. An Event marks a change of kind (or of reason, for failures whose
// reasons need different fixes).
type dittofsState struct {
	kind, reason string
}

const (
	stateNone        = "none"    // no condition yet: a first sync
	stateWaiting     = "waiting" // not asked yet, for a reason of Kubernetes
	stateOK          = "ok"
	stateUnreachable = "unreachable"
	stateAPIError    = "api-error"
	stateAuthFailed  = "auth-failed"
	stateConflict    = "conflict"
)

func (d dittofsState) failed() bool {
	switch d.kind {
	case stateUnreachable, stateAPIError, stateAuthFailed, stateConflict:
		return true
	}
	return false
}

// dittofsStateOf reads the state from AdaptersDiscovered, which every
// failure reaches, and Authenticated for the credential problems it names.
// (Authenticated alone may differ between replicas during an outage: one
// has a token cached, another cannot log in. AdaptersDiscovered says
// APIUnreachable on both.)
func dittofsStateOf(st DittoServerStatus) dittofsState {
	ad := meta.FindStatusCondition(st.Conditions, CondAdaptersDiscovered)
	au := meta.FindStatusCondition(st.Conditions, CondAuthenticated)
	authFailed := func(reasons ...string) bool {
		return au != nil && au.Status != metav1.ConditionTrue && slices.Contains(reasons, au.Reason)
	}
	switch {
	case ad == nil:
		return dittofsState{kind: stateNone}
	case ad.Status == metav1.ConditionTrue:
		return dittofsState{kind: stateOK}
	case ad.Reason == ReasonOperatorAccountConflict || authFailed(ReasonOperatorAccountConflict):
		return dittofsState{kind: stateConflict}
	case authFailed(ReasonOperatorLoginFailed, ReasonAdminCredentialsRejected, ReasonAdminCredentialsMissing, ReasonAdminSecretMissing):
		return dittofsState{kind: stateAuthFailed, reason: au.Reason}
	case ad.Reason == ReasonUnauthorized, ad.Reason == ReasonTLSSecretMissing,
		ad.Reason == ReasonClientCertificateMissing, ad.Reason == ReasonClientCertificateRefused:
		// The hook's credentials, or what it needs before it sends them
		// (the CA in certSecretName; its own client certificate).
		return dittofsState{kind: stateAuthFailed, reason: ad.Reason}
	case ad.Reason == ReasonServerCertificateRejected, ad.Reason == ReasonTLSHandshakeFailed:
		// Whatever answers at the API address is not the DittoFS the hook
		// trusts, or does not speak TLS.
		return dittofsState{kind: stateAPIError, reason: ad.Reason}
	case ad.Reason == ReasonAPIUnreachable:
		return dittofsState{kind: stateUnreachable}
	case ad.Reason == ReasonAPIError || ad.Reason == ReasonInvalidResponse || ad.Reason == ReasonUnexpectedRedirect:
		return dittofsState{kind: stateAPIError, reason: ad.Reason}
	}
	return dittofsState{kind: stateWaiting}
}

// dittofsState records a failure when one begins (or turns into another
// that needs another fix) and the recovery when it ends: once each, however
// long the failure lasts.
func (e *eventBuilder) dittofsState() {
	was, now := dittofsStateOf(e.prev), dittofsStateOf(e.next)
	if was == now {
		return
	}
	// The state being left: both conditions as the request has them.
	left := []string{was.kind, was.reason, conditionState(e.cond(e.prev, CondAdaptersDiscovered)), conditionState(e.cond(e.prev, CondAuthenticated))}
	ad, au := e.cond(e.next, CondAdaptersDiscovered), e.cond(e.next, CondAuthenticated)
	name := e.s.server.Name
	api := &ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: e.s.server.Namespace, Name: apiServiceName(name), UID: e.uid(KeyService, apiServiceName(name))}
	authNote := func() string {
		if au != nil && au.Status != metav1.ConditionTrue && au.Reason != ReasonWaitingForServer {
			return au.Message
		}
		return ad.Message
	}
	switch now.kind {
	case stateUnreachable:
		e.add(corev1.EventTypeWarning, EventAuthAPIUnreachable, ad.Message+"; the hook keeps polling, backing off to once in 5 minutes", api, left...)
	case stateAPIError:
		e.add(corev1.EventTypeWarning, EventAdapterDiscoveryFailed, ad.Message, api, left...)
	case stateAuthFailed:
		e.add(corev1.EventTypeWarning, EventAuthFailed, authNote(), nil, left...)
	case stateConflict:
		e.add(corev1.EventTypeWarning, EventOperatorAccountConflict, authNote(), nil, left...)
	case stateOK:
		if was.failed() {
			reason := was.reason
			if reason == "" {
				reason = e.cond(e.prev, CondAdaptersDiscovered).Reason
			}
			e.add(corev1.EventTypeNormal, EventDittoFSRecovered, fmt.Sprintf("DittoFS answers again (it was %s); %s", reason, ad.Message), api, left...)
		}
	}
}

// snapshotPolicies: this sync applied the spec's snapshot policies to
// DittoFS (named after what the status recorded as applied before, the
// digest applied and the generation that asked for it: policies removed
// and then set again are another transition than their first apply), or
// SnapshotPoliciesApplied turned False or to another reason (named after
// the condition being left). A failure that goes on, retried at every
// poll, records nothing more.
func (e *eventBuilder) snapshotPolicies() {
	gen := fmt.Sprint(e.s.req.Parent.Metadata.Generation)
	if e.o.snapshots.State == Succeeded && e.o.snapshotResult != nil {
		r, prev, desired := e.o.snapshotResult, e.s.applied(), e.s.server.Snapshot
		var did []string
		for _, d := range []struct {
			verb   string
			shares []string
		}{{"created on", r.Created}, {"updated on", r.Updated}, {"deleted from", r.Deleted}} {
			if len(d.shares) > 0 {
				did = append(did, d.verb+" "+strings.Join(d.shares, ", "))
			}
		}
		if len(did) == 0 {
			did = []string{"DittoFS had them already"}
		}
		note := fmt.Sprintf("DittoFS holds the spec's %d snapshot policies (%s)", len(desired.Desired), strings.Join(did, "; "))
		if len(desired.Desired) == 0 {
			note = fmt.Sprintf("the spec has no snapshot policies any more (%s)", strings.Join(did, "; "))
		}
		e.add(corev1.EventTypeNormal, EventSnapshotPoliciesApplied, note, nil, gen, prev.AppliedHash, strings.Join(prev.Shares, ","), desired.Hash)
		return
	}
	was, now := e.cond(e.prev, CondSnapshotPolicies), e.cond(e.next, CondSnapshotPolicies)
	if now == nil || now.Status == metav1.ConditionTrue || now.Reason == ReasonPoliciesPending {
		return
	}
	if was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	e.add(corev1.EventTypeWarning, EventSnapshotPolicyFailed, now.Message, nil, gen, conditionState(was))
}

// childTypes: a field asks for a child of a type the installation does not
// declare (ConfigReady or DatabaseReady turns to the reason naming the
// component that adds it). Named after the condition being left and the
// generation: the field removed and asked for again is another transition.
func (e *eventBuilder) childTypes() {
	gen := fmt.Sprint(e.s.req.Parent.Metadata.Generation)
	for _, c := range []struct{ typ, reason string }{{CondConfigReady, ReasonServiceMonitorNotInstalled}, {CondDatabaseReady, ReasonPerconaNotInstalled}} {
		was, now := e.cond(e.prev, c.typ), e.cond(e.next, c.typ)
		if now == nil || now.Reason != c.reason || (was != nil && was.Reason == c.reason) {
			continue
		}
		e.add(corev1.EventTypeWarning, EventChildTypeNotDeclared, now.Message, nil, c.typ, gen, conditionState(was))
	}
}

// storageClass: ConfigReady turns StorageClassNotFound (a StorageClass the
// spec names does not exist). Named after the condition being left and the
// classes missing: a class created and deleted again, or another class
// named, is another transition; a class that stays missing, none.
func (e *eventBuilder) storageClass() {
	was, now := e.cond(e.prev, CondConfigReady), e.cond(e.next, CondConfigReady)
	if now == nil || now.Reason != ReasonStorageClassNotFound || (was != nil && was.Reason == ReasonStorageClassNotFound) {
		return
	}
	left := []string{conditionState(was)}
	for _, c := range e.s.missingClasses() {
		left = append(left, c.field+"="+c.name)
	}
	e.add(corev1.EventTypeWarning, EventStorageClassNotFound, now.Message, nil, left...)
}

// provisioned: this sync created the operator account, or reset its
// password, in DittoFS. Named after the Authenticated condition being left,
// so that two replicas racing to provision the same account record one
// Event.
func (e *eventBuilder) provisioned() {
	secret := operatorSecretName(e.s.server.Name)
	var note string
	switch e.o.provision {
	case AccountCreated:
		note = fmt.Sprintf("created the DittoFS account %s (role operator) with the password in Secret %s; the hook lists adapters with it", OperatorUsername, secret)
	case PasswordReset:
		note = fmt.Sprintf("DittoFS refused the password of its account %s (role operator): reset it, as the administrator, to the one in Secret %s", OperatorUsername, secret)
	default:
		return
	}
	e.add(corev1.EventTypeNormal, EventAuthProvisioned, note, e.operatorSecret(), fmt.Sprint(e.o.provision), conditionState(e.cond(e.prev, CondAuthenticated)))
}

func (e *eventBuilder) operatorSecret() *ObjectRef {
	n := operatorSecretName(e.s.server.Name)
	return &ObjectRef{APIVersion: "v1", Kind: "Secret", Namespace: e.s.server.Namespace, Name: n, UID: e.uid(KeySecret, n)}
}

// uid is an observed child's UID ("" when it does not exist).
func (e *eventBuilder) uid(key, name string) types.UID {
	return e.s.observed.children[key][name].uid
}

// known are the adapters the answer was built from: this sync's poll, or
// the last known.
func (e *eventBuilder) known() []dittofs.Adapter {
	return knownAdapters(e.s.server.Name, e.o, e.prev.Adapters)
}

// adapterOf finds the adapter an adapter child belongs to.
func adapterOf(cr, child string, adapters []dittofs.Adapter) (dittofs.Adapter, bool) {
	for _, a := range adapters {
		if slices.Contains(adapterChildNames(cr, a.Type), child) {
			return a, true
		}
	}
	return dittofs.Adapter{}, false
}

func statusOf(st DittoServerStatus, typ string) *AdapterStatus {
	for i := range st.Adapters {
		if st.Adapters[i].Type == typ {
			return &st.Adapters[i]
		}
	}
	return nil
}

// children records each adapter Service and NetworkPolicy the answer adds
// or removes. A removal is named after the removed object's UID: one per
// object, whichever sync decides it. An addition is named after the
// adapter's state in DittoFS (its id and updated_at, from this sync's poll)
// and the addresses the status still shows for a Service that is gone (a
// Service deleted by hand and made again is another transition than its
// first creation).
func (e *eventBuilder) children() {
	ds := e.s.server
	changes := e.s.Changes(e.resp)
	known := e.known()
	refused := refusedAdapters(ds, known)
	polled := map[string]dittofs.Adapter{}
	for _, a := range e.o.adapters {
		polled[a.Type] = a
	}
	for _, ref := range changes.Removed {
		if !isAdapterChild(ds.Name, ref.Name) {
			continue
		}
		child := e.s.observed.children[ref.Key][ref.Name]
		related := &ObjectRef{Namespace: ds.Namespace, Name: ref.Name, UID: child.uid}
		identity := string(child.uid)
		if identity == "" {
			identity = "no-uid/" + ref.Key + "/" + ref.Name
		}
		typ := e.typeOfRemoved(ref.Name)
		if why, no := refused[typ]; no {
			reason := EventAdapterServiceDeleted
			related.APIVersion, related.Kind = "v1", "Service"
			if ref.Key == KeyNetworkPolicy {
				related.APIVersion, related.Kind, reason = "networking.k8s.io/v1", "NetworkPolicy", EventAdapterNetworkPolicyDeleted
			}
			e.add(corev1.EventTypeNormal, reason, fmt.Sprintf("deleted %s %s: DittoFS reports adapter %s", related.Kind, ref.Name, why), related, identity)
			continue
		}
		switch ref.Key {
		case KeyService:
			related.APIVersion, related.Kind = "v1", "Service"
			why := "DittoFS no longer reports adapter " + typ
			if a, ok := polled[typ]; ok && !a.Enabled {
				why = "DittoFS reports adapter " + typ + " disabled"
			} else if ok {
				why = "the spec no longer asks for it"
			}
			e.add(corev1.EventTypeNormal, EventAdapterServiceDeleted, fmt.Sprintf("deleted Service %s: %s; its NetworkPolicy goes on the next sync, after the address", ref.Name, why), related, identity)
		case KeyNetworkPolicy:
			related.APIVersion, related.Kind = "networking.k8s.io/v1", "NetworkPolicy"
			why := "its adapter's Service is gone"
			if !ds.NetworkPolicy.Enabled {
				why = "spec.networkPolicy.enabled is false"
			}
			e.add(corev1.EventTypeNormal, EventAdapterNetworkPolicyDeleted, fmt.Sprintf("deleted NetworkPolicy %s: %s", ref.Name, why), related, identity)
		}
	}
	for _, ref := range changes.Added {
		if !isAdapterChild(ds.Name, ref.Name) || (ref.Key != KeyService && ref.Key != KeyNetworkPolicy) {
			continue
		}
		a, ok := adapterOf(ds.Name, ref.Name, known)
		if !ok {
			continue
		}
		state := "last-known"
		if p, ok := polled[a.Type]; ok {
			state = p.ID + "@" + p.UpdatedAt.UTC().Format("2006-01-02T15:04:05.999999999Z")
		}
		var gone []string
		if st := statusOf(e.prev, a.Type); st != nil {
			gone = st.Endpoints
		}
		transition := []string{ref.Key, ref.Name, state, fmt.Sprint(a.Port), strings.Join(gone, ",")}
		related := &ObjectRef{Namespace: ds.Namespace, Name: ref.Name}
		if ref.Key == KeyService {
			related.APIVersion, related.Kind = "v1", "Service"
			typ := ds.AdapterServices.For(a.Type).Type
			e.add(corev1.EventTypeNormal, EventAdapterServiceCreated, fmt.Sprintf("created %s Service %s for adapter %s (port %d)", typ, ref.Name, a.Type, a.Port), related, transition...)
		} else {
			related.APIVersion, related.Kind = "networking.k8s.io/v1", "NetworkPolicy"
			e.add(corev1.EventTypeNormal, EventAdapterNetworkPolicyCreated, fmt.Sprintf("created NetworkPolicy %s admitting spec.networkPolicy.adapterFrom to adapter %s (port %d)", ref.Name, a.Type, a.Port), related, transition...)
		}
	}
}

// typeOfRemoved is the adapter type a removed child served, as the
// previous status says (its Service), or the child's name.
func (e *eventBuilder) typeOfRemoved(child string) string {
	for _, a := range e.prev.Adapters {
		if slices.Contains(adapterChildNames(e.s.server.Name, a.Type), child) {
			return a.Type
		}
	}
	return adapterFragment(e.s.server.Name, child)
}

// portMoves: DittoFS moved an adapter to another port; its Service (same
// address) and NetworkPolicy follow in this answer. Named after the
// Service's UID and both ports, with the adapter's state in DittoFS.
func (e *eventBuilder) portMoves() {
	if e.o.poll.State != Succeeded {
		return
	}
	ds := e.s.server
	refused := refusedAdapters(ds, e.o.adapters)
	for _, a := range e.o.adapters {
		was := statusOf(e.prev, a.Type)
		svc := adapterName(ds.Name, a.Type)
		uid := e.uid(KeyService, svc)
		if _, no := refused[a.Type]; no || !a.Enabled || was == nil || was.Port == a.Port || uid == "" {
			continue // a refused adapter's Service goes (reservedPorts)
		}
		related := &ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ds.Namespace, Name: svc, UID: uid}
		e.add(corev1.EventTypeNormal, EventAdapterServiceUpdated,
			fmt.Sprintf("DittoFS moved adapter %s from port %d to %d: Service %s and its NetworkPolicy follow, keeping the Service's addresses", a.Type, was.Port, a.Port, svc),
			related, string(uid), fmt.Sprint(was.Port), fmt.Sprint(a.Port), a.ID+"@"+a.UpdatedAt.UTC().Format("2006-01-02T15:04:05.999999999Z"))
	}
}

// reservedPorts: an enabled adapter on a reserved port (see
// refusedAdapters), which the status did not show so: named after the
// adapter, its port and the status entry being left.
func (e *eventBuilder) reservedPorts() {
	refused := refusedAdapters(e.s.server, e.known())
	for _, typ := range sortedKeys(refused) {
		was := statusOf(e.prev, typ)
		left := "-"
		if was != nil {
			if was.Enabled && was.Service == "" && was.Port == statusOf(e.next, typ).Port {
				continue // refused before: the status shows it
			}
			left = fmt.Sprintf("%d/%t/%s", was.Port, was.Enabled, was.Service)
		}
		e.add(corev1.EventTypeWarning, EventAdapterPortReserved,
			"DittoFS reports adapter "+refused[typ]+": the hook exposes no Service and no NetworkPolicy for it (they would publish that port); move the adapter to another port in DittoFS (dfsctl adapter edit)",
			nil, typ, fmt.Sprint(statusOf(e.next, typ).Port), left)
	}
}

// degraded: an enabled adapter the status did not show degraded (or
// unhealthy) is now so by DittoFS's health check. Named after the adapter, the health
// its status entry leaves and the AdaptersReady condition being left (its
// lastTransitionTime tells one degradation from the next): every replica
// and retry of the sync that decides it names it alike, whatever the time
// of DittoFS's check.
func (e *eventBuilder) degraded() {
	for _, a := range e.next.Adapters {
		if !a.Enabled || !badHealth(a.Health) {
			continue
		}
		left := "-"
		if was := statusOf(e.prev, a.Type); was != nil {
			if badHealth(was.Health) {
				continue // the status shows it already
			}
			left = was.Health
		}
		related := (*ObjectRef)(nil)
		if uid := e.uid(KeyService, a.Service); a.Service != "" && uid != "" {
			related = &ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: e.s.server.Namespace, Name: a.Service, UID: uid}
		}
		e.add(corev1.EventTypeWarning, EventAdapterDegraded,
			fmt.Sprintf("DittoFS's health check reports adapter %s (port %d) %s; its Service and address are kept; see the DittoFS logs", a.Type, a.Port, a.Health),
			related, a.Type, left, conditionState(e.cond(e.prev, CondAdaptersReady)))
	}
}

// badHealth: what AdapterDegraded reports (DittoFS's degraded, and its
// unhealthy: an adapter shutting down).
func badHealth(h string) bool { return h == dittofs.HealthDegraded || h == dittofs.HealthUnhealthy }

// loadBalancers: AdaptersReady starts waiting for load balancer addresses
// (named after the Services that wait), and each adapter Service whose load balancer address the
// status does not show yet (named after the Service's UID and the address).
func (e *eventBuilder) loadBalancers() {
	ds := e.s.server
	was, now := e.cond(e.prev, CondAdaptersReady), e.cond(e.next, CondAdaptersReady)
	if now != nil && now.Reason == ReasonLoadBalancerPending && (was == nil || was.Reason != ReasonLoadBalancerPending) {
		// The wait is named after the load balancer Services it is
		// about (their UIDs, addressed yet or not), not after the
		// condition left, the status shown or which of them still wait:
		// Metacontroller may sync from a cache that lacks the status it
		// has just written, so the same wait can be entered from two
		// previous states, and by then one of its Services may have its
		// address (two replicas did so in the e2e suite: nfs and smb
		// waiting, then smb alone), and it must be one Event. A Service
		// made again, or a new adapter's, is another UID: a new wait.
		// (The cost: a Service that loses its address and waits again
		// records no second LoadBalancerPending.)
		var related *ObjectRef
		var transition []string
		for _, a := range e.next.Adapters {
			if svc := e.s.observed.services[a.Service]; a.Enabled && a.Running && svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				if related == nil && len(svc.Status.LoadBalancer.Ingress) == 0 {
					related = &ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ds.Namespace, Name: svc.Name, UID: svc.UID}
				}
				transition = append(transition, string(svc.UID))
			}
		}
		if transition == nil {
			transition = []string{conditionState(was)} // nothing observed waits yet
		}
		e.add(corev1.EventTypeNormal, EventLoadBalancerPending, now.Message, related, transition...)
	}
	for _, a := range e.next.Adapters {
		svc := e.s.observed.services[a.Service]
		if a.Service == "" || svc == nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
			continue
		}
		ing := svc.Status.LoadBalancer.Ingress[0]
		host := ing.IP
		if host == "" {
			host = ing.Hostname
		}
		if host == "" {
			continue
		}
		if st := statusOf(e.prev, a.Type); st != nil && st.Service == a.Service && slices.ContainsFunc(st.Endpoints, func(ep string) bool {
			h, _, err := net.SplitHostPort(ep)
			return err == nil && h == host
		}) {
			continue // the status shows it already
		}
		related := &ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ds.Namespace, Name: svc.Name, UID: svc.UID}
		where := host
		if len(a.Endpoints) > 0 {
			where = a.Endpoints[0]
		}
		e.add(corev1.EventTypeNormal, EventLoadBalancerAssigned, fmt.Sprintf("Service %s has the load balancer address %s: adapter %s is reachable at %s", svc.Name, host, a.Type, where), related, string(svc.UID), host)
	}
}

// finalize: deletion removed the operator account, left a k8s-operator that
// is not the hook's, or gave up waiting for DittoFS. Named after the
// deletion (its timestamp): one deletion, one outcome.
func (e *eventBuilder) finalize() {
	if !e.s.req.Finalizing || !e.resp.Finalized {
		return
	}
	md := e.s.req.Parent.Metadata
	deletion := "-"
	if md.DeletionTimestamp != nil {
		deletion = md.DeletionTimestamp.UTC().Format("2006-01-02T15:04:05Z")
	}
	f := e.o.finalize
	switch {
	case f.State == Succeeded && f.Reason == ReasonOperatorAccountConflict:
		e.add(corev1.EventTypeWarning, EventOperatorAccountConflict, fmt.Sprintf("left the DittoFS account %s in place: its role is not operator, so it is not the hook's to delete", OperatorUsername), nil, "finalize", deletion)
	case f.State == Succeeded:
		e.add(corev1.EventTypeNormal, EventOperatorAccountDeleted, fmt.Sprintf("deleted the DittoFS account %s; the claims (and the control-plane database) are kept", OperatorUsername), nil, "finalize", deletion)
	case !e.s.nothingToClean():
		why := e.s.plan.Why.Message
		if f.State == Failed {
			why = f.Message
		}
		e.add(corev1.EventTypeWarning, EventCleanupTimeout, fmt.Sprintf("gave up removing the DittoFS account %s %s after deletion began (%s); it stays in the retained control-plane volume: delete it as admin if you reuse that volume", OperatorUsername, finalizeGrace, why), nil, "finalize", deletion)
	}
}
