package hook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the code produces")

// testCeiling is the administrator's ceiling of every case: the default
// (restricted), with the priority class fullSpec names allowed.
var testCeiling = hook.Ceiling{PriorityClasses: []string{"dittofs-storage"}}

// now is the clock of every case: shortly after the captured traffic.
var now = time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC)

// api is the address the hook would have called, as conditions name it.
const api = "http://demo-api.default.svc.cluster.local.:8080"

// dittofsSaid is what DittoFS answered during a case's sync, turned into an
// Observation through the same functions the hook's HTTP service calls.
type dittofsSaid func(s *hook.Sync) hook.Observation

// nothing: DittoFS was not called.
func nothing(*hook.Sync) hook.Observation { return hook.Observation{} }

// listed: a successful adapter list with this body (decoded as the client
// decodes it: a body of the wrong shape is a malformed answer).
func listed(body []byte) dittofsSaid {
	return func(s *hook.Sync) hook.Observation {
		adapters, err := dittofs.DecodeAdapters(body)
		if err != nil {
			return s.ObservePoll(nil, &dittofs.MalformedError{Op: "list adapters", Err: err}, s.Plan().Address())
		}
		return s.ObservePoll(adapters, nil, s.Plan().Address())
	}
}

// listedJSON: listed, with the body as a Go value.
func listedJSON(v any) dittofsSaid {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return listed(b)
}

// failed: obtaining a token or listing the adapters failed with err.
func failed(err error) dittofsSaid {
	return func(s *hook.Sync) hook.Observation { return s.ObservePoll(nil, err, s.Plan().Address()) }
}

// polledThenApplied: a successful adapter list, then the snapshot
// policies applied as ApplySnapshotPolicies said (res, err).
func polledThenApplied(body []byte, res *dittofs.SnapshotPolicyResult, err error) dittofsSaid {
	return func(s *hook.Sync) hook.Observation {
		o := listed(body)(s)
		if s.Plan().Snapshots == nil {
			panic("the case's plan applies no snapshot policies")
		}
		return s.ObserveSnapshots(o, res, err)
	}
}

// deleted: finalize removed the operator account (err nil) or could not.
func deleted(err error) dittofsSaid {
	return func(s *hook.Sync) hook.Observation { return s.ObserveFinalize(err, s.Plan().Address()) }
}

// Failures, as the DittoFS client reports them.
var (
	refused         = &dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: &dittofs.TransportError{Op: "login", Err: syscall.ECONNREFUSED}}
	timedOut        = &dittofs.TransportError{Op: "list adapters", Err: context.DeadlineExceeded}
	reset           = &dittofs.TransportError{Op: "list adapters", Err: syscall.ECONNRESET}
	http500         = &dittofs.APIError{Op: "list adapters", Status: 500, Message: "Internal Server Error"}
	http302         = &dittofs.APIError{Op: "list adapters", Status: 302}
	http401         = &dittofs.APIError{Op: "list adapters", Status: 401, Message: "Invalid or expired token"}
	http403         = &dittofs.APIError{Op: "list adapters", Status: 403, Message: "Admin access required"}
	malformed       = &dittofs.MalformedError{Op: "list adapters", Err: os.ErrInvalid}
	adminRejected   = &dittofs.AuthError{Stage: dittofs.StageAdminLogin, Err: &dittofs.APIError{Op: "login", Status: 401, Message: "Invalid username or password"}}
	noAdmin         = &dittofs.AuthError{Stage: dittofs.StageAdminLogin, Err: dittofs.ErrNoAdminCredentials}
	accountConflict = &dittofs.AuthError{Stage: dittofs.StageProvision, Err: &dittofs.AccountConflictError{Username: "k8s-operator", Role: "user"}}
	adminForbidden  = &dittofs.AuthError{Stage: dittofs.StageProvision, Err: &dittofs.APIError{Op: "create user", Status: 403, Message: "Admin access required"}}
	// TLS failures, as crypto/tls reports them in a login.
	tlsUntrusted     = tlsLogin(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})
	tlsNoClientCert  = tlsLogin(dittofs.ErrClientCertificateRequired)
	tlsClientRefused = tlsLogin(&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")})
	tlsPlainHTTP     = tlsLogin(errors.New("http: server gave HTTP response to HTTPS client"))
)

func tlsLogin(err error) error {
	return &dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: &dittofs.TransportError{Op: "login", Err: err}}
}

// Specs and Secrets of the cases of issue 15's fields.
var (
	tlsSpec    = map[string]any{"port": 8080, "tls": true, "certSecretName": "demo-tls"}
	mtlsSpec   = map[string]any{"port": 8080, "certSecretName": "demo-tls", "clientCASecretName": "demo-client-ca"}
	certSecret = WithRelatedSecret("demo-tls", map[string]string{"tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"}, "400")
	clientCA   = WithRelatedSecret("demo-client-ca", map[string]string{"ca.crt": "CLIENT CA"}, "401")
	policies   = []any{
		map[string]any{"share": "/archive", "interval": "@daily", "keepLast": 7},
		map[string]any{"share": "projects", "interval": "6h", "ttl": "720h", "namePrefix": "auto"},
	}
	policiesHash = func() string {
		h, err := dittofs.SnapshotPoliciesHash([]dittofs.SnapshotPolicy{
			{Share: "/archive", Interval: "@daily", KeepLast: ptr.To[int32](7)},
			{Share: "projects", Interval: "6h", TTL: "720h", NamePrefix: "auto"},
		})
		if err != nil {
			panic(err)
		}
		return h
	}()
	directory = map[string]any{
		"ldap": map[string]any{"enabled": true, "url": "ldaps://dc.example.com:636", "baseDN": "DC=example,DC=com", "bindDN": "CN=svc,DC=example,DC=com",
			"bindPasswordSecretRef": map[string]any{"name": "demo-ldap", "key": "password"}, "idmap": "rid", "nestedGroups": true, "insecureSkipVerify": true},
		"kerberos": map[string]any{"enabled": true, "servicePrincipal": "nfs/demo.example.com@EXAMPLE.COM", "netbiosDomain": "EXAMPLE",
			"keytabSecretRef":   map[string]any{"name": "demo-keytab", "key": "keytab"},
			"krb5ConfSecretRef": map[string]any{"name": "demo-krb5", "key": "krb5.conf"},
			"machineAccount": map[string]any{"enabled": true, "accountName": "DITTOFS$", "dcAddress": []any{"dc1.example.com"},
				"secretRef": map[string]any{"name": "demo-machine", "key": "password"}, "keytabSecretRef": map[string]any{"name": "demo-machine", "key": "keytab"}}},
	}
)

// adapter is one element of DittoFS's adapter list.
type adapter struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Enabled   bool   `json:"enabled"`
	Running   bool   `json:"running"`
	Port      int    `json:"port"`
	CreatedAt string `json:"created_at,omitempty"`
	// Status is DittoFS's health check: {"status": healthy|degraded|unknown}.
	Status map[string]any `json:"status,omitempty"`
}

// healthy, degraded: DittoFS's health check of an adapter.
var (
	healthy  = map[string]any{"status": "healthy", "checked_at": "2026-11-25T20:09:50Z"}
	degraded = map[string]any{"status": "degraded", "message": "listener not accepting", "checked_at": "2026-11-25T20:09:50Z"}
)

// fullSpec sets every field of the DittoServer.
var fullSpec = map[string]any{
	"image":           "registry.example.com/dittofs:0.29.0",
	"imagePullPolicy": "Always",
	"replicas":        1,
	"storage":         map[string]any{"metadataSize": "5Gi", "contentSize": "100Gi", "controlPlaneSize": "2Gi", "storageClassName": "fast-ssd"},
	"database":        map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "demo-postgres"}},
	"controlPlane":    map[string]any{"port": 9090},
	"identity": map[string]any{
		"jwt":   map[string]any{"secretRef": map[string]any{"name": "demo-jwt", "key": "signing-key"}, "accessTokenDuration": "10m", "refreshTokenDuration": "24h"},
		"admin": map[string]any{"username": "admin", "passwordSecretRef": map[string]any{"name": "demo-admin-password", "key": "password"}},
	},
	"adapterDiscovery": map[string]any{"pollingInterval": "1m"},
	"adapterServices": map[string]any{
		"type":        "LoadBalancer",
		"annotations": map[string]any{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
		"overrides": map[string]any{
			"nfs": map[string]any{"udp": true, "portmapper": true, "externalTrafficPolicy": "Local", "loadBalancerSourceRanges": []any{"10.0.0.0/8"},
				"annotations": map[string]any{"metallb.universe.tf/allow-shared-ip": "demo-nfs"}},
			"smb": map[string]any{"type": "NodePort", "nodePort": 30445},
		},
	},
	"service": map[string]any{"type": "ClusterIP", "annotations": map[string]any{"example.com/team": "storage"}},
	"networkPolicy": map[string]any{
		"enabled":     true,
		"apiFrom":     []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "dittofs-system"}}}},
		"adapterFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}},
	},
	"logging":                       map[string]any{"level": "DEBUG", "format": "text"},
	"resources":                     map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}, "limits": map[string]any{"memory": "4Gi"}},
	"nodeSelector":                  map[string]any{"kubernetes.io/arch": "amd64"},
	"tolerations":                   []any{map[string]any{"key": "storage", "operator": "Exists", "effect": "NoSchedule"}},
	"priorityClassName":             "dittofs-storage",
	"terminationGracePeriodSeconds": 180,
}

// syncCase is one sync through the pure core: a request, what DittoFS
// said, and (in testdata/sync/<name>.json) the whole answer.
type syncCase struct {
	name string
	// claim is what the case shows, in one line.
	claim   string
	request *Request
	dittofs dittofsSaid
}

// The Postgres of issue 25's cases: Secret "pg" holding a connection string.
var (
	pgSpec     = WithSpecField("database", map[string]any{"postgresSecretRef": map[string]any{"name": "pg", "key": "connection-string"}})
	pgURL      = "postgres://dittofs:p%40ss%2Fw%3Ard%25@db.example.com:6432/controlplane?sslmode=verify-full"
	pgSettings = map[string]string{"host": "db.example.com", "port": "6432", "database": "controlplane", "user": "dittofs", "password": "p@ss/w:rd%", "sslmode": "verify-full"}
	// onPostgres: the running DittoFS was given a Postgres control plane.
	onPostgres = WithConfigYAML("admin:\n  username: admin\ncontrolplane:\n  host: 0.0.0.0\n  jwt:\n    access_token_duration: 15m\n    refresh_token_duration: 168h\n  port: 8080\n  require_initial_password_change: false\ndatabase:\n  type: postgres\nlogging:\n  format: json\n  level: INFO\n  output: stdout\nshutdown_timeout: 30s\n")
)

// pgDSN is the user's Secret "pg" holding only a connection string, at a
// resourceVersion.
func pgDSN(dsn, resourceVersion string) Modifier {
	return WithRelatedSecret("pg", map[string]string{"connection-string": dsn}, resourceVersion)
}

// derivedPG is the name of the Secret the hook derives from Secret "pg" at
// a resourceVersion, as the hook answers it.
func derivedPG(resourceVersion string) string {
	req, err := hook.DecodeSyncRequest(Captured(FirstSync, pgSpec, pgDSN(pgURL, resourceVersion)).JSON())
	if err != nil {
		panic(err)
	}
	s, err := hook.Prepare(req, testCeiling)
	if err != nil {
		panic(err)
	}
	for _, c := range s.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k")).Children {
		if sec, ok := c.(*corev1.Secret); ok && strings.HasPrefix(sec.Name, "demo-postgres-conn-") {
			return sec.Name
		}
	}
	panic("no derived Secret")
}

func syncCases() []syncCase {
	finalizing := Finalizing("2026-11-25T20:09:50Z")
	noPolicies := WithSpecField("networkPolicy", map[string]any{"enabled": false})
	var forty []adapter
	for i := range 40 {
		forty = append(forty, adapter{ID: fmt.Sprint(i), Type: fmt.Sprintf("t%02d", i), Enabled: true, Running: true, Port: 20000 + i})
	}
	stillRefused := Condition{Status: "False", Reason: "APIUnreachable", Since: "2026-11-25T20:00:00Z",
		Message: "DittoFS API at http://demo-api.default.svc.cluster.local.:8080 is unreachable (connection refused); adapter Services are kept as last discovered"}
	fresh := listed(DittoFSBody("adapters-fresh.body"))
	return []syncCase{
		// Infrastructure, from the captured requests.
		{"captured-first", "a new DittoServer gets its StatefulSet, Services, ConfigMap, Secrets and baseline policy; nothing is polled", Captured(FirstSync), nothing},
		{"captured-children-created", "the next sync keeps the generated Secrets' values and, no list read yet, the observed adapter children", Captured(ChildrenCreated), nothing},
		{"captured-ready-lb", "a ready pod without the operator's Secret waits for it before calling DittoFS", Captured(ReadyLB), nothing},
		{"captured-finalize", "finalize stops waiting for DittoFS 60 s after deletion began, every child kept meanwhile", Captured(FinalizeCall), nothing},
		{"first-minimal", "a spec of only storage.metadataSize takes every default", Captured(FirstSync, WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}}), WithoutRelatedSecrets()), nothing},
		{"first-full", "every spec field reaches the children it shapes", Captured(FirstSync, WithSpec(fullSpec)), nothing},
		{"secrets-exist", "observed Secrets are returned with their values unchanged", Captured(ReadyLB, WithChild(OperatorSecret())), nothing},
		{"secrets-exist-generated-admin", "the generated admin Secret is kept as observed and its password used", Captured(ReadyLB, WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi", "contentSize": "10Gi"}}), WithChild(OperatorSecret()), WithChild(AdminSecret()), WithoutRelatedSecrets()), nothing},
		{"replicas-zero", "replicas 0 stops DittoFS, keeps its adapter Services and says Stopped", Captured(ReadyLB, WithSpecField("replicas", 0), WithStatefulSetStatus(map[string]any{"observedGeneration": 1, "replicas": 0})), nothing},
		{"admin-secret-related-present", "the user's admin Secret, sent as a related object, is found: no AdminSecretMissing", Captured(FirstSync), nothing},
		{"admin-secret-related-missing", "a missing passwordSecretRef Secret is AdminSecretMissing, naming it", Captured(FirstSync, WithoutRelatedSecrets()), nothing},
		{"admin-secret-related-missing-key", "a passwordSecretRef Secret without its key is AdminSecretMissing, naming the key", Captured(FirstSync, WithRelatedEdit("Secret", "demo-admin-password", func(s map[string]any) {
			s["data"] = map[string]any{"passwd": s["data"].(map[string]any)["password"]}
		})), nothing},
		{"invalid-spec-quantity", "a quantity the schema let through is InvalidSpec, every child kept", Captured(ReadyLB, WithSpecField("storage.metadataSize", "lots")), nothing},
		{"invalid-spec-admin-username", "an admin other than admin is InvalidSpec, every child kept", Steady(WithSpecField("identity.admin.username", "root")), nothing},
		{"invalid-spec-database-change", "moving a running server to another database without the opt-in is InvalidSpec", Steady(
			WithConfigYAML("admin:\n  username: admin\ncontrolplane:\n  host: 0.0.0.0\n  port: 8080\ndatabase:\n  sqlite:\n    path: /data/controlplane/controlplane.db\n  type: sqlite\n"),
			WithSpecField("database", map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "demo-postgres"}})), nothing},

		// Discovery against a ready server.
		{"poll-fresh-server", "the first poll of a fresh server adds an adapter Service and policy per adapter", Captured(ReadyLB, WithChild(OperatorSecret())), fresh},
		{"steady", "an unchanged server gets the answer it got last time: nothing for Metacontroller to write", Steady(), fresh},
		{"smb-disabled-nfs-moved", "a disabled adapter loses its Service first; a moved one keeps its Service, node port and address", Steady(), listed(DittoFSBody("adapters-smb-disabled-nfs-moved.body"))},
		{"smb-policy-removed-after-service", "a disabled adapter's policy goes one sync after its Service", Steady(
			WithoutChild("Service", "demo-adapter-smb"),
			WithStatusAdapters(
				StatusAdapter{Type: "nfs", Port: 12050, Enabled: true, Running: true, Service: "demo-adapter-nfs", Endpoints: []string{"203.0.113.10:12050", "*:31236", "10.0.0.33:12050"}},
				StatusAdapter{Type: "smb", Port: 1445}),
			WithChild(AdapterService("demo-adapter-nfs", "nfs", 12050, 31236, "10.0.0.33", "203.0.113.10"))),
			listed(DittoFSBody("adapters-smb-disabled-nfs-moved.body"))},
		{"smb-recreated-port0", "port 0 means the type's default port (smb 12445)", Steady(), listed(DittoFSBody("adapters-smb-port0.body"))},
		{"empty-adapter-list", "a successful empty list removes every adapter Service, the policies one sync later", Steady(), listedJSON([]adapter{})},
		{"failure-refused", "connection refused keeps every adapter child; APIUnreachable", Steady(), failed(refused)},
		{"failure-timeout", "a timeout keeps every adapter child; APIUnreachable", Steady(), failed(timedOut)},
		{"failure-reset", "a reset keeps every adapter child; APIUnreachable", Steady(), failed(reset)},
		{"failure-http-302", "a redirect is never followed and keeps every adapter child; UnexpectedRedirect", Steady(), failed(http302)},
		{"failure-http-500", "a 500 keeps every adapter child; APIError", Steady(), failed(http500)},
		{"failure-http-401", "a 401 on the list keeps every adapter child; Unauthorized", Steady(), failed(http401)},
		{"failure-http-403", "a 403 on the list keeps every adapter child; Unauthorized", Steady(), failed(http403)},
		{"failure-malformed", "a malformed answer keeps every adapter child; InvalidResponse", Steady(), failed(malformed)},
		{"failure-admin-rejected", "a refused admin password is AdminCredentialsRejected, saying which Secret to fix", Steady(), failed(adminRejected)},
		{"failure-no-admin", "an operator login refused without an admin password is AdminCredentialsMissing", Steady(), failed(noAdmin)},
		{"failure-operator-forbidden", "an admin that may not manage users is AdminCredentialsRejected", Steady(), failed(adminForbidden)},
		{"failure-operator-conflict", "a k8s-operator the hook did not make is OperatorAccountConflict, left alone", Steady(), failed(accountConflict)},
		{"failure-garbage-body", "a list body that is not an adapter list is InvalidResponse, every adapter child kept", Steady(), listed(DittoFSBody("health.body"))},
		{"failure-refused-for-10-minutes", "a failure that goes on keeps its status and backs off the resync", Steady(
			WithCondition(Condition{Status: "True", Reason: "ReplicaReady", Since: "2026-11-25T19:00:00Z", Message: "1 of 1 replicas ready"}, "Available"),
			WithCondition(stillRefused, "AdaptersDiscovered", "Authenticated", "Ready")), failed(refused)},
		{"failure-refused-for-45s", "a failure younger than two polling intervals is retried at the interval", Steady(
			WithCondition(Condition{Status: "False", Reason: "APIUnreachable", Since: "2026-11-25T20:09:15Z", Message: stillRefused.Message}, "AdaptersDiscovered", "Authenticated", "Ready")), failed(refused)},
		{"failure-refused-replica-back", "a replica ready again after a long wait is polled again at the interval even when its first poll fails", Steady(
			WithCondition(Condition{Status: "False", Reason: "WaitingForReplica", Since: "2026-11-25T20:00:00Z", Message: "waiting for a ready replica of StatefulSet demo"}, "Available"),
			WithCondition(stillRefused, "AdaptersDiscovered", "Authenticated", "Ready")), failed(refused)},
		{"failure-status-lost", "a failed poll with no last known adapters keeps the observed adapter children", Steady(WithStatusAdapters()), failed(refused)},
		{"pod-not-ready", "no ready replica: DittoFS is not called, adapters kept, WaitingForServer", Steady(WithStatefulSetStatus(map[string]any{"observedGeneration": 1, "replicas": 1, "readyReplicas": 0})), nothing},
		{"unknown-and-duplicate-types", "an unknown type gets a hashed name; a duplicated type resolves to the enabled one", Steady(), listedJSON([]adapter{
			{ID: "b", Type: "nfs", Port: 2049, CreatedAt: "2026-11-25T20:05:44Z"},
			{ID: "a", Type: "nfs", Enabled: true, Running: true, Port: 12049, CreatedAt: "2026-11-25T20:05:45Z"},
			{ID: "c", Type: "NFSv4.1", Enabled: true, Port: 20490, CreatedAt: "2026-11-25T20:05:46Z"},
			{ID: "d", Type: "smb", Enabled: true, Running: true, Port: 0, CreatedAt: "2026-11-25T20:05:47Z"},
		})},
		{"adapter-on-api-port", "an adapter reported on the API's port gets no Service and no policy (its Service goes, its policy as last applied next), AdapterPortReserved; nfs goes on", Steady(), listedJSON([]adapter{
			{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049, CreatedAt: "2026-11-25T20:05:44Z"},
			{ID: "2", Type: "smb", Enabled: true, Running: true, Port: 8080, CreatedAt: "2026-11-25T20:05:45Z"},
		})},
		{"adapter-on-api-port-api-down", "the status shows an adapter on the API's port: a failed poll keeps its observed children (an older hook's), AdapterPortReserved", Steady(WithStatusAdapters(
			StatusAdapter{Type: "nfs", Port: 12049, Enabled: true, Running: true, Service: "demo-adapter-nfs", Endpoints: []string{"203.0.113.10:12049", "*:31236", "10.0.0.33:12049"}},
			StatusAdapter{Type: "smb", Port: 8080, Enabled: true, Running: true}),
			WithChild(AdapterService("demo-adapter-smb", "smb", 8080, 30445, "10.0.0.34", ""))), failed(refused)},
		{"too-many-adapters", "more than 32 adapter types is InvalidResponse, every adapter child kept", Steady(), listedJSON(forty)},
		// Issue 23: one adapter's problem stays that adapter's; health.
		{"adapter-unknown-type-port0", "a type with no default port on port 0 gets no Service, AdapterNotExposed names it; nfs and smb applied as usual", Steady(), listed([]byte(`[` +
			`{"id":"n","type":"nfs","enabled":true,"running":true,"port":12049,"status":{"status":"healthy"}},` +
			`{"id":"w","type":"webdav","enabled":true,"running":true,"port":0},` +
			`{"id":"s","type":"smb","enabled":true,"running":true,"port":1445,"status":{"status":"healthy"}}]`))},
		{"adapter-malformed-items", "a malformed item keeps its type's children as last known, one without a type is named by id; nfs's move is applied", Steady(), listed([]byte(`[` +
			`{"id":"x1","enabled":true,"running":true,"port":4000},` +
			`{"id":"s","type":"smb","enabled":true,"running":true},` +
			`{"id":"n","type":"nfs","enabled":true,"running":true,"port":12050,"status":{"status":"healthy"}}]`))},
		{"adapter-degraded", "an adapter DittoFS calls degraded keeps its Service and address; AdaptersReady False AdapterDegraded", Steady(), listedJSON([]adapter{
			{ID: "n", Type: "nfs", Enabled: true, Running: true, Port: 12049, Status: healthy},
			{ID: "s", Type: "smb", Enabled: true, Running: true, Port: 1445, Status: degraded},
		})},
		{"adapter-degraded-steady", "a degradation the status shows already: the same status back, no Event", Steady(
			WithStatusAdapters(
				StatusAdapter{Type: "nfs", Port: 12049, Enabled: true, Running: true, Health: "healthy", Service: "demo-adapter-nfs", Endpoints: []string{"203.0.113.10:12049", "*:31236", "10.0.0.33:12049"}},
				StatusAdapter{Type: "smb", Port: 1445, Enabled: true, Running: true, Health: "degraded", Service: "demo-adapter-smb", Endpoints: []string{"*:30445", "10.0.0.34:1445"}}),
			WithCondition(Condition{Status: "False", Reason: "AdapterDegraded", Since: "2026-11-25T20:08:00Z",
				Message: "DittoFS's health check reports smb degraded; its Service and address are kept; see the DittoFS logs (kubectl logs demo-0)"}, "AdaptersReady", "Ready")),
			listedJSON([]adapter{
				{ID: "n", Type: "nfs", Enabled: true, Running: true, Port: 12049, Status: healthy},
				{ID: "s", Type: "smb", Enabled: true, Running: true, Port: 1445, Status: degraded},
			})},
		{"nfs-udp-portmapper", "nfs udp and portmapper overrides add a UDP Service and the ports to the policy", Steady(WithSpecField("adapterServices", map[string]any{"type": "NodePort", "overrides": map[string]any{"nfs": map[string]any{"udp": true, "portmapper": true}}})), fresh},
		{"networkpolicy-disabled", "networkPolicy.enabled false removes every policy", Steady(noPolicies), fresh},
		{"networkpolicy-disabled-api-down", "networkPolicy.enabled false removes every policy even when the poll fails", Steady(noPolicies), failed(refused)},
		{"finalize-account-deleted", "finalize is done once the operator account is deleted", Steady(finalizing), deleted(nil)},
		{"finalize-api-down-within-grace", "finalize waits while DittoFS is unreachable within the grace period", Steady(finalizing), deleted(refused)},
		{"finalize-operator-conflict", "finalize leaves a k8s-operator the hook did not make, and is done", Steady(finalizing), deleted(accountConflict)},

		// Issue 15: the upstream operator's fields.
		{"tls-served", "certSecretName: DittoFS serves HTTPS from the Secret mounted at /tls, probes use HTTPS, the hook polls over https", Steady(WithSpecField("controlPlane", tlsSpec), certSecret), fresh},
		{"tls-mutual", "clientCASecretName: client_ca in the config, the CA mounted, TCP probes (the kubelet has no client certificate), the CA's version in the pod's hash", Steady(WithSpecField("controlPlane", mtlsSpec), certSecret, clientCA), fresh},
		{"tls-secret-missing", "a certSecretName Secret that does not exist: DittoFS is not called (nothing to verify it against), every adapter child kept", Steady(WithSpecField("controlPlane", tlsSpec)), nothing},
		{"tls-untrusted", "a server certificate the CA did not sign: ServerCertificateRejected, no credential sent, every adapter child kept", Steady(WithSpecField("controlPlane", tlsSpec), certSecret), failed(tlsUntrusted)},
		{"tls-no-client-certificate", "mutual TLS and a hook without a client identity: ClientCertificateMissing, saying which flags", Steady(WithSpecField("controlPlane", mtlsSpec), certSecret, clientCA), failed(tlsNoClientCert)},
		{"tls-client-certificate-refused", "mutual TLS refusing the hook's certificate: ClientCertificateRefused, naming the client CA Secret", Steady(WithSpecField("controlPlane", mtlsSpec), certSecret, clientCA), failed(tlsClientRefused)},
		{"tls-plain-server", "a server that answers plain HTTP on a TLS address: TLSHandshakeFailed", Steady(WithSpecField("controlPlane", tlsSpec), certSecret), failed(tlsPlainHTTP)},
		{"metrics-no-servicemonitor-type", "metrics with a token: the listener, a container port, Service demo-metrics, the port admitted; a ServiceMonitor asked for without its child type is ConfigReady=False", Steady(WithSpecField("metrics", map[string]any{"enabled": true, "port": 9100, "path": "/custom",
			"bearerTokenSecret": map[string]any{"name": "demo-metrics-token", "key": "token"}, "serviceMonitor": map[string]any{"enabled": true, "interval": "30s", "labels": map[string]any{"release": "prom"}}})), fresh},
		{"metrics-servicemonitor", "with the ServiceMonitor child type declared, the ServiceMonitor demo-metrics with the bearer token", Steady(WithChildType(hook.KeyServiceMonitor), WithSpecField("metrics", map[string]any{"enabled": true,
			"bearerTokenSecret": map[string]any{"name": "demo-metrics-token", "key": "token"}, "serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}})), fresh},
		{"percona-not-installed", "percona without its child type: DatabaseReady=False naming the component, DittoFS not created", Captured(FirstSync, WithSpecField("percona", map[string]any{"enabled": true})), nothing},
		{"percona-creating", "percona: the PerconaPGCluster as upstream renders it; DittoFS waits for its database", Captured(FirstSync, WithChildType(hook.KeyPerconaPGCluster), WithSpecField("percona", map[string]any{"enabled": true, "replicas": 2, "storageClassName": "fast",
			"backup": map[string]any{"enabled": true, "bucket": "b", "endpoint": "https://s3.example.com", "credentialsSecretRef": map[string]any{"name": "s3"}}})), nothing},
		{"percona-ready", "a ready PerconaPGCluster: DittoFS created, wired to Percona's user Secret (sslmode require)", Captured(FirstSync, WithChildType(hook.KeyPerconaPGCluster), WithChild(PerconaCluster("ready")), WithSpecField("percona", map[string]any{"enabled": true})), nothing},
		// Issue 23: a StorageClass the spec names that does not exist.
		{"storage-class-missing", "a storageClassName that names no StorageClass: StorageClassNotFound naming it; no StatefulSet, so no claim, until it exists", Captured(FirstSync,
			WithSpecField("storage.storageClassName", "fast"), WithStorageClasses(), HookV2()), nothing},
		{"storage-class-present", "a storageClassName whose StorageClass exists: the StatefulSet's claims name it", Captured(FirstSync,
			WithSpecField("storage.storageClassName", "fast"), WithStorageClasses("fast"), HookV2()), nothing},
		{"storage-class-deleted", "the StorageClass deleted under a running server: StorageClassNotFound, every child kept", Steady(
			WithSpecField("storage.storageClassName", "fast"), WithStorageClasses(), HookV2()), fresh},
		{"storage-class-percona-missing", "percona's storageClassName names no StorageClass: no PerconaPGCluster (nor StatefulSet) until it exists", Captured(FirstSync, WithChildType(hook.KeyPerconaPGCluster),
			WithSpecField("percona", map[string]any{"enabled": true, "storageClassName": "fast-db"}), WithStorageClasses(), HookV2()), nothing},
		{"ldap-kerberos", "LDAP and Kerberos with a machine account: their config sections, keytabs mounted 0440, krb5.conf, the bind and machine passwords from the environment", Captured(FirstSync, WithSpecField("identity", directory)), nothing},
		{"postgres-upstream-shape", "postgresSecretRef {name, key} without type is Postgres; a Secret holding only a connection string is read through a derived Secret", Captured(FirstSync, WithSpecField("database", map[string]any{"postgresSecretRef": map[string]any{"name": "pg", "key": "connection-string"}}),
			WithRelatedSecret("pg", map[string]string{"connection-string": "postgres://u:p@h/db"}, "500")), nothing},
		{"postgres-secret-ready", "a Postgres Secret with host, database, user and password is DatabaseReady", Captured(FirstSync, WithSpecField("database", map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "pg"}}),
			WithRelatedSecret("pg", map[string]string{"host": "h", "database": "d", "user": "u", "password": "p"}, "500")), nothing},
		{"postgres-ref-under-sqlite", "a stored type sqlite with a postgresSecretRef, running on SQLite: InvalidSpec, saying the ref selects Postgres", Steady(
			WithConfigYAML("admin:\n  username: admin\ncontrolplane:\n  host: 0.0.0.0\n  port: 8080\ndatabase:\n  sqlite:\n    path: /data/controlplane/controlplane.db\n  type: sqlite\n"),
			WithSpecField("database", map[string]any{"type": "sqlite", "postgresSecretRef": map[string]any{"name": "pg"}})), nothing},

		// Issue 25: the Postgres connection string upstream's docs describe.
		{"postgres-dsn-url", "a Secret holding only a URL connection string (percent-encoded password): DittoFS's settings in a derived Secret demo-postgres-conn-<hash> the pod reads, DatabaseReady", Captured(FirstSync, pgSpec, pgDSN(pgURL, "500")), nothing},
		{"postgres-dsn-url-ipv6-no-database", "an IPv6 host in brackets, no database: the host bracketed for DittoFS, the database named after the user (libpq's default)", Captured(FirstSync, pgSpec, pgDSN("postgresql://dittofs:pw@[fd00::7]:5433?sslmode=require", "500")), nothing},
		{"postgres-dsn-keyvalue", "key=value form with a quoted password, an IPv6 host and no database", Captured(FirstSync, pgSpec, pgDSN(`host=2001:db8::5 user=dittofs password='it\'s a secret' sslmode=disable`, "500")), nothing},
		{"postgres-dsn-explicit-keys-win", "the Secret's own keys win over the connection string's, key by key", Captured(FirstSync, pgSpec,
			WithRelatedSecret("pg", map[string]string{"connection-string": pgURL, "password": "explicit-password", "sslmode": "require"}, "500")), nothing},
		{"postgres-dsn-invalid", "an unusable connection string: PostgresConnectionStringInvalid naming what is wrong, quoting nothing; the pod reads the user's Secret as before", Captured(FirstSync, pgSpec, pgDSN("postgres://dittofs:s3cret@db:54x2/cp", "500")), nothing},
		{"postgres-dsn-rotated", "a new version of the user's Secret: a new derived Secret, the pod rolled onto it, the one it runs kept until then", Steady(pgSpec, onPostgres, pgDSN(pgURL, "501"),
			WithChild(DerivedPostgresSecret(derivedPG("500"), "pg", pgSettings)), WithPostgresEnv(derivedPG("500"))), fresh},
		{"postgres-dsn-superseded", "the StatefulSet names the new derived Secret: the old one goes", Steady(pgSpec, onPostgres, pgDSN(pgURL, "501"),
			WithChild(DerivedPostgresSecret(derivedPG("500"), "pg", pgSettings)), WithChild(DerivedPostgresSecret(derivedPG("501"), "pg", pgSettings)), WithPostgresEnv(derivedPG("501"))), fresh},
		{"postgres-dsn-source-missing", "the user's Secret gone: the derived Secret and the pod stay as they are (no roll), PostgresSecretMissing", Steady(pgSpec, onPostgres,
			WithChild(DerivedPostgresSecret(derivedPG("500"), "pg", pgSettings)), WithPostgresEnv(derivedPG("500"))), fresh},
		{"postgres-dsn-invalid-kept", "a connection string edited into one that cannot be used: the derived Secret and the pod stay as they are", Steady(pgSpec, onPostgres, pgDSN("host=db user='dittofs", "502"),
			WithChild(DerivedPostgresSecret(derivedPG("500"), "pg", pgSettings)), WithPostgresEnv(derivedPG("500"))), fresh},
		{"postgres-dsn-keys-complete", "a Secret with host, database, user and password is read key by key, as before, its connection string unread: no running server changes", Captured(FirstSync, pgSpec,
			WithRelatedSecret("pg", map[string]string{"connection-string": "not a connection string", "host": "h", "database": "d", "user": "u", "password": "p"}, "500")), nothing},
		{"postgres-dsn-secret-renamed", "postgresSecretRef renamed while the pod runs on a Secret derived from another: InvalidSpec naming both user Secrets, every child kept", Steady(
			WithSpecField("database", map[string]any{"postgresSecretRef": map[string]any{"name": "pg2", "key": "connection-string"}}), onPostgres,
			WithRelatedSecret("pg2", map[string]string{"connection-string": pgURL}, "600"),
			WithChild(DerivedPostgresSecret(derivedPG("500"), "pg", pgSettings)), WithPostgresEnv(derivedPG("500"))), nothing},
		{"snapshot-policies-applied", "changed policies are applied after a successful poll; the status records their hash and shares", Steady(WithSpecField("snapshotPolicies", policies)),
			polledThenApplied(DittoFSBody("adapters-fresh.body"), &dittofs.SnapshotPolicyResult{Created: []string{"/archive", "/projects"}, Managed: []string{"/archive", "/projects"}}, nil)},
		{"snapshot-policies-steady", "policies the status records as applied: no apply, no admin login, nothing to write", Steady(WithSpecField("snapshotPolicies", policies), WithSnapshotStatus(policiesHash, "/archive", "/projects"),
			WithAddedCondition(Condition{Type: "SnapshotPoliciesApplied", Status: "True", Reason: "PoliciesApplied", Message: "DittoFS holds the 2 snapshot policies of the spec", Since: SteadySince})), fresh},
		{"snapshot-share-missing", "a share DittoFS lacks: ShareNotFound naming it, the hash not recorded (retried at the next poll), Ready unaffected", Steady(WithSpecField("snapshotPolicies", policies)),
			polledThenApplied(DittoFSBody("adapters-fresh.body"), &dittofs.SnapshotPolicyResult{Created: []string{"/archive"}, Managed: []string{"/archive", "/projects"}},
				&dittofs.SnapshotPoliciesError{Failures: []dittofs.SnapshotPolicyFailure{{Share: "/projects", Err: &dittofs.APIError{Op: "put snapshot policy", Status: 404, Message: "share not found"}}}})},
		{"snapshot-policies-removed", "policies dropped from the spec are deleted from the shares the hook applied them to; the status empties", Steady(WithSnapshotStatus(policiesHash, "/archive", "/projects")),
			polledThenApplied(DittoFSBody("adapters-fresh.body"), &dittofs.SnapshotPolicyResult{Deleted: []string{"/archive", "/projects"}}, nil)},
		{"snapshot-policy-invalid", "a share listed twice: InvalidSnapshotPolicy, nothing applied, the rest of the DittoServer unaffected", Steady(WithSpecField("snapshotPolicies", []any{
			map[string]any{"share": "archive", "interval": "24h"}, map[string]any{"share": "/archive", "interval": "1h"}})), fresh},
		{"security-contexts-merged", "the user's security context fields win one by one; the restricted defaults stay for the others", Captured(FirstSync, WithSpecField("podSecurityContext", map[string]any{"supplementalGroups": []any{4000}}),
			WithSpecField("securityContext", map[string]any{"readOnlyRootFilesystem": false})), nothing},
		{"logging-output-file", "logging.output to a file on the control-plane volume", Captured(FirstSync, WithSpecField("logging", map[string]any{"output": "/data/controlplane/dfs.log"})), nothing},
		{"rolling-out", "a StatefulSet rolling a new template: Progressing=True, Ready waits for it", Steady(WithStatefulSetStatus(map[string]any{"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
			"updatedReplicas": 0, "currentRevision": "demo-1", "updateRevision": "demo-2"})), fresh},
		{"upstream-statefulset", "a StatefulSet the upstream operator made keeps its selector; the pod gets both label sets; Services and policies select it as it is", Steady(WithUpstreamStatefulSet()), fresh},
		{"legacy-admin-secret-adopted", "upstream's legacy <name>-admin-credentials, without a bootstrap Secret: its password is adopted into <name>-admin-bootstrap-credentials, the legacy one kept meanwhile", Captured(ReadyLB,
			WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}}), WithoutRelatedSecrets(), WithChild(OperatorSecret()), WithChild(LegacyAdminSecret("legacy-admin-pass"))), nothing},
		{"legacy-admin-secret-deleted", "once the bootstrap Secret holds its password, the legacy Secret goes, as upstream deletes it", Captured(ReadyLB,
			WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}}), WithoutRelatedSecrets(), WithChild(OperatorSecret()), WithChild(AdminSecret()), WithChild(LegacyAdminSecret("admin-pass-observed"))), nothing},
		{"legacy-admin-secret-other-password", "a legacy Secret whose password is not the bootstrap Secret's is never deleted, nor adopted", Captured(ReadyLB,
			WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}}), WithoutRelatedSecrets(), WithChild(OperatorSecret()), WithChild(AdminSecret()), WithChild(LegacyAdminSecret("legacy-admin-pass"))), nothing},
		{"upstream-nfs-service", "an nfs Service in the upstream operator's shape: its node ports found by upstream's port names, the portmapper on 111", Steady(
			WithSpecField("adapterServices", map[string]any{"overrides": map[string]any{"nfs": map[string]any{"portmapper": true}}}), WithChild(UpstreamNFSService(12049))), fresh},
	}
}

// TestSync runs every case through the pure core: the answer keeps every
// invariant and makes the case's claim (claims_test.go), and is compared
// whole with testdata/sync/<name>.json (-update rewrites the goldens, never
// the claims). The same request must give the same bytes twice.
func TestSync(t *testing.T) {
	names := map[string]bool{}
	for _, c := range syncCases() {
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			got := answer(t, c)
			if again := answer(t, c); !bytes.Equal(got, again) {
				t.Fatalf("the same request gave two different answers:\n%s", cmp.Diff(string(got), string(again)))
			}
			a := newAnswered(t, c.request.JSON(), got)
			for _, rule := range slices.Sorted(maps.Keys(invariants)) {
				t.Run(rule, func(t *testing.T) { invariants[rule](t, a) })
			}
			claim, ok := claims[c.name]
			if !ok {
				t.Fatalf("the claim %q has no check in claims (claims_test.go)", c.claim)
			}
			claim(t, a)
			compareGolden(t, filepath.Join("testdata", "sync", c.name+".json"), got)
		})
	}
	for n := range claims {
		if !names[n] {
			t.Errorf("claims has a check for %s, which is no sync case", n)
		}
	}
}

// TestSyncHookV2: every case, its request in hook version v2's wire format
// (the CompositeController saying so, namespaced objects filed under
// "<namespace>/<name>"), gets the answer of its golden file byte for
// byte: the wire version changes how the hook reads, never what it
// answers.
func TestSyncHookV2(t *testing.T) {
	for _, c := range syncCases() {
		t.Run(c.name, func(t *testing.T) {
			c.request = c.request.With(HookV2())
			compareGolden(t, filepath.Join("testdata", "sync", c.name+".json"), answer(t, c))
		})
	}
}

// TestSteadyStatusUnchanged: a DittoServer whose status says what the hook
// would answer gets that same status back: Metacontroller has nothing to
// write (the snapshot policies' apply is not repeated either).
func TestSteadyStatusUnchanged(t *testing.T) {
	for _, c := range syncCases() {
		if c.name != "steady" && c.name != "snapshot-policies-steady" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var req struct {
				Parent struct {
					Status map[string]any `json:"status"`
				} `json:"parent"`
			}
			var resp struct {
				Status map[string]any `json:"status"`
			}
			if err := json.Unmarshal(c.request.JSON(), &req); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(answer(t, c), &resp); err != nil {
				t.Fatal(err)
			}
			delete(req.Parent.Status, "observedGeneration") // Metacontroller's
			if d := cmp.Diff(req.Parent.Status, resp.Status); d != "" {
				t.Fatalf("the status changes at steady state (-request +answer):\n%s", d)
			}
		})
	}
}

func answer(t *testing.T, c syncCase) []byte {
	t.Helper()
	req, err := hook.DecodeSyncRequest(c.request.JSON())
	if err != nil {
		t.Fatalf("decode request: %v", err)
	}
	s, err := hook.Prepare(req, testCeiling)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	out, err := json.MarshalIndent(s.Desired(c.dittofs(s), now, hook.NewSeededSecretSource("fixture-key")), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// compareGolden compares got with a golden file, structurally, so that a
// failure shows which fields differ. -update rewrites the file.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./hook -run %s -update to create it)", err, t.Name())
	}
	if bytes.Equal(want, got) {
		return
	}
	var w, g any
	if json.Unmarshal(want, &w) == nil && json.Unmarshal(got, &g) == nil {
		if d := cmp.Diff(w, g); d != "" {
			t.Fatalf("%s differs (-want +got):\n%s\nrun go test ./hook -run %s -update if the change is intended, and read the diff", path, d, t.Name())
		}
	}
	t.Fatalf("%s differs in formatting only:\n%s", path, cmp.Diff(string(want), string(got)))
}

// TestReplicasAgreeDuringAnOutage: while DittoFS cannot be reached or fails
// (5xx, a redirect), every replica answers the same status, whether it holds
// a token (its list call fails), must log in (the login fails) or must
// refresh an expired token (the refresh fails). Were they to differ, each answer would change the
// status the other wrote, and each status write makes Metacontroller sync
// again at once: a hot loop for as long as the outage lasts.
func TestReplicasAgreeDuringAnOutage(t *testing.T) {
	// Each failure as the call that meets it: the list (a replica with a
	// token cached), the login or the refresh (one without).
	asMetBy := func(failure func(op string) error) []error {
		return []error{
			failure("list adapters"),
			&dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: failure("login")},
			&dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: failure("refresh")},
		}
	}
	transport := func(cause error) func(string) error {
		return func(op string) error { return &dittofs.TransportError{Op: op, Err: cause} }
	}
	status := func(code int, detail string) func(string) error {
		return func(op string) error {
			return &dittofs.APIError{Op: op, Status: code, Message: detail + " during " + op}
		}
	}
	for name, failure := range map[string]func(string) error{
		"connection refused": transport(syscall.ECONNREFUSED),
		"timed out":          transport(context.DeadlineExceeded),
		"connection reset":   transport(syscall.ECONNRESET),
		"HTTP 500":           status(500, "database locked"),
		"HTTP 503":           status(503, "starting"),
		"HTTP 404":           status(404, "no such route"),
		"HTTP 429":           status(429, "slow down"),
		"HTTP 302":           status(302, ""),
		"HTTP 307":           status(307, ""),
	} {
		var answers [][]byte
		for _, err := range asMetBy(failure) {
			answers = append(answers, answer(t, syncCase{request: Steady(), dittofs: failed(err)}))
		}
		for i := 1; i < len(answers); i++ {
			if !bytes.Equal(answers[0], answers[i]) {
				t.Errorf("%s: replicas answer differently:\n%s", name, cmp.Diff(string(answers[0]), string(answers[i])))
			}
		}
	}
}

// TestSnapshotApplyFailures: how a failed apply of the snapshot policies
// reads in SnapshotPoliciesApplied. Only a 401 or 403 at the
// administrator's login is about its password; any other failure of that
// login (a 5xx, a 404, DittoFS gone) is DittoFS's, as it is for the
// adapter list.
func TestSnapshotApplyFailures(t *testing.T) {
	s := prepare(t, Steady(WithSpecField("snapshotPolicies", policies)).JSON())
	poll := listed(DittoFSBody("adapters-fresh.body"))(s)
	adminLogin := func(err error) error { return &dittofs.AuthError{Stage: dittofs.StageAdminLogin, Err: err} }
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"admin login 401":    {adminLogin(&dittofs.APIError{Op: "login", Status: 401}), hook.ReasonAdminCredentialsRejected},
		"admin login 403":    {adminLogin(&dittofs.APIError{Op: "login", Status: 403}), hook.ReasonAdminCredentialsRejected},
		"admin login 500":    {adminLogin(&dittofs.APIError{Op: "login", Status: 500}), hook.ReasonSnapshotPolicyFailed},
		"admin login 429":    {adminLogin(&dittofs.APIError{Op: "login", Status: 429}), hook.ReasonSnapshotPolicyFailed},
		"admin login reset":  {adminLogin(&dittofs.TransportError{Op: "login", Err: syscall.ECONNRESET}), hook.ReasonSnapshotPolicyFailed},
		"no admin password":  {noAdmin, hook.ReasonAdminCredentialsMissing},
		"a share is missing": {&dittofs.SnapshotPoliciesError{Failures: []dittofs.SnapshotPolicyFailure{{Share: "/projects", Err: &dittofs.APIError{Op: "put snapshot policy", Status: 404}}}}, hook.ReasonShareNotFound},
		"the apply fails":    {&dittofs.APIError{Op: "put snapshot policy", Status: 500}, hook.ReasonSnapshotPolicyFailed},
	} {
		if got := s.ObserveSnapshots(poll, nil, tc.err).Snapshots(); got.State != hook.Failed || got.Reason != tc.want {
			t.Errorf("%s: %v %s (%s), want Failed %s", name, got.State, got.Reason, got.Message, tc.want)
		}
	}
}

// TestPostgresSecretsNotInStatus: whatever the Postgres cases' connection
// strings hold, no part of a password reaches the status (conditions,
// their messages, anything).
func TestPostgresSecretsNotInStatus(t *testing.T) {
	for _, c := range syncCases() {
		if !strings.HasPrefix(c.name, "postgres-") {
			continue
		}
		var resp struct {
			Status json.RawMessage `json:"status"`
		}
		if err := json.Unmarshal(answer(t, c), &resp); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"s3cret", "p%40ss", "p@ss", "explicit-password", "a secret", pgURL} {
			if strings.Contains(string(resp.Status), secret) {
				t.Errorf("%s: the status holds %q", c.name, secret)
			}
		}
	}
}
