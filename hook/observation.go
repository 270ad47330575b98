package hook

import (
	"errors"
	"fmt"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// OutcomeState says how one exchange with DittoFS went.
type OutcomeState int

const (
	// NotTried: the hook did not talk to DittoFS (the plan said not to).
	NotTried OutcomeState = iota
	Succeeded
	Failed
)

// Outcome is how one exchange with DittoFS went, with the condition reason
// and message that describe a failure.
type Outcome struct {
	State   OutcomeState
	Reason  string
	Message string
}

// Observation is what the shell learned from DittoFS during one sync,
// judged once: ObservePoll, ObserveFinalize and ObserveUnreachable make it,
// and the answer, the metrics and the log all read the same outcomes. The
// zero Observation means DittoFS was not called (Desired says why, from the
// plan).
type Observation struct {
	auth     Outcome
	poll     Outcome
	adapters []dittofs.Adapter
	// rejected are the items of a successful poll the hook cannot expose
	// (see judgeAdapters), sorted.
	rejected  []dittofs.Adapter
	finalize  Outcome
	provision Provision
	// snapshots is applying the snapshot policies (after a successful
	// poll, when the plan says so), with what the apply did.
	snapshots      Outcome
	snapshotResult *dittofs.SnapshotPolicyResult
}

// Provision is what a sync did to the operator account in DittoFS.
type Provision int

const (
	// NotProvisioned: the account was left as it was.
	NotProvisioned Provision = iota
	// AccountCreated: the hook created k8s-operator.
	AccountCreated
	// PasswordReset: k8s-operator existed with the operator role and a
	// password other than the one in its Secret; the hook reset it.
	PasswordReset
)

// WithProvision records what this sync did to the operator account (the
// shell learns it from dittofs.Target.Provisioned): a change made in
// DittoFS, reported by an Event whether or not the poll then succeeded.
func (o Observation) WithProvision(p Provision) Observation {
	o.provision = p
	return o
}

// Provision is what this sync did to the operator account.
func (o Observation) Provision() Provision { return o.provision }

// Auth is the outcome of obtaining an operator token.
func (o Observation) Auth() Outcome { return o.auth }

// Poll is the outcome of listing the adapters: Succeeded only for a list
// that is well formed by every rule of the hook (see judgeAdapters).
func (o Observation) Poll() Outcome { return o.poll }

// Adapters are the adapters of a successful poll, one per type, sorted by
// type; nil otherwise.
func (o Observation) Adapters() []dittofs.Adapter { return o.adapters }

// Rejected are the items of a successful poll the hook cannot expose, each
// with its Problem, sorted.
func (o Observation) Rejected() []dittofs.Adapter { return o.rejected }

// Finalize is the outcome of deleting the operator account (finalize calls).
func (o Observation) Finalize() Outcome { return o.finalize }

// Snapshots is the outcome of applying the snapshot policies.
func (o Observation) Snapshots() Outcome { return o.snapshots }

// ObservePoll judges, once, the outcome of obtaining a token and listing
// adapters: a list that breaks a rule of the hook (see judgeAdapters) is a
// failed poll (InvalidResponse), like a body of the wrong shape. Reasons and
// messages tell the user what to do, and depend only on the kind of failure,
// so a failure that goes on leaves the status unchanged.
func (s *Sync) ObservePoll(adapters []dittofs.Adapter, err error, api string) Observation {
	ok := Outcome{State: Succeeded}
	if err == nil {
		judged, rejected, err := judgeAdapters(s.server.Name, adapters)
		if err != nil {
			return Observation{auth: ok, poll: Outcome{State: Failed, Reason: ReasonInvalidResponse, Message: err.Error()}}
		}
		return Observation{auth: ok, poll: ok, adapters: judged, rejected: rejected}
	}
	var authErr *dittofs.AuthError
	if errors.As(err, &authErr) {
		auth := s.authFailure(authErr, api)
		reason := ReasonUnauthorized
		switch auth.Reason {
		case ReasonAPIUnreachable, ReasonAPIError, ReasonUnexpectedRedirect, ReasonOperatorAccountConflict,
			ReasonServerCertificateRejected, ReasonClientCertificateMissing, ReasonClientCertificateRefused, ReasonTLSHandshakeFailed:
			reason = auth.Reason
		}
		return Observation{auth: auth, poll: Outcome{State: Failed, Reason: reason, Message: auth.Message}}
	}
	poll := s.pollFailure(err, api)
	if serverFault(poll.Reason) {
		// A replica with a token cached meets a failing DittoFS at the
		// list, one without at the login: both must say the same (neither
		// can tell that it is logged in), or each would undo the status the
		// other wrote, and every status write makes Metacontroller sync
		// again at once.
		return Observation{auth: poll, poll: poll}
	}
	return Observation{auth: ok, poll: poll}
}

// ObservePortsPoll judges a poll answered by GET /api/v1/adapters/ports
// because the full list did not answer in time (see the shell's poll): a
// successful poll like any other, each adapter's health carried from the
// last known status (that route runs no health check), so that a slow
// health check changes nothing DittoFS did not change.
func (s *Sync) ObservePortsPoll(adapters []dittofs.Adapter, api string) Observation {
	last := map[string]string{}
	for _, a := range s.req.Parent.Status.Adapters {
		last[a.Type] = a.Health
	}
	carried := make([]dittofs.Adapter, len(adapters))
	for i, a := range adapters {
		a.Health = last[a.Type]
		carried[i] = a
	}
	return s.ObservePoll(carried, nil, api)
}

// serverFault says whether a failure is DittoFS's (or whatever answers at its
// address) rather than about the hook's credentials: such a failure is
// worded by its cause alone, whichever call met it, and is
// Authenticated=False on every replica.
func serverFault(reason string) bool {
	switch reason {
	case ReasonAPIUnreachable, ReasonAPIError, ReasonUnexpectedRedirect,
		ReasonServerCertificateRejected, ReasonClientCertificateMissing, ReasonClientCertificateRefused, ReasonTLSHandshakeFailed:
		return true
	}
	return false
}

// ObserveFinalize turns the outcome of deleting the operator account into
// an Observation.
func (s *Sync) ObserveFinalize(err error, api string) Observation {
	var conflict *dittofs.AccountConflictError
	switch {
	case err == nil:
		return Observation{finalize: Outcome{State: Succeeded, Reason: ReasonOperatorAccountGone}}
	case errors.As(err, &conflict):
		// The k8s-operator account is not the hook's: there is nothing of
		// the hook's to remove, and that account stays.
		return Observation{finalize: Outcome{State: Succeeded, Reason: ReasonOperatorAccountConflict}}
	}
	return Observation{finalize: Outcome{State: Failed, Reason: ReasonOperatorAccountStuck, Message: dittofs.Describe(err)}}
}

func (s *Sync) pollFailure(err error, api string) Outcome {
	ds := s.server
	var malformed *dittofs.MalformedError
	code := dittofs.StatusCode(err)
	if out, ok := s.tlsFailure(err, api); ok {
		return out
	}
	switch {
	case dittofs.IsRedirect(err):
		return redirected(ds, api, code)
	case errors.As(err, &malformed):
		return Outcome{State: Failed, Reason: ReasonInvalidResponse, Message: fmt.Sprintf("DittoFS at %s answered the adapter list with an unexpected body (%s)", api, dittofs.Describe(err))}
	case code == 401 || code == 403:
		return Outcome{State: Failed, Reason: ReasonUnauthorized, Message: fmt.Sprintf("DittoFS at %s refused the adapter list to %s (%s); the account needs the operator or admin role", api, OperatorUsername, dittofs.Describe(err))}
	case code != 0:
		return serverError(ds, api, code)
	}
	return unreachable(api, err)
}

// serverError is the outcome of DittoFS answering a call with an error of
// its own (5xx, or a 4xx the hook does not expect), worded by the status
// alone: the call that met it and the server's words differ from replica to
// replica and from call to call.
func serverError(ds *dittoServer, api string, code int) Outcome {
	return Outcome{State: Failed, Reason: ReasonAPIError, Message: fmt.Sprintf("DittoFS at %s answers HTTP %d; the hook retries with backoff (DittoFS says why in kubectl -n %s logs %s-0)", api, code, ds.Namespace, statefulSetName(ds.Name))}
}

// redirected is the outcome of a redirect, whichever call met it.
func redirected(ds *dittoServer, api string, code int) Outcome {
	return Outcome{State: Failed, Reason: ReasonUnexpectedRedirect, Message: redirectMessage(api, code, apiServiceName(ds.Name))}
}

// unreachable is the outcome of a DittoFS that cannot be reached, worded
// by the cause alone (see dittofs.DescribeCause).
func unreachable(api string, err error) Outcome {
	return Outcome{State: Failed, Reason: ReasonAPIUnreachable, Message: fmt.Sprintf("DittoFS API at %s is unreachable (%s)", api, dittofs.DescribeCause(err))}
}

func (s *Sync) authFailure(e *dittofs.AuthError, api string) Outcome {
	ds := s.server
	code := dittofs.StatusCode(e.Err)
	sel := ds.Identity.AdminPassword
	fail := func(reason, format string, args ...any) Outcome {
		return Outcome{State: Failed, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	var conflict *dittofs.AccountConflictError
	switch {
	case errors.As(e.Err, &conflict):
		return fail(ReasonOperatorAccountConflict, "DittoFS already has a user %s with the role %s, which the hook did not create: it never logs in as, resets or deletes an account whose role is not operator. "+
			"If that account is a person's, rename their use of it and delete it in DittoFS (as admin: DELETE /api/v1/users/%s); the hook then creates its own. If it is the hook's own, set its role back to operator", OperatorUsername, conflict.Role, OperatorUsername)
	case errors.Is(e.Err, dittofs.ErrNoAdminCredentials):
		return fail(ReasonAdminCredentialsMissing, "DittoFS refused the %s password and no administrator password is available to repair the account; set spec.identity.admin.passwordSecretRef to a Secret holding the DittoFS admin password", OperatorUsername)
	case dittofs.IsRedirect(e.Err):
		return redirected(ds, api, code)
	}
	if out, ok := s.tlsFailure(e.Err, api); ok {
		return out
	}
	switch {
	case code == 0 && !isMalformed(e.Err):
		return unreachable(api, e.Err)
	case code != 0 && code != 401 && code != 403:
		// Not about credentials (5xx, or a 4xx DittoFS's auth routes never
		// answer): worded as the list's failure would be.
		return serverError(ds, api, code)
	case e.Stage == dittofs.StageAdminLogin && code == 401:
		return fail(ReasonAdminCredentialsRejected, "DittoFS refused the password of administrator %q from Secret %s key %s; DittoFS reads its initial password only on first start, so put the current DittoFS admin password under that key (kubectl -n %s edit secret %s)", ds.Identity.AdminUsername, sel.Name, sel.Key, ds.Namespace, sel.Name)
	case e.Stage == dittofs.StageProvision && code == 403:
		return fail(ReasonAdminCredentialsRejected, "user %q may not manage users in DittoFS (%s); spec.identity.admin must name an administrator", ds.Identity.AdminUsername, dittofs.Describe(e.Err))
	}
	return fail(ReasonOperatorLoginFailed, "could not log in to DittoFS at %s as %s: %s failed (%s)", api, OperatorUsername, e.Stage, dittofs.Describe(e.Err))
}

// tlsFailure turns a failed TLS handshake into an outcome that says what to
// fix, in words that depend only on the kind of failure.
func (s *Sync) tlsFailure(err error, api string) (Outcome, bool) {
	ds := s.server
	kind := dittofs.TLSFailureOf(err)
	fail := func(reason, format string, args ...any) (Outcome, bool) {
		return Outcome{State: Failed, Reason: reason, Message: fmt.Sprintf(format, args...)}, true
	}
	trust := "the system roots (TLS terminated in front of DittoFS: spec.controlPlane.tls without certSecretName)"
	switch {
	case ds.TLS.Serves() && s.plan.TLS != nil && len(s.plan.TLS.CA) > 0:
		trust = fmt.Sprintf("only the %s of Secret %s (spec.controlPlane.certSecretName)", keyCA, ds.TLS.CertSecret)
	case ds.TLS.Serves():
		trust = fmt.Sprintf("the system roots, Secret %s (spec.controlPlane.certSecretName) having no %s", ds.TLS.CertSecret, keyCA)
	}
	switch kind {
	case dittofs.NotTLSFailure:
		return Outcome{}, false
	case dittofs.ServerCertUntrusted, dittofs.ServerCertWrongName, dittofs.ServerCertExpired, dittofs.ServerCertInvalid:
		return fail(ReasonServerCertificateRejected, "the hook refused DittoFS at %s: %s; it trusts %s, and the certificate must name %s; no credential was sent", api, dittofs.Describe(err), trust, apiHost(ds.Name, ds.Namespace))
	case dittofs.ClientCertRequired:
		return fail(ReasonClientCertificateMissing, "DittoFS at %s requires a client certificate (spec.controlPlane.clientCASecretName) and the hook has none: start the hook with --dittofs-client-cert-file and --dittofs-client-key-file (manifests/components/dittofs-client-tls; the chart's dittofsClientTLS.secretName)", api)
	case dittofs.ClientCertRefused:
		return fail(ReasonClientCertificateRefused, "DittoFS at %s refused the hook's client certificate: the %s of Secret %s (spec.controlPlane.clientCASecretName) must hold the CA that issued it, and DittoFS reads it only when it starts", api, keyCA, ds.TLS.ClientCASecret)
	}
	return fail(ReasonTLSHandshakeFailed, "the TLS handshake with DittoFS at %s failed: %s", api, dittofs.Describe(err))
}

// ObserveCA is an Observation for a TLS DittoServer whose CA the hook
// cannot use (the ca.crt of its certSecretName holds no certificate).
func (s *Sync) ObserveCA(err error) Observation {
	fail := Outcome{State: Failed, Reason: ReasonServerCertificateRejected, Message: fmt.Sprintf("the %s of Secret %s (spec.controlPlane.certSecretName) holds no PEM certificate, so the hook trusts no server; put the CA that issued DittoFS's certificate there (%v)", keyCA, s.server.TLS.CertSecret, err)}
	return Observation{auth: fail, poll: fail}
}

// redirectMessage names the status only: the redirect's target and body are
// the answering server's words, never repeated.
func redirectMessage(api string, code int, service string) string {
	return fmt.Sprintf("DittoFS at %s answers with HTTP %d, a redirect; the hook never follows redirects: the API address must be answered by DittoFS itself (check the DittoServer's image and the Service %s)", api, code, service)
}

func isMalformed(err error) bool {
	var m *dittofs.MalformedError
	return errors.As(err, &m)
}

// ObserveUnreachable is an Observation for a DittoFS address the hook could
// not even build (a --dittofs-url-template that fails for this DittoServer).
func (s *Sync) ObserveUnreachable(msg string) Observation {
	fail := Outcome{State: Failed, Reason: ReasonAPIUnreachable, Message: msg}
	return Observation{auth: fail, poll: fail}
}
