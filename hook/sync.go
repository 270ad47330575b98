package hook

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// The pure core: (request, what DittoFS said, clock) → response. No I/O.
//
// One sync takes one path: DecodeSyncRequest (the envelope, the parent's
// name and namespace), Prepare (the observed children decoded once, the
// spec resolved, the plan decided), the shell's calls to DittoFS as the plan
// says, judged once into an Observation (ObservePoll, ObserveFinalize), and
// Desired (the children and the status).

// Sync is one sync or finalize call, prepared: its observed children
// decoded, its DittoServer resolved, and whether to call DittoFS decided.
type Sync struct {
	req      *SyncRequest
	server   *dittoServer
	invalid  error
	observed *observedChildren
	plan     Plan
	// postgres wires DittoFS to database.postgresSecretRef's Postgres (a
	// zero value otherwise).
	postgres postgresConn
}

// Prepare decodes what the core reads of a request. An *InputError means a
// request the hook must refuse (4xx); a spec the hook cannot use is not an
// error here: Desired answers it with a condition (see InvalidSpec). A
// spec beyond the ceiling, what the cluster's administrator lets a
// DittoServer ask of its pod, is a spec the hook cannot use.
func Prepare(req *SyncRequest, ceiling Ceiling) (*Sync, error) {
	observed, err := newObservedChildren(req)
	if err != nil {
		return nil, err
	}
	ds, invalid := parseServer(req.Parent)
	var pg postgresConn
	if invalid == nil {
		ds.PodSelector = podSelector(ds.Name, observed.sts)
		invalid = checkDatabase(ds, observed)
	}
	if db := &ds.Database; invalid == nil && db.Type == "postgres" && !db.Percona {
		pg = resolvePostgres(ds, observed)
		db.EnvSecret, db.EnvDerived = pg.envSecret, pg.derived
	}
	if invalid == nil {
		invalid = ceiling.check(ds, observed)
	}
	s := &Sync{req: req, server: ds, invalid: invalid, observed: observed, postgres: pg}
	s.plan = s.makePlan()
	return s, nil
}

// Ignored are the objects of other namespaces the request held, which the
// sync ignored ("children|related <key> <namespace>/<name>", sorted).
func (s *Sync) Ignored() []string { return s.observed.ignored }

// Finalizing says whether this is a finalize call.
func (s *Sync) Finalizing() bool { return s.req.Finalizing }

// InvalidSpec is why the DittoServer's spec cannot be used (a *SpecError),
// or nil. Desired then keeps every child as it is.
func (s *Sync) InvalidSpec() error { return s.invalid }

// Explanation is a condition's reason and message: why something is as it is.
type Explanation struct {
	Reason  string
	Message string
}

// Plan says whether and how to call DittoFS in this sync.
type Plan struct {
	// Contact is true when DittoFS should be called.
	Contact bool
	// Why says, when Contact is false, why not.
	Why Explanation
	// Name, Namespace and Port locate the API; Key is the parent's UID.
	Name, Namespace, Key string
	Port                 int32
	Operator             dittofs.Credentials
	// Admin is nil when no administrator password is available.
	Admin *dittofs.Credentials
	// TLS is how to reach an API served over TLS; nil for plain HTTP.
	TLS *TLSPlan
	// Snapshots, when not nil, are the snapshot policies to apply after a
	// successful poll (they differ from what the status records as applied).
	Snapshots *SnapshotPlan
	// Probe: DittoFS did not answer the last poll (AdaptersDiscovered is
	// APIUnreachable), so the shell first checks, on a short budget, that
	// anything answers at all: a hanging API must not hold a sync slot,
	// and a Metacontroller worker, for the whole DittoFS timeout each time.
	Probe bool
}

// TLSPlan is how the hook reaches an API over TLS.
type TLSPlan struct {
	// CA is the ca.crt of controlPlane.certSecretName: the only authority
	// trusted for this server. Empty: the system roots.
	CA []byte
	// ServerName is the name the certificate must carry: the API Service's.
	ServerName string
	// Mutual: DittoFS requires a client certificate; the hook presents its own.
	Mutual bool
}

// SnapshotPlan is the apply of spec.snapshotPolicies.
type SnapshotPlan struct {
	Desired []dittofs.SnapshotPolicy
	// Managed are the shares an earlier apply answered for (the status).
	Managed []string
	// NotBefore is when a failed apply of these policies is tried again
	// (status.snapshotPolicies.retryAfter); zero: at once.
	NotBefore time.Time
}

// Due says whether to apply the policies now: each apply logs in as
// DittoFS's administrator, so a failed one waits for its retry time.
func (p *SnapshotPlan) Due(now time.Time) bool { return !now.Before(p.NotBefore) }

// Address is the DittoServer's API: its <name>-api Service, by its fully
// qualified name (the trailing dot, so that no search domain of the node's
// resolver can answer for it), built from the validated name and namespace;
// https when the API is served over TLS.
func (p Plan) Address() string {
	scheme := "http"
	if p.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(apiHost(p.Name, p.Namespace)+".", strconv.Itoa(int(p.Port)))}).String()
}

// apiHost is the API Service's DNS name, which a TLS certificate names.
func apiHost(name, namespace string) string {
	return apiServiceName(name) + "." + namespace + ".svc.cluster.local"
}

// Plan says whether and how to call DittoFS in this sync, decided once
// when the request was prepared.
func (s *Sync) Plan() Plan { return s.plan }

// makePlan decides, from the request alone, whether DittoFS can be asked:
// only with a valid spec, a ready replica (the API is not there before) and
// the operator's credentials.
func (s *Sync) makePlan() Plan {
	ds := s.server
	p := Plan{Name: ds.Name, Namespace: ds.Namespace, Key: ds.UID, Port: ds.APIPort}
	wait := func(reason, msg string) Plan {
		p.Why = Explanation{Reason: reason, Message: msg}
		return p
	}
	if s.invalid != nil {
		return wait(ReasonInvalidSpec, s.invalid.Error())
	}
	if ds.Pod.Replicas == 0 {
		return wait(ReasonStopped, "spec.replicas is 0: DittoFS is stopped; its adapter Services are kept")
	}
	if s.observed.readyReplicas() < 1 {
		return wait(ReasonWaitingForServer, fmt.Sprintf("waiting for StatefulSet %s to have a ready replica before calling the DittoFS API", statefulSetName(ds.Name)))
	}
	pass, ok := secretValue(s.observed.secret(operatorSecretName(ds.Name)), keyPassword)
	if !ok {
		return wait(ReasonWaitingForCredentials, fmt.Sprintf("waiting for Secret %s, which this sync creates", operatorSecretName(ds.Name)))
	}
	if ds.TLS.HTTPS {
		p.TLS = &TLSPlan{ServerName: apiHost(ds.Name, ds.Namespace), Mutual: ds.TLS.Mutual()}
		if ds.TLS.Serves() {
			sec := s.observed.related[ds.TLS.CertSecret]
			if sec == nil {
				return wait(ReasonTLSSecretMissing, fmt.Sprintf("Secret %s (spec.controlPlane.certSecretName) does not exist in namespace %s; the hook verifies DittoFS's certificate against its %s before it sends any credential", ds.TLS.CertSecret, ds.Namespace, keyCA))
			}
			p.TLS.CA = sec.Data[keyCA]
		}
	}
	p.Operator = dittofs.Credentials{Username: OperatorUsername, Password: pass}
	if admin, ok := s.adminPassword(); ok {
		p.Admin = &dittofs.Credentials{Username: ds.Identity.AdminUsername, Password: admin}
	}
	p.Contact = true
	if c := findCondition(s.req.Parent.Status.Conditions, CondAdaptersDiscovered); c != nil && c.Reason == ReasonAPIUnreachable {
		p.Probe = true
	}
	if snap, applied := ds.Snapshot, s.applied(); snap.Err == nil && snap.Hash != applied.AppliedHash && p.Admin != nil {
		p.Snapshots = &SnapshotPlan{Desired: snap.Desired, Managed: applied.Shares}
		if applied.FailedHash == snap.Hash && applied.RetryAfter != nil {
			p.Snapshots.NotBefore = applied.RetryAfter.Time
		}
	}
	return p
}

// applied is what the status records of the snapshot policies applied.
func (s *Sync) applied() SnapshotPoliciesStatus {
	if st := s.req.Parent.Status.SnapshotPolicies; st != nil {
		return *st
	}
	return SnapshotPoliciesStatus{}
}

// podSelector is the observed StatefulSet's selector when the upstream
// operator made it (a StatefulSet's selector cannot change: the hook's own
// would be refused on every sync), else the hook's.
func podSelector(cr string, sts *appsv1.StatefulSet) map[string]string {
	if sts != nil && sts.Spec.Selector != nil && len(sts.Spec.Selector.MatchExpressions) == 0 &&
		maps.Equal(sts.Spec.Selector.MatchLabels, upstreamSelectorLabels(cr)) {
		return upstreamSelectorLabels(cr)
	}
	return selectorLabels(cr)
}

// adminPassword reads the administrator's password: from the user's Secret
// (a related object) or from the generated one (a child).
func (s *Sync) adminPassword() (string, bool) {
	sel := s.server.Identity.AdminPassword
	if s.server.Identity.GeneratedAdminSecret {
		if legacy := adoptedAdminData(s.server, s.observed); legacy != nil {
			return string(legacy[keyPassword]), true
		}
		return secretValue(s.observed.secret(sel.Name), sel.Key)
	}
	return secretValue(s.observed.related[sel.Name], sel.Key)
}

// Desired is the pure core: the complete set of children and the status for
// this request, given what DittoFS said and the time. It never leaves out an
// adapter child that exists unless a successful, well-formed poll said so.
func (s *Sync) Desired(o Observation, now time.Time, gen *SecretSource) *SyncResponse {
	now = now.UTC().Truncate(time.Second)
	if s.invalid != nil {
		return s.keepAll(now)
	}
	ds := s.server
	prev := s.req.Parent.Status

	// Adapters: from this sync's poll when it succeeded (ObservePoll judged
	// it well formed), else as last known.
	fresh := o.poll.State == Succeeded
	known := knownAdapters(ds.Name, o, prev.Adapters)
	refused := refusedAdapters(ds, known)
	configYAML := renderConfig(ds)
	hash := configHash(ds, configYAML, s.observed)
	children := s.children(known, refused, fresh, gen, configYAML, hash)

	// observedGeneration is left to Metacontroller, which sets it.
	status := s.workload(hash)
	status.SnapshotPolicies = s.snapshotStatus(o, now)
	for _, a := range known {
		st := adapterStatus(ds.Name, a, s.observed.services)
		if _, no := refused[a.Type]; no {
			// Enabled without a Service: what marks a refused adapter.
			st.Service, st.Endpoints = "", nil
		}
		status.Adapters = append(status.Adapters, st)
	}
	var conds []cond
	if s.req.Finalizing {
		status.Phase = PhaseDeleting
		conds = append(carried(prev.Conditions), falseCond(CondReady, ReasonFinalizing, "the DittoServer is being deleted; removing the "+OperatorUsername+" account from DittoFS"))
	} else {
		f := s.facts(o, status.Adapters)
		f.refused, f.known = refused, known
		conds = conditions(f)
	}
	status.Conditions = mergeConditions(prev.Conditions, conds, ds.Generation, now)

	resp := &SyncResponse{Status: status, Children: children}
	resp.ResyncAfterSeconds = resyncAfter(ds.PollingInterval, status, now)
	if s.req.Finalizing {
		resp.Finalized = s.finalized(o, now)
		if !resp.Finalized {
			resp.ResyncAfterSeconds = 5
		}
	}
	return resp
}

// children are every child of the answer: the infrastructure in a fixed
// order, then each known enabled adapter's NetworkPolicy and Services, then
// the observed adapter children that must stay.
func (s *Sync) children(known []dittofs.Adapter, refused map[string]string, fresh bool, gen *SecretSource, configYAML, hash string) []any {
	ds := s.server
	var children []any
	// With Percona, DittoFS is created once its database serves (as the
	// upstream operator does): started earlier it would fail on a missing
	// Secret, then on a refused connection, restarting meanwhile. Once it
	// exists it stays, whatever the database does.
	//
	// Nor is a StatefulSet made while a StorageClass its claims name is
	// missing (see storageclass.go); one that exists stays as rendered.
	if s.observed.sts != nil || ((!ds.Percona.Enabled || s.perconaState() == perconaReady) && !s.heldForClass(KeyStatefulSet)) {
		children = append(children, child(makeStatefulSet(ds, hash, s.observed.sts)))
	}
	children = append(children,
		child(makeHeadlessService(ds, known, refused)),
		child(makeAPIService(ds)),
	)
	if ds.Metrics.Enabled {
		children = append(children, child(makeMetricsService(ds)))
	}
	children = append(children, child(makeConfigMap(ds, configYAML)))
	if ds.Metrics.Enabled && ds.Metrics.ServiceMonitor && s.observed.declares(KeyServiceMonitor) {
		children = append(children, makeServiceMonitor(ds))
	}
	if ds.Percona.Enabled && s.observed.declares(KeyPerconaPGCluster) &&
		(s.observed.percona[perconaClusterName(ds.Name)] != nil || !s.heldForClass(KeyPerconaPGCluster)) {
		children = append(children, makePerconaPGCluster(ds))
	}
	for _, sec := range makeSecrets(ds, s.observed, gen) {
		children = append(children, child(sec))
	}
	if sec := s.postgres.fresh; sec != nil {
		children = append(children, child(sec))
	}
	if keepLegacyAdminSecret(ds, s.observed) {
		children = append(children, s.observed.children[KeySecret][legacyAdminSecretName(ds.Name)].keep())
	}
	for _, n := range s.postgres.keep {
		if s.postgres.fresh == nil || n != s.postgres.fresh.Name {
			children = append(children, s.observed.children[KeySecret][n].keep())
		}
	}
	if ds.NetworkPolicy.Enabled {
		children = append(children, child(makeBaselinePolicy(ds)))
	}
	rendered := map[string]bool{}
	for _, a := range known {
		if _, no := refused[a.Type]; no || !a.Enabled {
			// A refused adapter is rendered as a disabled one: what exists
			// of it goes as any removed adapter's does (after a successful
			// poll, the Service first).
			continue
		}
		// Access is never added after the address that needs it: a new
		// Service is rendered only once its policy is observed. In one
		// answer they would not do: Metacontroller creates an answer's
		// children grouped by type in no set order, and was seen creating
		// the Service a second before its policy. So the policy comes in
		// one sync and the Service in the next (Metacontroller syncs again
		// when it sees the policy made), as removal takes the Service
		// first and the policy one sync later.
		policyObserved := true
		if ds.NetworkPolicy.Enabled {
			np := makeAdapterPolicy(ds, a)
			rendered[KeyNetworkPolicy+"/"+np.Name] = true
			children = append(children, child(np))
			policyObserved = s.observed.has(KeyNetworkPolicy, np.Name)
		}
		for _, svc := range makeAdapterServices(ds, a, s.observed) {
			if !policyObserved && !s.observed.has(KeyService, svc.Name) {
				continue
			}
			rendered[KeyService+"/"+svc.Name] = true
			children = append(children, child(svc))
		}
	}
	return append(children, s.keepAdapterChildren(rendered, fresh)...)
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
func (s *Sync) keepAdapterChildren(rendered map[string]bool, fresh bool) []any {
	var out []any
	name, policies := s.server.Name, s.server.NetworkPolicy.Enabled
	for _, key := range []string{KeyService, KeyNetworkPolicy} {
		if key == KeyNetworkPolicy && !policies {
			continue
		}
		for _, n := range sortedKeys(s.observed.children[key]) {
			if rendered[key+"/"+n] || !isAdapterChild(name, n) {
				continue
			}
			keep := !fresh
			if fresh && key == KeyNetworkPolicy {
				keep = s.observed.has(KeyService, n)
			}
			if keep {
				out = append(out, s.observed.children[key][n].keep())
			}
		}
	}
	return out
}

// keepAll answers a request whose spec the hook cannot use: every observed
// child exactly as last applied, the status as it was, and Ready saying why.
func (s *Sync) keepAll(now time.Time) *SyncResponse {
	prev := s.req.Parent.Status
	var children []any
	for _, key := range sortedKeys(s.observed.children) {
		for _, n := range sortedKeys(s.observed.children[key]) {
			children = append(children, s.observed.children[key][n].keep())
		}
	}
	status := prev
	msg := s.invalid.Error() + "; fix the DittoServer: until then every child is kept as it is"
	var kept []cond
	for _, c := range carried(prev.Conditions) {
		if c.Type != CondConfigReady {
			kept = append(kept, c)
		}
	}
	kept = append(kept, falseCond(CondConfigReady, ReasonInvalidSpec, msg), falseCond(CondReady, ReasonInvalidSpec, msg))
	status.Conditions = mergeConditions(prev.Conditions, kept, s.req.Parent.Metadata.Generation, now)
	resp := &SyncResponse{Status: &status, Children: children, ResyncAfterSeconds: 30}
	if s.req.Finalizing {
		// A DittoServer with a broken spec can still be deleted.
		resp.Finalized = true
	}
	return resp
}

// finalized: the operator account is gone, or DittoFS could not be reached
// for more than a minute since deletion began (a dead server must not block
// deletion forever), or there is no server to clean up.
func (s *Sync) finalized(o Observation, now time.Time) bool {
	if o.finalize.State == Succeeded || s.nothingToClean() {
		return true
	}
	del := s.req.Parent.Metadata.DeletionTimestamp
	if del == nil {
		return false
	}
	return now.Sub(del.Time) > finalizeGrace
}

// nothingToClean: no server runs, so there is no account to remove now.
// (It stays in the retained control-plane volume; see the README.)
func (s *Sync) nothingToClean() bool {
	return s.server.Pod.Replicas == 0 || s.observed.sts == nil
}

// finalizeGrace is how long deletion waits for DittoFS to remove the
// operator account.
const finalizeGrace = 60 * time.Second
