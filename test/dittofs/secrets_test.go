package dittofs_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// TestSecretsStaySecret runs full syncs through the real hook binary at
// debug level against the real DittoFS — provisioning, steady polls,
// refused credentials, an outage, bad requests and finalize — with known
// passwords, and checks that no password, signing key or DittoFS token
// appears in the logs, any status, the metrics, an HTTP error body or the
// Kubernetes Events the hook records.
func TestSecretsStaySecret(t *testing.T) {
	const (
		adminPass    = "Leak-check-admin-Pa55"
		operatorPass = "Leak-check-operator-Pa55"
		jwtSecret    = "Leak-check-jwt-signing-key-0123456789abcdef"
		wrongPass    = "Leak-check-wrong-Pa55"
	)
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	port := harness.FreePort(t)
	events := cluster.StartEventsAPI(t)
	// DittoFS timeout 5 s: the setup sync provisions the account (two
	// bcrypt logins and a create) and must not time out on a loaded
	// machine; the hung API below waits it out once.
	hookProc := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "5s", "--log-level", "debug", "--log-format", "json",
		"--kubeconfig", events.Kubeconfig(t, dir))
	hookURL := harness.URL(port, "")
	hookProc.WaitHTTP(t, hookURL+"/readyz", 10*time.Second)

	dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{AdminPassword: adminPass})
	proxy := dittofstest.StartFaultProxy(t, dfs.URL)
	var mu sync.Mutex
	secrets := []string{adminPass, operatorPass, jwtSecret, wrongPass}
	proxy.Record(func(path string, body []byte) {
		if !strings.HasPrefix(path, "/api/v1/auth/") {
			return
		}
		var tok struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
		}
		if json.Unmarshal(body, &tok) == nil && tok.Access != "" {
			mu.Lock()
			secrets = append(secrets, tok.Access, tok.Refresh)
			mu.Unlock()
		}
	})

	l := controller.NewLoop(t, hookURL, "demo", map[string]any{
		"storage":          map[string]any{"metadataSize": "1Gi"},
		"controlPlane":     map[string]any{"port": proxy.Port},
		"adapterDiscovery": map[string]any{"pollingInterval": "5s"},
	})
	l.Children["Secret.v1"]["demo-admin-bootstrap-credentials"] = observedSecret("demo-admin-bootstrap-credentials", map[string]string{"username": "admin", "password": adminPass})
	l.Children["Secret.v1"]["demo-operator-credentials"] = observedSecret("demo-operator-credentials", map[string]string{"username": "k8s-operator", "password": operatorPass})
	l.Children["Secret.v1"]["demo-jwt-secret"] = observedSecret("demo-jwt-secret", map[string]string{"jwt-secret": jwtSecret})

	var statuses [][]byte
	sync := func() {
		l.Sync()
		b, _ := json.Marshal(l.Parent["status"])
		statuses = append(statuses, b)
	}
	sync()
	l.SetReady("demo", 1)
	sync() // provisions k8s-operator through the admin, then polls
	sync()
	if s, reason, msg := l.Condition("AdaptersDiscovered"); s != "True" {
		t.Fatalf("setup: AdaptersDiscovered %s %s %s", s, reason, msg)
	}
	// Refused credentials: the operator's password changed and the admin's is wrong.
	l.Children["Secret.v1"]["demo-operator-credentials"] = observedSecret("demo-operator-credentials", map[string]string{"username": "k8s-operator", "password": wrongPass})
	l.Children["Secret.v1"]["demo-admin-bootstrap-credentials"] = observedSecret("demo-admin-bootstrap-credentials", map[string]string{"username": "admin", "password": wrongPass})
	sync()
	if _, reason, _ := l.Condition("Authenticated"); reason != "AdminCredentialsRejected" {
		t.Fatalf("want AdminCredentialsRejected, got %s", reason)
	}
	// An outage, and a hung API.
	proxy.Set(dittofstest.Fault{Kind: "refuse"})
	sync()
	proxy.Set(dittofstest.Fault{Kind: "hang"})
	sync()
	proxy.Set(dittofstest.Fault{})

	// Bad requests that carry the secrets: the error bodies must not echo them.
	var errorBodies []string
	for _, body := range []string{
		`{"parent": "` + adminPass + `"`,
		`{"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":"demo","namespace":"default","uid":"u"}},"children":{"Secret.v1":{"x":{"metadata":{"name":"y"},"data":{"password":"` + operatorPass + `"}}}}}`,
		`{"parent":{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServer","metadata":{"name":"demo","namespace":"default","uid":"u"}},"children":{"Secret.v1":{"y":{"metadata":{"name":"y"},"data":{"password":42}}}}}`,
		`{"parent":{"apiVersion":"v1","kind":"` + jwtSecret + `","metadata":{"name":"demo","namespace":"default","uid":"u"}},"children":{}}`,
	} {
		resp, err := http.Post(hookURL+"/sync", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Fatalf("bad request answered %d", resp.StatusCode)
		}
		errorBodies = append(errorBodies, string(b))
	}
	// Finalize (the admin password is wrong: it waits, then gives up).
	l.Finalizing = true
	l.Parent["metadata"].(map[string]any)["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	sync()

	resp, err := http.Get(hookURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := hookProc.Stop(); err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(hookProc.Log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte(`"level":"DEBUG"`)) || !bytes.Contains(logs, []byte("AdminCredentialsRejected")) {
		t.Fatalf("the hook's log does not show the syncs at debug level:\n%s", logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(secrets) < 6 {
		t.Fatalf("recorded only %d secrets and tokens", len(secrets))
	}
	places := map[string]string{"logs": string(logs), "metrics": string(metrics), "error bodies": strings.Join(errorBodies, "\n")}
	for i, s := range statuses {
		places["status "+strconv.Itoa(i)] = string(s)
	}
	// The Events of every transition above, as the API server received them.
	recorded := map[string]bool{}
	for i, ev := range events.Events() {
		places["event "+strconv.Itoa(i)] = string(ev)
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(ev, &e)
		recorded[e.Reason] = true
	}
	for _, want := range []string{"AuthProvisioned", "AdapterServiceCreated", "AuthFailed", "AuthAPIUnreachable"} {
		if !recorded[want] {
			t.Errorf("no %s Event among %v: the Events were not checked for that transition", want, recorded)
		}
	}
	for _, s := range secrets {
		forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
		for where, text := range places {
			for _, f := range forms {
				if strings.Contains(text, f) {
					t.Errorf("a secret (%d characters, starting %q) appears in the %s", len(s), s[:4], where)
				}
			}
		}
	}
}
