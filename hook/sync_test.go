package hook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the code produces")

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
			return s.ObservePoll(nil, &dittofs.MalformedError{Op: "list adapters", Err: err}, api)
		}
		return s.ObservePoll(adapters, nil, api)
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
	return func(s *hook.Sync) hook.Observation { return s.ObservePoll(nil, err, api) }
}

// deleted: finalize removed the operator account (err nil) or could not.
func deleted(err error) dittofsSaid {
	return func(s *hook.Sync) hook.Observation { return s.ObserveFinalize(err, api) }
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
)

// adapter is one element of DittoFS's adapter list.
type adapter struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Enabled   bool   `json:"enabled"`
	Running   bool   `json:"running"`
	Port      int    `json:"port"`
	CreatedAt string `json:"created_at,omitempty"`
}

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
	"priorityClassName":             "system-cluster-critical",
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
		{"failure-refused-for-10-minutes", "a failure that goes on keeps its status and backs off the resync", Steady(WithCondition(stillRefused, "AdaptersDiscovered", "Authenticated", "Ready")), failed(refused)},
		{"failure-status-lost", "a failed poll with no last known adapters keeps the observed adapter children", Steady(WithStatusAdapters()), failed(refused)},
		{"pod-not-ready", "no ready replica: DittoFS is not called, adapters kept, WaitingForServer", Steady(WithStatefulSetStatus(map[string]any{"observedGeneration": 1, "replicas": 1, "readyReplicas": 0})), nothing},
		{"unknown-and-duplicate-types", "an unknown type gets a hashed name; a duplicated type resolves to the enabled one", Steady(), listedJSON([]adapter{
			{ID: "b", Type: "nfs", Port: 2049, CreatedAt: "2026-11-25T20:05:44Z"},
			{ID: "a", Type: "nfs", Enabled: true, Running: true, Port: 12049, CreatedAt: "2026-11-25T20:05:45Z"},
			{ID: "c", Type: "NFSv4.1", Enabled: true, Port: 20490, CreatedAt: "2026-11-25T20:05:46Z"},
			{ID: "d", Type: "smb", Enabled: true, Running: true, Port: 0, CreatedAt: "2026-11-25T20:05:47Z"},
		})},
		{"too-many-adapters", "more than 32 adapter types is InvalidResponse, every adapter child kept", Steady(), listedJSON(forty)},
		{"nfs-udp-portmapper", "nfs udp and portmapper overrides add a UDP Service and the ports to the policy", Steady(WithSpecField("adapterServices", map[string]any{"type": "NodePort", "overrides": map[string]any{"nfs": map[string]any{"udp": true, "portmapper": true}}})), fresh},
		{"networkpolicy-disabled", "networkPolicy.enabled false removes every policy", Steady(noPolicies), fresh},
		{"networkpolicy-disabled-api-down", "networkPolicy.enabled false removes every policy even when the poll fails", Steady(noPolicies), failed(refused)},
		{"finalize-account-deleted", "finalize is done once the operator account is deleted", Steady(finalizing), deleted(nil)},
		{"finalize-api-down-within-grace", "finalize waits while DittoFS is unreachable within the grace period", Steady(finalizing), deleted(refused)},
		{"finalize-operator-conflict", "finalize leaves a k8s-operator the hook did not make, and is done", Steady(finalizing), deleted(accountConflict)},
	}
}

// TestSync runs every case through the pure core and compares the whole
// answer with testdata/sync/<name>.json (-update rewrites them). The same
// request must give the same bytes twice.
func TestSync(t *testing.T) {
	for _, c := range syncCases() {
		t.Run(c.name, func(t *testing.T) {
			got := answer(t, c)
			if again := answer(t, c); !bytes.Equal(got, again) {
				t.Fatalf("the same request gave two different answers:\n%s", cmp.Diff(string(got), string(again)))
			}
			compareGolden(t, filepath.Join("testdata", "sync", c.name+".json"), got)
		})
	}
}

func answer(t *testing.T, c syncCase) []byte {
	t.Helper()
	req, err := hook.DecodeSyncRequest(c.request.JSON())
	if err != nil {
		t.Fatalf("decode request: %v", err)
	}
	s, err := hook.Prepare(req)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	out, err := json.MarshalIndent(s.Desired(c.dittofs(s), now, hook.NewFixedSecretSource("fixture-key")), "", "  ")
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
