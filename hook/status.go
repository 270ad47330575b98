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
	// config, database (nil without Postgres), progressing and snapshots
	// (nil without snapshot policies) are decided from the spec and the
	// observed children alone.
	config      cond
	database    *cond
	progressing cond
	snapshots   *cond
	// refused are the adapters on a reserved port, by type, with why
	// (see refusedAdapters).
	refused map[string]string
	// rejected are the items of this sync's poll the hook cannot expose,
	// and known the adapters it renders (see knownAdapters).
	rejected, known []dittofs.Adapter
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
		rejected:      o.rejected,
		adapters:      adapters,
		discovered:    o.poll.State == Succeeded || len(s.req.Parent.Status.Adapters) > 0,
		services:      s.observed.services,
		config:        s.configCondition(),
		database:      s.databaseCondition(),
		progressing:   s.progressing(),
	}
	if c, ok := s.snapshotCondition(o); ok {
		f.snapshots = &c
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
	out := []cond{f.config}
	if f.database != nil {
		out = append(out, *f.database)
	}
	switch {
	case f.stopped:
		out = append(out, falseCond(CondAvailable, ReasonStopped, "spec.replicas is 0: DittoFS is stopped"))
	case f.readyReplicas < 1:
		out = append(out, falseCond(CondAvailable, ReasonWaitingForReplica, fmt.Sprintf("StatefulSet %s has no ready replica yet; see kubectl describe pod %s-0", statefulSetName(f.name), statefulSetName(f.name))))
	default:
		out = append(out, trueCond(CondAvailable, ReasonReplicaReady, "the DittoFS pod is ready"))
	}
	out = append(out, f.progressing)

	if f.auth.State == Succeeded {
		out = append(out, trueCond(CondAuthenticated, ReasonAuthenticationSucceeded, "logged in to the DittoFS API as "+OperatorUsername))
	} else {
		out = append(out, falseCond(CondAuthenticated, f.auth.Reason, f.auth.Message))
	}

	switch f.poll.State {
	case Succeeded:
		msg := "DittoFS reports " + describeAdapters(f.polled)
		if n := len(f.rejected); n > 0 {
			msg += fmt.Sprintf(", and %d adapter(s) the hook cannot expose (see AdaptersReady)", n)
		}
		out = append(out, trueCond(CondAdaptersDiscovered, ReasonPollSucceeded, msg))
	case Failed:
		out = append(out, falseCond(CondAdaptersDiscovered, f.poll.Reason, f.poll.Message+keptNote(f.adapters)))
	default:
		// Not asked: for the same reason as the token.
		out = append(out, falseCond(CondAdaptersDiscovered, f.auth.Reason, f.auth.Message+keptNote(f.adapters)))
	}

	out = append(out, adaptersReady(f))
	if f.snapshots != nil {
		out = append(out, *f.snapshots)
	}

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

// workload is the status the upstream operator reports of the StatefulSet:
// spec.replicas, the ready and available replicas, the phase, and the pod
// template's config hash, all pure functions of the spec and what was
// observed.
func (s *Sync) workload(hash string) *DittoServerStatus {
	ds := s.server
	st := &DittoServerStatus{Replicas: ds.Pod.Replicas, ConfigHash: hash}
	if sts := s.observed.sts; sts != nil {
		st.ReadyReplicas, st.AvailableReplicas = sts.Status.ReadyReplicas, sts.Status.AvailableReplicas
	}
	switch {
	case ds.Pod.Replicas == 0:
		st.Phase = PhaseStopped
	case st.ReadyReplicas >= ds.Pod.Replicas:
		st.Phase = PhaseRunning
	default:
		st.Phase = PhasePending
	}
	if ds.Percona.Enabled {
		st.PerconaClusterName = perconaClusterName(ds.Name)
	}
	return st
}

// configCondition is ConfigReady: the spec's configuration is rendered, and
// everything it asks for can be made here.
func (s *Sync) configCondition() cond {
	ds := s.server
	if c, ok := s.storageClassCondition(); ok {
		return c
	}
	if ds.Metrics.Enabled && ds.Metrics.ServiceMonitor && !s.observed.declares(KeyServiceMonitor) {
		return falseCond(CondConfigReady, ReasonServiceMonitorNotInstalled, fmt.Sprintf("spec.metrics.serviceMonitor needs the ServiceMonitor child type, which this installation does not declare: add manifests/components/servicemonitor (Helm: metacontroller.childTypes.serviceMonitor=true) where prometheus-operator's CRD is installed; the metrics Service %s is there meanwhile", metricsServiceName(ds.Name)))
	}
	return trueCond(CondConfigReady, ReasonConfigValid, fmt.Sprintf("DittoFS's configuration is rendered into ConfigMap %s", configMapName(ds.Name)))
}

// perconaState is the observed PerconaPGCluster's status.state ("" when
// there is none).
func (s *Sync) perconaState() string {
	if pc := s.observed.percona[perconaClusterName(s.server.Name)]; pc != nil {
		return pc.Status.State
	}
	return ""
}

// databaseCondition is DatabaseReady, for a control plane on Postgres: the
// PerconaPGCluster serves, or DittoFS's settings come from the Secret of
// database.postgresSecretRef (see resolvePostgres). Nil on SQLite.
func (s *Sync) databaseCondition() *cond {
	ds := s.server
	db := ds.Database
	if db.Type != "postgres" {
		return nil
	}
	var c cond
	switch {
	case db.Percona && !s.observed.declares(KeyPerconaPGCluster):
		c = falseCond(CondDatabaseReady, ReasonPerconaNotInstalled, "spec.percona needs the PerconaPGCluster child type, which this installation does not declare: add manifests/components/percona (Helm: metacontroller.childTypes.percona=true) where the Percona Operator for PostgreSQL v2 runs; DittoFS is not started until its database serves")
	case db.Percona && s.observed.percona[perconaClusterName(ds.Name)] == nil && s.heldForClass(KeyPerconaPGCluster):
		c = falseCond(CondDatabaseReady, ReasonPerconaNotFound, fmt.Sprintf("PerconaPGCluster %s is created once StorageClass %s (spec.percona.storageClassName) exists; see ConfigReady", perconaClusterName(ds.Name), *ds.Percona.Spec.StorageClassName))
	case db.Percona && s.observed.percona[perconaClusterName(ds.Name)] == nil:
		c = falseCond(CondDatabaseReady, ReasonPerconaNotFound, fmt.Sprintf("waiting for PerconaPGCluster %s, which this sync creates", perconaClusterName(ds.Name)))
	case db.Percona && s.perconaState() != perconaReady:
		state := dittofs.OneLine(s.perconaState(), 64)
		if state == "" {
			state = "not reported yet"
		}
		c = falseCond(CondDatabaseReady, ReasonPerconaNotReady, fmt.Sprintf("PerconaPGCluster %s: PostgreSQL cluster state %s; DittoFS starts once it is %s", perconaClusterName(ds.Name), state, perconaReady))
	case db.Percona:
		c = trueCond(CondDatabaseReady, ReasonPerconaReady, fmt.Sprintf("PerconaPGCluster %s serves; DittoFS connects with Secret %s", perconaClusterName(ds.Name), db.PostgresSecret))
	default:
		c = s.postgres.condition
	}
	return &c
}

// progressing is Progressing: the StatefulSet has not yet rolled out the
// template the hook last gave it (true), as its controller reports it.
func (s *Sync) progressing() cond {
	sts := s.observed.sts
	name := statefulSetName(s.server.Name)
	if sts == nil {
		return trueCond(CondProgressing, ReasonCreating, fmt.Sprintf("StatefulSet %s does not exist yet", name))
	}
	st := sts.Status
	desired := s.server.Pod.Replicas
	switch {
	case st.ObservedGeneration < sts.Generation:
		return trueCond(CondProgressing, ReasonStatefulSetUpdating, fmt.Sprintf("the StatefulSet controller has not yet seen the latest spec of StatefulSet %s", name))
	case st.UpdateRevision != "" && desired > 0 && (st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas < desired):
		return trueCond(CondProgressing, ReasonRollingOut, fmt.Sprintf("pod %s-0 is being replaced by one of the current template (revision %s)", name, dittofs.OneLine(st.UpdateRevision, 80)))
	case st.Replicas > desired:
		return trueCond(CondProgressing, ReasonScalingReplicas, fmt.Sprintf("StatefulSet %s is scaling down to %d", name, desired))
	}
	return falseCond(CondProgressing, ReasonRolloutComplete, fmt.Sprintf("StatefulSet %s runs the current template", name))
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
	var refused []string
	for _, typ := range sortedKeys(f.refused) {
		refused = append(refused, f.refused[typ])
	}
	var notRunning, degraded, noService, noAddress, ok []string
	for _, a := range f.adapters {
		if _, no := f.refused[a.Type]; !a.Enabled || no {
			continue
		}
		svc := f.services[a.Service]
		switch {
		case !a.Running:
			notRunning = append(notRunning, a.Type)
		case badHealth(a.Health):
			degraded = append(degraded, a.Type+" "+a.Health)
		case svc == nil:
			noService = append(noService, a.Type)
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) == 0:
			noAddress = append(noAddress, fmt.Sprintf("%s (Service %s)", a.Type, a.Service))
		case a.Health == dittofs.HealthUnknown || a.Health == dittofs.HealthDisabled:
			ok = append(ok, a.Type+" (health "+a.Health+")")
		default:
			ok = append(ok, a.Type)
		}
	}
	switch {
	case len(refused) > 0:
		return falseCond(CondAdaptersReady, ReasonAdapterPortReserved, "DittoFS reports "+strings.Join(refused, "; ")+": the hook exposes no adapter there (no Service, no NetworkPolicy); move the adapter to another port in DittoFS (dfsctl adapter edit)")
	case len(f.rejected) > 0:
		return falseCond(CondAdaptersReady, ReasonAdapterNotExposed, "DittoFS lists adapters the hook cannot expose: "+describeRejected(f.rejected, f.known)+"; every other adapter is applied as usual; fix the adapter in DittoFS (dfsctl adapter edit)")
	case len(notRunning) > 0:
		return falseCond(CondAdaptersReady, ReasonAdapterNotRunning, fmt.Sprintf("DittoFS reports %s enabled but not running; its Service is kept; see the DittoFS logs", strings.Join(notRunning, ", ")))
	case len(degraded) > 0:
		return falseCond(CondAdaptersReady, ReasonAdapterDegraded, fmt.Sprintf("DittoFS's health check reports %s; its Service and address are kept; see the DittoFS logs (kubectl logs %s-0)", strings.Join(degraded, ", "), statefulSetName(f.name)))
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
	st := AdapterStatus{Type: a.Type, Port: a.Port, Enabled: a.Enabled, Running: a.Running, Health: a.Health}
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
// wait is how long the failure has lasted, less one interval (measured from
// the failing condition's lastTransitionTime, which stays fixed while the
// failure goes on), so it doubles from poll to poll without a counter in
// status, up to maxBackoff. The first interval is not counted: a failure
// shorter than two intervals (a pod restarting, a policy re-applied) is
// retried at the interval, so DittoFS is polled again at most the interval
// and the DittoFS timeout after such an outage ends. The fault soak found a
// 9.4 s outage, with a 5 s interval, taking 6.8 s to be noticed as over; by
// the doubling alone, up to 11 s.
//
// The failure counts from when DittoFS last came up, too: a replica that
// has just become ready again (Available turned True) is polled again after
// the interval even when its first poll fails — that poll races the
// Service, which may not route to the new pod yet — instead of after as
// long as the pod was gone (the soak measured 12.6 s from a recreated
// pod's readiness to Ready).
func resyncAfter(interval time.Duration, st *DittoServerStatus, now time.Time) float64 {
	if since, ok := failingSince(st); ok {
		interval = min(max(interval, now.Sub(since)-interval), maxBackoff)
	}
	return math.Ceil(interval.Seconds())
}

// failingSince is when DittoFS's current failure began, as the backoff
// counts it: the AdaptersDiscovered condition's lastTransitionTime while it
// is False for a failure of DittoFS, or when the replica last became
// Available, if that is later. ok is false when DittoFS is not failing.
func failingSince(st *DittoServerStatus) (since time.Time, ok bool) {
	c := meta.FindStatusCondition(st.Conditions, CondAdaptersDiscovered)
	if c == nil || c.Status == "True" || !failing(c.Reason) {
		return time.Time{}, false
	}
	since = c.LastTransitionTime.Time
	if a := meta.FindStatusCondition(st.Conditions, CondAvailable); a != nil && a.Status == "True" && a.LastTransitionTime.After(since) {
		since = a.LastTransitionTime.Time
	}
	return since, true
}

// FailingIntervals is how long DittoFS has been failing this DittoServer,
// by the answer's status and counted as the backoff counts it, in the
// DittoServer's polling intervals; ok is false when it is not failing. The
// shell exports it at each failed poll, so that an alert can tell a long
// outage of one DittoServer from brief failures spread over a fleet without
// a label per DittoServer.
func (s *Sync) FailingIntervals(resp *SyncResponse, now time.Time) (intervals float64, ok bool) {
	if s.server == nil || s.server.PollingInterval <= 0 || resp == nil || resp.Status == nil {
		return 0, false
	}
	since, ok := failingSince(resp.Status)
	if !ok {
		return 0, false
	}
	return max(now.Sub(since), 0).Seconds() / s.server.PollingInterval.Seconds(), true
}

// failing says whether a reason is a failure of DittoFS (which backs off),
// rather than a wait for Kubernetes (which does not).
func failing(reason string) bool {
	switch reason {
	case ReasonAPIUnreachable, ReasonUnauthorized, ReasonInvalidResponse, ReasonAPIError, ReasonUnexpectedRedirect, ReasonOperatorAccountConflict,
		ReasonOperatorLoginFailed, ReasonAdminCredentialsRejected, ReasonAdminCredentialsMissing, ReasonAdminSecretMissing,
		ReasonServerCertificateRejected, ReasonClientCertificateMissing, ReasonClientCertificateRefused, ReasonTLSHandshakeFailed:
		return true
	}
	return false
}
