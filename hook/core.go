package hook

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// The pure core: (request, what DittoFS said, clock) → response. No I/O.

// StepState is the outcome of one exchange with DittoFS.
type StepState int

const (
	// NotTried: the hook did not talk to DittoFS (the plan said not to).
	NotTried StepState = iota
	Succeeded
	Failed
)

// Step is the outcome of one exchange with DittoFS, with the condition
// reason and message that describe a failure.
type Step struct {
	State   StepState
	Reason  string
	Message string
}

// Observation is what the shell learned from DittoFS during one sync,
// judged once: ObservePoll and ObserveFinalize make it, and the answer,
// the metrics and the log all read the same outcomes. The zero Observation
// means DittoFS was not called.
type Observation struct {
	auth     Step
	poll     Step
	adapters []dittofs.Adapter
	finalize Step
}

// Auth is the outcome of obtaining an operator token.
func (o Observation) Auth() Step { return o.auth }

// Poll is the outcome of listing the adapters: Succeeded only for a list
// that is well formed by every rule of the hook (see judgeAdapters).
func (o Observation) Poll() Step { return o.poll }

// Adapters are the adapters of a successful poll, one per type, sorted by
// type; nil otherwise.
func (o Observation) Adapters() []dittofs.Adapter { return o.adapters }

// Finalize is the outcome of deleting the operator account (finalize calls).
func (o Observation) Finalize() Step { return o.finalize }

// Input is a decoded sync request, ready for Plan and Desired.
type Input struct {
	req     *SyncRequest
	srv     *dittoServer
	specErr error
	obs     *observed
	plan    Plan
}

// Prepare decodes what the core reads of a request. An *InputError means a
// request the hook must refuse (4xx); a spec the hook cannot use is not an
// error here: Desired answers it with a condition.
func Prepare(req *SyncRequest) (*Input, error) {
	obs, err := newObserved(req)
	if err != nil {
		return nil, err
	}
	srv, specErr := parseServer(req.Parent)
	if specErr == nil {
		specErr = checkDatabase(srv, obs)
	}
	in := &Input{req: req, srv: srv, specErr: specErr, obs: obs}
	in.plan = in.makePlan()
	return in, nil
}

// Finalizing says whether this is a finalize call.
func (in *Input) Finalizing() bool { return in.req.Finalizing }

// Plan says whether and how to talk to DittoFS in this sync.
type Plan struct {
	// Contact is true when DittoFS should be called.
	Contact bool
	// Why explains, as a condition reason and message, why not.
	Why Step
	// Name, Namespace and Port locate the API; Key is the parent's UID.
	Name, Namespace, Key string
	Port                 int32
	Operator             dittofs.Credentials
	// Admin is nil when no administrator password is available.
	Admin *dittofs.Credentials
}

// Plan says whether and how to call DittoFS in this sync, decided once
// when the request was prepared.
func (in *Input) Plan() Plan { return in.plan }

// makePlan decides, from the request alone, whether DittoFS can be asked:
// only with a valid spec, a ready replica (the API is not there before) and
// the operator's credentials.
func (in *Input) makePlan() Plan {
	s := in.srv
	p := Plan{Name: s.Name, Namespace: s.Namespace, Key: s.UID, Port: s.APIPort}
	wait := func(reason, msg string) Plan {
		p.Why = Step{State: NotTried, Reason: reason, Message: msg}
		return p
	}
	if in.specErr != nil {
		return wait(ReasonInvalidSpec, in.specErr.Error())
	}
	if s.Pod.Replicas == 0 {
		return wait(ReasonStopped, "spec.replicas is 0: DittoFS is stopped; its adapter Services are kept")
	}
	if in.obs.readyReplicas() < 1 {
		return wait(ReasonWaitingForServer, fmt.Sprintf("waiting for StatefulSet %s to have a ready replica before calling the DittoFS API", statefulSetName(s.Name)))
	}
	pass, ok := secretValue(in.obs.secret(operatorSecretName(s.Name)), keyPassword)
	if !ok {
		return wait(ReasonWaitingForCredentials, fmt.Sprintf("waiting for Secret %s, which this sync creates", operatorSecretName(s.Name)))
	}
	p.Operator = dittofs.Credentials{Username: OperatorUsername, Password: pass}
	if admin, ok := in.adminPassword(); ok {
		p.Admin = &dittofs.Credentials{Username: s.Identity.AdminUsername, Password: admin}
	}
	p.Contact = true
	return p
}

// adminPassword reads the administrator's password: from the user's Secret
// (a related object) or from the generated one (a child).
func (in *Input) adminPassword() (string, bool) {
	sel := in.srv.Identity.AdminPassword
	if in.srv.Identity.GeneratedAdminSecret {
		return secretValue(in.obs.secret(sel.Name), sel.Key)
	}
	return secretValue(in.obs.related[sel.Name], sel.Key)
}

// Desired is the pure core: the complete set of children and the status for
// this request, given what DittoFS said and the time. It never leaves out an
// adapter child that exists unless a successful, well-formed poll said so.
func (in *Input) Desired(o Observation, now time.Time, gen *SecretSource) *SyncResponse {
	now = now.UTC().Truncate(time.Second)
	if in.specErr != nil {
		return in.keepAll(now)
	}
	s := in.srv
	prev := in.req.Parent.Status
	var children []any

	// Infrastructure, in a fixed order.
	configYAML := renderConfig(s)
	children = append(children,
		child(makeStatefulSet(s, configYAML, in.obs.sts)),
		child(makeHeadlessService(s)),
		child(makeAPIService(s)),
		child(makeConfigMap(s, configYAML)),
	)
	for _, sec := range makeSecrets(s, in.obs, gen) {
		children = append(children, child(sec))
	}
	if s.NetworkPolicy.Enabled {
		children = append(children, child(makeBaselinePolicy(s)))
	}

	// Adapters: from this sync's poll when it succeeded (ObservePoll judged
	// it well formed), else as last known.
	fresh := o.poll.State == Succeeded
	known := o.adapters
	if !fresh {
		known = fromStatus(s.Name, prev.Adapters)
	}
	rendered := map[string]bool{}
	for _, a := range known {
		if !a.Enabled {
			continue
		}
		// The policy is rendered with its Services: access is never added
		// after the address that needs it.
		if s.NetworkPolicy.Enabled {
			np := makeAdapterPolicy(s, a)
			rendered[KeyNetworkPolicy+"/"+np.Name] = true
			children = append(children, child(np))
		}
		for _, svc := range makeAdapterServices(s, a, in.obs) {
			rendered[KeyService+"/"+svc.Name] = true
			children = append(children, child(svc))
		}
	}
	children = append(children, in.keepAdapterChildren(rendered, fresh, s.NetworkPolicy.Enabled)...)

	// Status.
	// observedGeneration is left to Metacontroller, which sets it.
	status := &DittoServerStatus{}
	for _, a := range known {
		status.Adapters = append(status.Adapters, in.adapterStatus(a))
	}
	var conds []cond
	if in.req.Finalizing {
		conds = append(carried(prev.Conditions), falseCond(CondReady, ReasonFinalizing, "the DittoServer is being deleted; removing the "+OperatorUsername+" account from DittoFS"))
	} else {
		conds = conditions(in.facts(o, status.Adapters))
	}
	status.Conditions = mergeConditions(prev.Conditions, conds, s.Generation, now)

	resp := &SyncResponse{Status: status, Children: children}
	resp.ResyncAfterSeconds = in.resyncAfter(status, now)
	if in.req.Finalizing {
		resp.Finalized = in.finalized(o, now)
		if !resp.Finalized {
			resp.ResyncAfterSeconds = 5
		}
	}
	return resp
}

// keepAdapterChildren returns the observed adapter children the render did
// not produce that must stay:
//   - after a failed poll, every one of them (never lose what exists);
//   - after a successful poll, a NetworkPolicy whose Service still exists:
//     access is removed only after the address, on the next sync.
//
// With NetworkPolicies disabled, no policy stays, whatever the poll did:
// removing a policy only ever opens access, and a kept adapter policy would
// still select the pod, admitting its adapter ports only — the API port
// closed to everyone, the hook included, for good.
func (in *Input) keepAdapterChildren(rendered map[string]bool, fresh, policies bool) []any {
	var out []any
	name := in.srv.Name
	for _, key := range []string{KeyService, KeyNetworkPolicy} {
		if key == KeyNetworkPolicy && !policies {
			continue
		}
		for _, n := range sortedKeys(in.obs.children[key]) {
			if rendered[key+"/"+n] || !isAdapterChild(name, n) {
				continue
			}
			keep := !fresh
			if fresh && key == KeyNetworkPolicy && policies {
				keep = in.obs.has(KeyService, n)
			}
			if keep {
				out = append(out, in.obs.children[key][n].keep())
			}
		}
	}
	return out
}

// keepAll answers a request whose spec the hook cannot use: every observed
// child exactly as last applied, the status as it was, and Ready saying why.
func (in *Input) keepAll(now time.Time) *SyncResponse {
	prev := in.req.Parent.Status
	var children []any
	for _, key := range sortedKeys(in.obs.children) {
		for _, n := range sortedKeys(in.obs.children[key]) {
			children = append(children, in.obs.children[key][n].keep())
		}
	}
	status := prev
	msg := in.specErr.Error() + "; fix the DittoServer: until then every child is kept as it is"
	kept := append(carried(prev.Conditions), falseCond(CondReady, ReasonInvalidSpec, msg))
	status.Conditions = mergeConditions(prev.Conditions, kept, in.req.Parent.Metadata.Generation, now)
	resp := &SyncResponse{Status: &status, Children: children, ResyncAfterSeconds: 30}
	if in.req.Finalizing {
		// A DittoServer with a broken spec can still be deleted.
		resp.Finalized = true
	}
	return resp
}

// facts is what one sync knows, from which every condition follows.
type facts struct {
	// name is the DittoServer's, for messages.
	name string
	// stopped: spec.replicas is 0.
	stopped       bool
	readyReplicas int32
	// auth is obtaining a token: this sync's outcome, or why DittoFS was
	// not asked, or that the user's admin password Secret is missing.
	auth Step
	// poll is listing the adapters (NotTried when DittoFS was not asked);
	// polled are a successful poll's adapters.
	poll   Step
	polled []dittofs.Adapter
	// adapters are what status.adapters says after this sync: the poll's,
	// or the last known, each with its Service's addresses.
	adapters []AdapterStatus
	// discovered: an adapter list was read, in this sync or before.
	discovered bool
	// services are the observed Services, for the adapters' addresses.
	services map[string]*corev1.Service
}

// facts gathers what this sync knows, given what DittoFS said and what
// status.adapters will say.
func (in *Input) facts(o Observation, adapters []AdapterStatus) facts {
	s := in.srv
	f := facts{
		name:          s.Name,
		stopped:       s.Pod.Replicas == 0,
		readyReplicas: in.obs.readyReplicas(),
		auth:          o.auth,
		poll:          o.poll,
		polled:        o.adapters,
		adapters:      adapters,
		discovered:    o.poll.State == Succeeded || len(in.req.Parent.Status.Adapters) > 0,
		services:      in.obs.services,
	}
	if f.auth.State == NotTried {
		f.auth = in.plan.Why
		if in.plan.Contact {
			f.auth = Step{Reason: ReasonWaitingForServer, Message: "DittoFS was not called during this sync"}
		}
	}
	if sel := s.Identity.AdminPassword; !s.Identity.GeneratedAdminSecret && f.auth.State != Succeeded {
		if _, ok := secretValue(in.obs.related[sel.Name], sel.Key); !ok {
			msg := fmt.Sprintf("Secret %s (spec.identity.admin.passwordSecretRef) does not exist in namespace %s; create it with the DittoFS administrator's password under the key %s", sel.Name, s.Namespace, sel.Key)
			if in.obs.related[sel.Name] != nil {
				msg = fmt.Sprintf("Secret %s (spec.identity.admin.passwordSecretRef) has no key %s; add the DittoFS administrator's password under that key", sel.Name, sel.Key)
			}
			f.auth = Step{State: Failed, Reason: ReasonAdminSecretMissing, Message: msg}
		}
	}
	return f
}

// conditions are every condition of a sync, from its facts alone.
func conditions(f facts) []cond {
	var out []cond
	switch {
	case f.stopped:
		out = append(out, falseCond(CondAvailable, ReasonStopped, "spec.replicas is 0: DittoFS is stopped"))
	case f.readyReplicas < 1:
		out = append(out, falseCond(CondAvailable, ReasonWaitingForReplica, fmt.Sprintf("StatefulSet %s has no ready replica yet; see kubectl describe pod %s-0", statefulSetName(f.name), statefulSetName(f.name))))
	default:
		out = append(out, trueCond(CondAvailable, ReasonReplicaReady, "the DittoFS pod is ready"))
	}

	if f.auth.State == Succeeded {
		out = append(out, trueCond(CondAuthenticated, ReasonAuthenticationSucceeded, "logged in to the DittoFS API as "+OperatorUsername))
	} else {
		out = append(out, falseCond(CondAuthenticated, f.auth.Reason, f.auth.Message))
	}

	switch f.poll.State {
	case Succeeded:
		out = append(out, trueCond(CondAdaptersDiscovered, ReasonPollSucceeded, "DittoFS reports "+describeAdapters(f.polled)))
	case Failed:
		out = append(out, falseCond(CondAdaptersDiscovered, f.poll.Reason, f.poll.Message+keptNote(f.adapters)))
	default:
		// Not asked: for the same reason as the token.
		out = append(out, falseCond(CondAdaptersDiscovered, f.auth.Reason, f.auth.Message+keptNote(f.adapters)))
	}

	out = append(out, adaptersReady(f))

	summary := "DittoFS is serving"
	var eps []string
	for _, a := range f.adapters {
		if len(a.Endpoints) > 0 {
			eps = append(eps, a.Type+" at "+a.Endpoints[0])
		}
	}
	if len(eps) > 0 {
		summary += " " + strings.Join(eps, ", ")
	}
	ready := foldReady(out, summary)
	if f.stopped {
		ready = falseCond(CondReady, ReasonStopped, "spec.replicas is 0: DittoFS is stopped")
	}
	return append(out, ready)
}

// carried returns the previous conditions other than Ready, unchanged, for
// syncs that learn nothing new about them (they keep the generation they
// were observed at).
func carried(prev []metav1.Condition) []cond {
	var out []cond
	for _, c := range prev {
		if c.Type != CondReady {
			out = append(out, cond{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, Generation: c.ObservedGeneration})
		}
	}
	return out
}

func keptNote(adapters []AdapterStatus) string {
	if len(adapters) == 0 {
		return ""
	}
	return "; adapter Services are kept as last discovered"
}

// adaptersReady: every enabled adapter running and reachable at an address.
func adaptersReady(f facts) cond {
	if !f.discovered {
		return falseCond(CondAdaptersReady, ReasonWaitingForDiscovery, "no adapter list has been read from DittoFS yet")
	}
	var notRunning, noService, noAddress, ok []string
	for _, a := range f.adapters {
		if !a.Enabled {
			continue
		}
		svc := f.services[a.Service]
		switch {
		case !a.Running:
			notRunning = append(notRunning, a.Type)
		case svc == nil:
			noService = append(noService, a.Type)
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) == 0:
			noAddress = append(noAddress, fmt.Sprintf("%s (Service %s)", a.Type, a.Service))
		default:
			ok = append(ok, a.Type)
		}
	}
	switch {
	case len(notRunning) > 0:
		return falseCond(CondAdaptersReady, ReasonAdapterNotRunning, fmt.Sprintf("DittoFS reports %s enabled but not running; its Service is kept; see the DittoFS logs", strings.Join(notRunning, ", ")))
	case len(noService) > 0:
		return falseCond(CondAdaptersReady, ReasonServicePending, "waiting for the Service of "+strings.Join(noService, ", "))
	case len(noAddress) > 0:
		return falseCond(CondAdaptersReady, ReasonLoadBalancerPending, "no load balancer address yet for "+strings.Join(noAddress, ", ")+"; on a cluster without load balancers set spec.adapterServices.type to NodePort")
	case len(ok) == 0:
		return trueCond(CondAdaptersReady, ReasonNoAdaptersEnabled, "DittoFS has no enabled adapter")
	}
	return trueCond(CondAdaptersReady, ReasonAllAdaptersReady, "reachable: "+strings.Join(ok, ", "))
}

// adapterStatus describes one known adapter, with the addresses of its
// observed Service.
func (in *Input) adapterStatus(a dittofs.Adapter) AdapterStatus {
	st := AdapterStatus{Type: a.Type, Port: a.Port, Enabled: a.Enabled, Running: a.Running}
	if !a.Enabled {
		return st
	}
	st.Service = adapterName(in.srv.Name, a.Type)
	st.Endpoints = endpoints(in.obs.service(st.Service), portName(a.Type))
	return st
}

// endpoints lists a Service's addresses for one port, most useful first:
// load balancer ingress, then node port ("*" standing for any node), then
// cluster IP.
func endpoints(svc *corev1.Service, port string) []string {
	if svc == nil {
		return nil
	}
	var p *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == port {
			p = &svc.Spec.Ports[i]
		}
	}
	if p == nil {
		return nil
	}
	port32 := strconv.Itoa(int(p.Port))
	var out []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		host := ing.IP
		if host == "" {
			host = ing.Hostname
		}
		if host != "" {
			out = append(out, net.JoinHostPort(host, port32))
		}
	}
	if p.NodePort != 0 && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		out = append(out, "*:"+strconv.Itoa(int(p.NodePort)))
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		out = append(out, net.JoinHostPort(ip, port32))
	}
	return out
}

// resyncAfter is the polling interval, stretched while DittoFS fails: the
// wait grows with how long the failure has lasted (measured from the
// failing condition's lastTransitionTime, which stays fixed while the failure
// goes on), so it doubles from poll to poll without a counter in status.
func (in *Input) resyncAfter(st *DittoServerStatus, now time.Time) float64 {
	interval := in.srv.PollingInterval
	if c := meta.FindStatusCondition(st.Conditions, CondAdaptersDiscovered); c != nil && c.Status != "True" && failing(c.Reason) {
		elapsed := now.Sub(c.LastTransitionTime.Time)
		interval = min(max(interval, elapsed), maxBackoff)
	}
	return math.Ceil(interval.Seconds())
}

// failing says whether a reason is a failure of DittoFS (which backs off),
// rather than a wait for Kubernetes (which does not).
func failing(reason string) bool {
	switch reason {
	case ReasonAPIUnreachable, ReasonUnauthorized, ReasonInvalidResponse, ReasonAPIError, ReasonUnexpectedRedirect, ReasonOperatorAccountConflict,
		ReasonOperatorLoginFailed, ReasonAdminCredentialsRejected, ReasonAdminCredentialsMissing, ReasonAdminSecretMissing:
		return true
	}
	return false
}

// finalized: the operator account is gone, or DittoFS could not be reached
// for more than a minute since deletion began (a dead server must not block
// deletion forever), or there is no server to clean up.
func (in *Input) finalized(o Observation, now time.Time) bool {
	if o.finalize.State == Succeeded {
		return true
	}
	if in.srv.Pod.Replicas == 0 || in.obs.sts == nil {
		// No server runs: there is no account to remove now. (It stays in
		// the retained control-plane volume; see the README.)
		return true
	}
	del := in.req.Parent.Metadata.DeletionTimestamp
	if del == nil {
		return false
	}
	return now.Sub(del.Time) > finalizeGrace
}

// finalizeGrace is how long deletion waits for DittoFS to remove the
// operator account.
const finalizeGrace = 60 * time.Second

// SpecError is the reason the parent's spec cannot be used, or nil.
func (in *Input) SpecError() error { return in.specErr }
