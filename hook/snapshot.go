package hook

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// Snapshot policies (spec.snapshotPolicies): DittoFS keeps them, and every
// snapshot-policy route needs its administrator. The hook applies them only
// when the desired policies' digest differs from the one status records as
// applied, so a steady DittoServer costs no administrator login: one
// DittoFS call per poll, the adapter list; and a failed apply is tried
// again with backoff (snapshotStatus), never at every poll.

// ObserveSnapshots adds to a poll's Observation the outcome of applying
// the snapshot policies (the plan's Snapshots), as dittofs.ApplySnapshotPolicies
// returned it.
func (s *Sync) ObserveSnapshots(o Observation, res *dittofs.SnapshotPolicyResult, err error) Observation {
	o.snapshotResult = res
	var policies *dittofs.SnapshotPoliciesError
	var authErr *dittofs.AuthError
	switch {
	case err == nil:
		o.snapshots = Outcome{State: Succeeded, Reason: ReasonPoliciesApplied}
	case errors.As(err, &policies) && len(policies.MissingShares()) == len(policies.Failures):
		missing := policies.MissingShares()
		o.snapshots = Outcome{State: Failed, Reason: ReasonShareNotFound, Message: fmt.Sprintf("DittoFS has no share %s; its policy is applied once the share exists (the hook tries again with backoff, at status.snapshotPolicies.retryAfter, and at once when the spec's policies change); the other policies are applied", strings.Join(missing, ", "))}
	case errors.As(err, &authErr) && errors.Is(err, dittofs.ErrNoAdminCredentials):
		o.snapshots = Outcome{State: Failed, Reason: ReasonAdminCredentialsMissing, Message: "snapshot policies need DittoFS's administrator, and no administrator password is available"}
	case errors.As(err, &authErr) && (dittofs.StatusCode(err) == 401 || dittofs.StatusCode(err) == 403):
		// Only a 401 or 403 is about the password; any other failure of
		// the login is DittoFS's, worded as the apply's would be.
		o.snapshots = Outcome{State: Failed, Reason: ReasonAdminCredentialsRejected, Message: "DittoFS refused the administrator's login needed for snapshot policies (" + dittofs.Describe(err) + ")"}
	default:
		o.snapshots = Outcome{State: Failed, Reason: ReasonSnapshotPolicyFailed, Message: "DittoFS failed to apply the snapshot policies (" + dittofs.Describe(err) + "); the hook tries again with backoff, at status.snapshotPolicies.retryAfter"}
	}
	return o
}

// maxSnapshotRetry caps the wait between failed applies of the snapshot
// policies: each logs in as DittoFS's administrator.
const maxSnapshotRetry = 30 * time.Minute

// snapshotStatus is status.snapshotPolicies after this sync: what a
// complete apply recorded; after a failed one, the shares it answers for
// (without a digest) and when to try again; or what the status said.
//
// The wait after a failure is how long these policies have been failing,
// at least the polling interval and at most maxSnapshotRetry: so it
// doubles from try to try (at 0, 1, 2, 4, 8… intervals) without a counter,
// and the status changes only when the hook tries.
func (s *Sync) snapshotStatus(o Observation, now time.Time) *SnapshotPoliciesStatus {
	prev := s.applied()
	next := prev
	hash := s.server.Snapshot.Hash
	switch {
	case o.snapshots.State == Succeeded && o.snapshotResult != nil:
		next = SnapshotPoliciesStatus{AppliedHash: hash, Shares: o.snapshotResult.Managed}
	case o.snapshots.State == Failed:
		if o.snapshotResult != nil {
			next.Shares = o.snapshotResult.Managed
		}
		since := metav1.NewTime(now)
		if prev.FailedHash == hash && prev.FailedSince != nil {
			since = *prev.FailedSince
		}
		wait := min(max(now.Sub(since.Time), s.server.PollingInterval), maxSnapshotRetry)
		retry := metav1.NewTime(now.Add(wait))
		next.FailedHash, next.FailedSince, next.RetryAfter = hash, &since, &retry
	}
	if next.AppliedHash == "" && len(next.Shares) == 0 && next.FailedHash == "" {
		return nil
	}
	return &next
}

// snapshotCondition is SnapshotPoliciesApplied, present while the spec has
// policies or the hook still answers for some (until it has deleted them).
// It is not part of Ready: a share is made through DittoFS's API once the
// server is ready, so a policy naming a share made later is normal.
func (s *Sync) snapshotCondition(o Observation) (cond, bool) {
	ds := s.server
	prev := s.applied()
	if len(ds.Snapshot.Desired) == 0 && len(prev.Shares) == 0 && o.snapshots.State == NotTried {
		return cond{}, false
	}
	switch {
	case ds.Snapshot.Err != nil:
		return falseCond(CondSnapshotPolicies, ReasonInvalidSnapshotPolicy, ds.Snapshot.Err.Error()+"; no policy is applied until it is fixed"), true
	case o.snapshots.State == Succeeded, o.snapshots.State == NotTried && ds.Snapshot.Hash == prev.AppliedHash:
		if len(ds.Snapshot.Desired) == 0 {
			return cond{}, false
		}
		return trueCond(CondSnapshotPolicies, ReasonPoliciesApplied, fmt.Sprintf("DittoFS holds the %d snapshot policies of the spec", len(ds.Snapshot.Desired))), true
	case o.snapshots.State == Failed:
		return falseCond(CondSnapshotPolicies, o.snapshots.Reason, o.snapshots.Message), true
	case s.plan.Contact && s.plan.Admin == nil:
		return falseCond(CondSnapshotPolicies, ReasonAdminCredentialsMissing, "snapshot policies need DittoFS's administrator, and no administrator password is available; set spec.identity.admin.passwordSecretRef"), true
	}
	// Not applied yet: DittoFS was not asked in this sync. A condition that
	// says more is kept as it is, so that a failing poll does not churn it.
	if c := findCondition(s.req.Parent.Status.Conditions, CondSnapshotPolicies); c != nil && c.Status != "True" {
		return cond{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, Generation: c.ObservedGeneration}, true
	}
	return falseCond(CondSnapshotPolicies, ReasonPoliciesPending, "the snapshot policies are applied at the next successful poll of DittoFS"), true
}
