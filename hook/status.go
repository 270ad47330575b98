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

// facts is what one sync knows, from which every condition follows.
type facts struct {
	// name is the DittoServer's, for messages.
	name string
	// stopped: spec.replicas is 0.
	stopped       bool
	readyReplicas int32
	// auth is obtaining a token: this sync's outcome, or why DittoFS was
	// not asked, or that the user's admin password Secret is missing.
	auth Outcome
	// poll is listing the adapters (NotTried when DittoFS was not asked);
	// polled are a successful poll's adapters.
	poll   Outcome
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
func (s *Sync) facts(o Observation, adapters []AdapterStatus) facts {
	ds := s.server
	f := facts{
		name:          ds.Name,
		stopped:       ds.Pod.Replicas == 0,
		readyReplicas: s.observed.readyReplicas(),
		auth:          o.auth,
		poll:          o.poll,
		polled:        o.adapters,
		adapters:      adapters,
		discovered:    o.poll.State == Succeeded || len(s.req.Parent.Status.Adapters) > 0,
		services:      s.observed.services,
	}
	if f.auth.State == NotTried {
		f.auth = Outcome{Reason: s.plan.Why.Reason, Message: s.plan.Why.Message}
		if s.plan.Contact {
			f.auth = Outcome{Reason: ReasonWaitingForServer, Message: "DittoFS was not called during this sync"}
		}
	}
	if sel := ds.Identity.AdminPassword; !ds.Identity.GeneratedAdminSecret && f.auth.State != Succeeded {
		if _, ok := secretValue(s.observed.related[sel.Name], sel.Key); !ok {
			msg := fmt.Sprintf("Secret %s (spec.identity.admin.passwordSecretRef) does not exist in namespace %s; create it with the DittoFS administrator's password under the key %s", sel.Name, ds.Namespace, sel.Key)
			if s.observed.related[sel.Name] != nil {
				msg = fmt.Sprintf("Secret %s (spec.identity.admin.passwordSecretRef) has no key %s; add the DittoFS administrator's password under that key", sel.Name, sel.Key)
			}
			f.auth = Outcome{State: Failed, Reason: ReasonAdminSecretMissing, Message: msg}
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

// adapterStatus describes one known adapter of the DittoServer cr, with the
// addresses of its observed Service.
func adapterStatus(cr string, a dittofs.Adapter, services map[string]*corev1.Service) AdapterStatus {
	st := AdapterStatus{Type: a.Type, Port: a.Port, Enabled: a.Enabled, Running: a.Running}
	if !a.Enabled {
		return st
	}
	st.Service = adapterName(cr, a.Type)
	st.Endpoints = endpoints(services[st.Service], portName(a.Type))
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
func resyncAfter(interval time.Duration, st *DittoServerStatus, now time.Time) float64 {
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
