package hook

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// Condition types, in the order they appear in status.
const (
	CondConfigReady        = "ConfigReady"
	CondDatabaseReady      = "DatabaseReady"
	CondAvailable          = "Available"
	CondProgressing        = "Progressing"
	CondAuthenticated      = "Authenticated"
	CondAdaptersDiscovered = "AdaptersDiscovered"
	CondAdaptersReady      = "AdaptersReady"
	CondSnapshotPolicies   = "SnapshotPoliciesApplied"
	CondReady              = "Ready"
)

var conditionOrder = []string{CondConfigReady, CondDatabaseReady, CondAvailable, CondProgressing, CondAuthenticated, CondAdaptersDiscovered, CondAdaptersReady, CondSnapshotPolicies, CondReady}

// Phases (status.phase), the upstream operator's summary.
const (
	PhasePending  = "Pending"
	PhaseRunning  = "Running"
	PhaseStopped  = "Stopped"
	PhaseDeleting = "Deleting"
)

// Condition reasons. Each says what happened; the message says what to do.
const (
	ReasonConfigValid                = "ConfigValid"
	ReasonServiceMonitorNotInstalled = "ServiceMonitorNotInstalled"
	// ReasonStorageClassNotFound: a StorageClass the spec names does not
	// exist; a StatefulSet (or PerconaPGCluster) not made yet waits for it.
	ReasonStorageClassNotFound = "StorageClassNotFound"

	ReasonPostgresSecretReady      = "PostgresSecretReady"
	ReasonPostgresSecretMissing    = "PostgresSecretMissing"
	ReasonPostgresSecretIncomplete = "PostgresSecretIncomplete"
	// ReasonPostgresConnectionStringInvalid: the Secret's connection
	// string cannot be read, or gives DittoFS no usable settings.
	ReasonPostgresConnectionStringInvalid = "PostgresConnectionStringInvalid"
	ReasonPerconaReady                    = "PerconaReady"
	ReasonPerconaNotReady                 = "PerconaNotReady"
	ReasonPerconaNotFound                 = "PerconaNotFound"
	ReasonPerconaNotInstalled             = "PerconaNotInstalled"

	ReasonCreating            = "Creating"
	ReasonStatefulSetUpdating = "StatefulSetUpdating"
	ReasonRollingOut          = "RollingOut"
	ReasonScalingReplicas     = "ScalingReplicas"
	ReasonRolloutComplete     = "RolloutComplete"

	// TLS to DittoFS (controlPlane.tls, certSecretName, clientCASecretName).
	ReasonTLSSecretMissing          = "TLSSecretMissing"
	ReasonServerCertificateRejected = "ServerCertificateRejected"
	ReasonClientCertificateMissing  = "ClientCertificateMissing"
	ReasonClientCertificateRefused  = "ClientCertificateRefused"
	ReasonTLSHandshakeFailed        = "TLSHandshakeFailed"

	ReasonPoliciesApplied       = "PoliciesApplied"
	ReasonPoliciesPending       = "PoliciesPending"
	ReasonShareNotFound         = "ShareNotFound"
	ReasonSnapshotPolicyFailed  = "SnapshotPolicyFailed"
	ReasonInvalidSnapshotPolicy = "InvalidSnapshotPolicy"

	ReasonReplicaReady      = "ReplicaReady"
	ReasonWaitingForReplica = "WaitingForReplica"
	ReasonStopped           = "Stopped"

	ReasonAuthenticationSucceeded  = "AuthenticationSucceeded"
	ReasonWaitingForServer         = "WaitingForServer"
	ReasonWaitingForCredentials    = "WaitingForCredentials"
	ReasonAPIUnreachable           = "APIUnreachable"
	ReasonOperatorLoginFailed      = "OperatorLoginFailed"
	ReasonAdminCredentialsRejected = "AdminCredentialsRejected"
	ReasonAdminCredentialsMissing  = "AdminCredentialsMissing"
	ReasonAdminSecretMissing       = "AdminSecretMissing"
	// ReasonOperatorAccountConflict: DittoFS has a k8s-operator account
	// whose role is not operator, which the hook never uses, resets or
	// deletes.
	ReasonOperatorAccountConflict = "OperatorAccountConflict"

	ReasonPollSucceeded   = "PollSucceeded"
	ReasonUnauthorized    = "Unauthorized"
	ReasonInvalidResponse = "InvalidResponse"
	ReasonAPIError        = "APIError"
	// ReasonUnexpectedRedirect: DittoFS answered with a 3xx, which the hook
	// never follows (it would carry the operator's token or password to an
	// address of the answering server's choosing).
	ReasonUnexpectedRedirect = "UnexpectedRedirect"

	ReasonAllAdaptersReady    = "AllAdaptersReady"
	ReasonNoAdaptersEnabled   = "NoAdaptersEnabled"
	ReasonWaitingForDiscovery = "WaitingForDiscovery"
	ReasonAdapterNotRunning   = "AdapterNotRunning"
	ReasonServicePending      = "ServicePending"
	ReasonLoadBalancerPending = "LoadBalancerPending"
	// ReasonAdapterPortReserved: DittoFS reports an adapter on a port
	// another child exposes on the pod (the API's, the metrics', the
	// portmapper's); the hook gives it no Service and no NetworkPolicy.
	ReasonAdapterPortReserved = "AdapterPortReserved"
	// ReasonAdapterNotExposed: an item of DittoFS's adapter list the hook
	// cannot read (malformed, or an unknown type on port 0) gets no
	// Service (or keeps the last known); the others are applied.
	ReasonAdapterNotExposed = "AdapterNotExposed"
	// ReasonAdapterDegraded: DittoFS's health check reports an enabled,
	// running adapter degraded; its Service and address stay.
	ReasonAdapterDegraded      = "AdapterDegraded"
	ReasonReady                = "Ready"
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonFinalizing           = "Finalizing"
	ReasonOperatorAccountGone  = "OperatorAccountDeleted"
	ReasonOperatorAccountStuck = "OperatorAccountNotDeleted"
)

// cond is a condition before its transition time is decided.
type cond struct {
	Type    string
	Status  metav1.ConditionStatus
	Reason  string
	Message string
	// Generation it was observed at; 0 means this sync's.
	Generation int64
}

func isTrue(c cond) bool { return c.Status == metav1.ConditionTrue }

func trueCond(typ, reason, msg string) cond {
	return cond{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
}

func falseCond(typ, reason, msg string) cond {
	return cond{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

// mergeConditions turns the new conditions into status conditions, in a
// fixed order. A condition keeps its lastTransitionTime unless its status
// flips, so an unchanged situation yields an unchanged status.
func mergeConditions(prev []metav1.Condition, next []cond, generation int64, now time.Time) []metav1.Condition {
	byType := make(map[string]cond, len(next))
	for _, c := range next {
		byType[c.Type] = c
	}
	out := make([]metav1.Condition, 0, len(next))
	for _, typ := range conditionOrder {
		c, ok := byType[typ]
		if !ok {
			continue
		}
		nc := metav1.Condition{
			Type: c.Type, Status: c.Status, Reason: c.Reason, Message: conditionMessage(c.Message),
			ObservedGeneration: generation,
			LastTransitionTime: metav1.NewTime(now),
		}
		if c.Generation != 0 {
			nc.ObservedGeneration = c.Generation
		}
		if old := meta.FindStatusCondition(prev, typ); old != nil && old.Status == c.Status && !old.LastTransitionTime.IsZero() {
			nc.LastTransitionTime = old.LastTransitionTime
		}
		out = append(out, nc)
	}
	return out
}

// foldReady makes Ready from the others: true when all are, else the first
// that is not, in the order a user would fix them. Progressing counts when
// it is true (a rollout under way: the pod does not run the current spec
// yet); SnapshotPoliciesApplied does not count (a share is made once the
// server is ready).
func foldReady(cs []cond, summary string) cond {
	for _, c := range cs {
		switch {
		case c.Type == CondSnapshotPolicies:
		case c.Type == CondProgressing:
			if isTrue(c) {
				return falseCond(CondReady, c.Reason, c.Message)
			}
		case !isTrue(c):
			return falseCond(CondReady, c.Reason, c.Message)
		}
	}
	return trueCond(CondReady, ReasonReady, summary)
}

// findCondition is the condition of a type, or nil.
func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(cs, typ)
}

// maxMessageLength bounds a condition message. Messages may quote what
// DittoFS said, and DittoFS is whatever image the DittoServer's owner runs:
// an unbounded message could exceed the CRD's limit (32,768) and get the
// whole status write refused.
const maxMessageLength = 1024

// conditionMessage makes a message one line (every run of white space or
// control characters becomes one space) of at most maxMessageLength
// characters. Every condition passes through here, carried ones included.
func conditionMessage(s string) string { return dittofs.OneLine(s, maxMessageLength) }
