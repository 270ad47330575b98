package dittofs_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// The upstream operator's fields (issue 15) against the real DittoFS
// v0.29.0: its API over TLS and mutual TLS, snapshot policies, and the
// configuration the hook renders for every section.

// relatedSecret is a Secret as Metacontroller sends a related object.
func relatedSecret(name, rv string, data map[string][]byte) map[string]any {
	enc := map[string]any{}
	for k, v := range data {
		enc[k] = base64.StdEncoding.EncodeToString(v)
	}
	return map[string]any{"apiVersion": "v1", "kind": "Secret", "data": enc,
		"metadata": map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name, "resourceVersion": rv}}
}

// tlsLoop is the hook in-process (its real handler, with a client identity
// when one is given) and an in-memory Metacontroller for a DittoServer
// "demo" whose API is the TLS DittoFS d, the administrator's password in a
// related Secret.
func tlsLoop(t *testing.T, d *dittofstest.DittoFS, controlPlane map[string]any, identity *dittofs.ClientIdentity) *controller.Loop {
	t.Helper()
	srv, err := server.New(server.Options{
		URLTemplate: "http://127.0.0.1:{{.Port}}", // dialled over https: the DittoServer serves TLS
		// Generous: a TLS handshake and DittoFS's password hashing on a
		// loaded 2-core machine (another tier running) took over 3 s.
		// Nothing here tests a timeout.
		Timeout:        15 * time.Second,
		Secrets:        hook.NewSeededSecretSource("tls"),
		ClientIdentity: identity,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	controlPlane["port"] = d.Port
	l := controller.NewLoop(t, ts.URL, "demo", map[string]any{
		"storage":          map[string]any{"metadataSize": "1Gi"},
		"controlPlane":     controlPlane,
		"adapterDiscovery": map[string]any{"pollingInterval": "5s"},
		"identity":         map[string]any{"admin": map[string]any{"passwordSecretRef": map[string]any{"name": "admin", "key": "password"}}},
	})
	l.Related["Secret.v1"]["admin"] = relatedSecret("admin", "1", map[string][]byte{"password": []byte(dittofstest.AdminPassword)})
	l.Related["Secret.v1"]["demo-tls"] = relatedSecret("demo-tls", "2", map[string][]byte{"tls.crt": d.ServerCert, "tls.key": d.ServerKey, "ca.crt": d.CA})
	if d.ClientCA != nil {
		l.Related["Secret.v1"]["demo-client-ca"] = relatedSecret("demo-client-ca", "3", map[string][]byte{"ca.crt": d.ClientCA})
	}
	l.Sync()
	l.SetReady("demo", 1)
	return l
}

func wantCondition(t *testing.T, l *controller.Loop, typ, status, reason string) {
	t.Helper()
	s, r, m := l.Condition(typ)
	if s != status || r != reason {
		t.Fatalf("%s = %s/%s (%s), want %s/%s", typ, s, r, m, status, reason)
	}
}

func adapterChildNames(l *controller.Loop) string {
	var out []string
	for _, n := range l.Names() {
		if strings.Contains(n, "-adapter-") {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

// TestTLSThroughTheHook: a DittoServer with controlPlane.certSecretName is
// polled over HTTPS, its certificate verified against the ca.crt of that
// Secret and the API Service's name; a certificate that does not verify
// (the Secret's CA replaced by another) is ServerCertificateRejected and
// every adapter child stays as it was.
func TestTLSThroughTheHook(t *testing.T) {
	d := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{TLS: &dittofstest.TLSOptions{SANs: []string{"IP:127.0.0.1", "DNS:demo-api.default.svc.cluster.local"}}})
	l := tlsLoop(t, d, map[string]any{"tls": true, "certSecretName": "demo-tls"}, nil)
	l.Sync()
	l.Sync()
	wantCondition(t, l, hook.CondAdaptersDiscovered, "True", hook.ReasonPollSucceeded)
	wantCondition(t, l, hook.CondAuthenticated, "True", hook.ReasonAuthenticationSucceeded)
	before := adapterChildNames(l)
	if !strings.Contains(before, "Service/demo-adapter-nfs") || !strings.Contains(before, "Service/demo-adapter-smb") {
		t.Fatalf("adapters discovered over HTTPS, but children are %s", before)
	}
	probe := l.Children["StatefulSet.apps/v1"]["demo"]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["readinessProbe"].(map[string]any)
	if probe["httpGet"].(map[string]any)["scheme"] != "HTTPS" {
		t.Errorf("readiness probe %v, want httpGet over HTTPS", probe)
	}

	l.Related["Secret.v1"]["demo-tls"] = relatedSecret("demo-tls", "5", map[string][]byte{"tls.crt": d.ServerCert, "tls.key": d.ServerKey, "ca.crt": d.UntrustedCA})
	for range 2 {
		l.Sync()
		wantCondition(t, l, hook.CondAdaptersDiscovered, "False", hook.ReasonServerCertificateRejected)
		wantCondition(t, l, hook.CondReady, "False", hook.ReasonServerCertificateRejected)
		if got := adapterChildNames(l); got != before {
			t.Fatalf("adapter children changed on a refused certificate: %s → %s", before, got)
		}
	}
	_, _, msg := l.Condition(hook.CondAdaptersDiscovered)
	if !strings.Contains(msg, "server certificate not trusted") || !strings.Contains(msg, "Secret demo-tls") {
		t.Errorf("the condition does not say what to fix: %s", msg)
	}
}

// TestMutualTLSThroughTheHook: with clientCASecretName DittoFS requires a
// client certificate: the hook presents its identity and discovers the
// adapters; a hook without one says ClientCertificateMissing, and one whose
// certificate another CA issued is ClientCertificateRefused; the probes are
// TCP (the kubelet has no client certificate).
func TestMutualTLSThroughTheHook(t *testing.T) {
	d := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{TLS: &dittofstest.TLSOptions{Mutual: true, SANs: []string{"IP:127.0.0.1", "DNS:demo-api.default.svc.cluster.local"}}})
	spec := func() map[string]any {
		return map[string]any{"certSecretName": "demo-tls", "clientCASecretName": "demo-client-ca"}
	}
	own, err := dittofs.ClientIdentityFromPEM(d.ClientCert, d.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := dittofs.ClientIdentityFromPEM(d.StrangerCert, d.StrangerKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		identity *dittofs.ClientIdentity
		status   string
		reason   string
	}{
		{"the hook's identity, signed by the client CA", own, "True", hook.ReasonPollSucceeded},
		{"no identity", nil, "False", hook.ReasonClientCertificateMissing},
		{"an identity another CA issued", stranger, "False", hook.ReasonClientCertificateRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := tlsLoop(t, d, spec(), c.identity)
			for range 2 { // the same verdict every time
				l.Sync()
				wantCondition(t, l, hook.CondAdaptersDiscovered, c.status, c.reason)
			}
			probe := l.Children["StatefulSet.apps/v1"]["demo"]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["livenessProbe"].(map[string]any)
			if probe["tcpSocket"] == nil {
				t.Errorf("liveness probe %v, want tcpSocket", probe)
			}
		})
	}
}

// TestSnapshotPoliciesThroughTheHook: spec.snapshotPolicies reach DittoFS
// through the hook with the administrator's credentials: a share DittoFS
// lacks is named (ShareNotFound) and the others are applied; the
// administrator's login is not tried again before the retry time the
// status records (backoff); once the share exists the retry applies it and
// the status records the policies' hash; at steady state a poll is one DittoFS call (the adapter list: no
// login, no policy call); a changed spec is pushed again, once; a policy
// dropped from the spec is deleted, and a policy an administrator made on
// another share is left alone.
func TestSnapshotPoliciesThroughTheHook(t *testing.T) {
	r := newDiscoveryRig(t, map[string]any{"snapshotPolicies": []any{
		map[string]any{"share": "/archive", "interval": "@daily", "keepLast": 7},
		map[string]any{"share": "projects", "interval": "6h", "ttl": "720h", "namePrefix": "auto"},
	}})
	l := r.loop
	r.start(t)
	tok := r.dfs.AdminToken()
	r.dfs.Admin(tok, http.MethodPost, "/api/v1/store/metadata", map[string]string{"name": "meta", "type": "memory"}, http.StatusCreated, nil)
	r.dfs.Admin(tok, http.MethodPost, "/api/v1/store/block/local", map[string]string{"name": "local", "type": "fs", "config": fmt.Sprintf(`{"path":%q}`, filepath.Join(r.dfs.Dir, "blocks"))}, http.StatusCreated, nil)
	share := func(name string) {
		r.dfs.Admin(tok, http.MethodPost, "/api/v1/shares", map[string]string{"name": name, "metadata_store_id": "meta", "local_block_store": "local"}, http.StatusCreated, nil)
	}
	policy := func(share string) (int, map[string]any) {
		code, body := r.dfs.Call(tok, http.MethodGet, "/api/v1/shares/"+share+"/snapshot-policy", nil)
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		return code, p
	}
	share("/archive")
	share("/other")
	r.dfs.Admin(tok, http.MethodPut, "/api/v1/shares/other/snapshot-policy", map[string]any{"interval": "1h"}, http.StatusOK, nil)
	snapshotStatus := func() map[string]any {
		st, _ := l.Parent["status"].(map[string]any)["snapshotPolicies"].(map[string]any)
		return st
	}

	t.Run("a missing share is named; the others are applied", func(t *testing.T) {
		l.Sync()
		l.Sync()
		wantCondition(t, l, hook.CondSnapshotPolicies, "False", hook.ReasonShareNotFound)
		if _, _, msg := l.Condition(hook.CondSnapshotPolicies); !strings.Contains(msg, "/projects") {
			t.Errorf("the condition does not name the share: %s", msg)
		}
		if code, p := policy("archive"); code != 200 || p["keep_last"] != float64(7) || p["interval"] != "24h0m0s" {
			t.Fatalf("archive's policy: %d %v", code, p)
		}
		if st := snapshotStatus(); st == nil || st["appliedHash"] != nil {
			t.Fatalf("status.snapshotPolicies %v: want the shares and no hash until every policy is applied", st)
		}
		if s, _, _ := l.Condition(hook.CondReady); s == "" {
			t.Fatal("no Ready condition")
		}
	})

	t.Run("the share created, the retry applies its policy; no administrator login before it", func(t *testing.T) {
		share("/projects")
		r.proxy.ResetCalls()
		l.Sync() // before status.snapshotPolicies.retryAfter
		if all, list := r.proxy.Calls(""), r.proxy.Calls("GET /api/v1/adapters"); all != 1 || list != 1 {
			t.Fatalf("%d DittoFS calls (%d adapter lists) before the retry time, want the adapter list alone", all, list)
		}
		retry, err := time.Parse(time.RFC3339, fmt.Sprint(snapshotStatus()["retryAfter"]))
		if err != nil {
			t.Fatalf("status.snapshotPolicies.retryAfter: %v", err)
		}
		time.Sleep(time.Until(retry) + 100*time.Millisecond)
		l.Sync()
		wantCondition(t, l, hook.CondSnapshotPolicies, "True", hook.ReasonPoliciesApplied)
		if code, p := policy("projects"); code != 200 || p["ttl"] != "720h0m0s" || p["name_prefix"] != "auto" {
			t.Fatalf("projects' policy: %d %v", code, p)
		}
		if st := snapshotStatus(); st == nil || st["appliedHash"] == nil {
			t.Fatalf("status.snapshotPolicies %v: want the applied hash", st)
		}
	})

	t.Run("steady state: one DittoFS call per poll", func(t *testing.T) {
		l.Sync()
		r.proxy.ResetCalls()
		for range 3 {
			l.Sync()
		}
		if all, list := r.proxy.Calls(""), r.proxy.Calls("GET /api/v1/adapters"); all != 3 || list != 3 {
			t.Fatalf("%d DittoFS calls (%d adapter lists) in 3 steady polls, want 3 adapter lists and nothing else", all, list)
		}
	})

	t.Run("a changed spec is pushed again, once", func(t *testing.T) {
		l.Parent["spec"].(map[string]any)["snapshotPolicies"].([]any)[0].(map[string]any)["keepLast"] = 3
		r.proxy.ResetCalls()
		l.Sync()
		if n := r.proxy.Calls("PUT /api/v1/shares/"); n != 1 {
			t.Fatalf("%d policy writes for one changed policy, want 1", n)
		}
		if _, p := policy("archive"); p["keep_last"] != float64(3) {
			t.Fatalf("archive's policy after the change: %v", p)
		}
		r.proxy.ResetCalls()
		l.Sync()
		if n := r.proxy.Calls(""); n != 1 {
			t.Fatalf("%d DittoFS calls in the poll after the push, want 1", n)
		}
	})

	t.Run("a policy dropped from the spec is deleted; another share's stays", func(t *testing.T) {
		l.Parent["spec"].(map[string]any)["snapshotPolicies"] = []any{map[string]any{"share": "/archive", "interval": "@daily", "keepLast": 3}}
		l.Sync()
		if code, _ := policy("projects"); code != http.StatusNotFound {
			t.Fatalf("projects' policy after it left the spec: %d, want 404", code)
		}
		if code, p := policy("other"); code != 200 || p["interval"] != "1h0m0s" {
			t.Fatalf("the administrator's own policy on /other: %d %v", code, p)
		}
		if st := snapshotStatus(); fmt.Sprint(st["shares"]) != "[/archive]" {
			t.Fatalf("status.snapshotPolicies.shares %v, want [/archive]", st["shares"])
		}
	})
}

// TestRenderedConfigInDittoFS: the config.yaml the hook renders for every
// section the upstream operator renders — TLS and mutual TLS, metrics with a
// token, LDAP, Kerberos with krb5.conf and a machine account, Postgres — with
// the environment the pod gets from its Secrets, is read by the real dfs
// (dfs config show) as meant: every value where DittoFS looks for it, the
// secrets from the environment.
func TestRenderedConfigInDittoFS(t *testing.T) {
	spec := map[string]any{
		"storage":      map[string]any{"metadataSize": "1Gi"},
		"controlPlane": map[string]any{"certSecretName": "tls", "clientCASecretName": "ca"},
		"database":     map[string]any{"postgresSecretRef": map[string]any{"name": "pg", "key": "connection-string"}},
		"logging":      map[string]any{"level": "WARN", "format": "text", "output": "/data/controlplane/dfs.log"},
		"metrics":      map[string]any{"enabled": true, "port": 9100, "path": "/m", "bearerTokenSecret": map[string]any{"name": "token", "key": "t"}},
		"identity": map[string]any{
			"ldap": map[string]any{"enabled": true, "url": "ldap://dc.example.com:389", "startTLS": true, "baseDN": "DC=example,DC=com", "bindDN": "CN=svc,DC=example,DC=com",
				"bindPasswordSecretRef": map[string]any{"name": "ldap", "key": "pw"}, "userAttr": "uid", "realm": "EXAMPLE.COM", "idmap": "rfc2307", "caCertFile": "/etc/ssl/ad-ca.crt"},
			"kerberos": map[string]any{"enabled": true, "servicePrincipal": "nfs/files.example.com@EXAMPLE.COM", "dnsDomain": "example.com",
				"keytabSecretRef": map[string]any{"name": "kt", "key": "keytab"}, "krb5ConfSecretRef": map[string]any{"name": "krb5", "key": "krb5.conf"},
				"machineAccount": map[string]any{"enabled": true, "accountName": "FILES$", "dcAddress": []any{"dc1.example.com", "dc2.example.com:445"},
					"secretRef": map[string]any{"name": "machine", "key": "pw"}}},
		},
	}
	l := controller.NewLoop(t, "", "demo", spec)
	req, err := hook.DecodeSyncRequest(l.Request())
	if err != nil {
		t.Fatal(err)
	}
	in, err := hook.Prepare(req, hook.Ceiling{})
	if err != nil || in.InvalidSpec() != nil {
		t.Fatalf("prepare: %v %v", err, in.InvalidSpec())
	}
	b, _ := json.Marshal(in.Desired(hook.Observation{}, time.Now(), hook.NewSeededSecretSource("k")))
	var resp struct {
		Children []struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Env []struct {
								Name      string `json:"name"`
								Value     string `json:"value"`
								ValueFrom *struct {
									SecretKeyRef struct{ Name, Key string } `json:"secretKeyRef"`
								} `json:"valueFrom"`
							} `json:"env"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"children"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(harness.Binary(t, "dfs"), "config", "show", "--config", filepath.Join(dir, "config.yaml"))
	cmd.Env = []string{"HOME=" + dir}
	for _, c := range resp.Children {
		switch c.Kind {
		case "ConfigMap":
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(c.Data["config.yaml"]), 0o600); err != nil {
				t.Fatal(err)
			}
		case "StatefulSet":
			for _, e := range c.Spec.Template.Spec.Containers[0].Env {
				v := e.Value
				if e.ValueFrom != nil {
					// What the kubelet would put there: a value naming
					// its Secret and key.
					v = e.ValueFrom.SecretKeyRef.Name + "." + e.ValueFrom.SecretKeyRef.Key
					if strings.HasSuffix(e.Name, "_PORT") {
						v = "5432"
					}
				}
				cmd.Env = append(cmd.Env, e.Name+"="+v)
			}
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dfs config show: %v\n%s", err, out)
	}
	shown := string(out)
	for _, want := range []string{
		"type: postgres", "host: pg.host", "database: pg.database", "user: pg.user", // from the environment
		"level: WARN", "output: /data/controlplane/dfs.log",
		"cert_file: /tls/tls.crt", "key_file: /tls/tls.key", "client_ca: /tls-client-ca/ca.crt",
		"port: 9100", "path: /m", "auth: token", "token_file: /metrics-token/token",
		"url: ldap://dc.example.com:389", "start_tls: true", "bind_dn: CN=svc,DC=example,DC=com", "user_attr: uid", "ca_cert_file: /etc/ssl/ad-ca.crt",
		"keytab_path: /kerberos/dittofs.keytab", "service_principal: nfs/files.example.com@EXAMPLE.COM", "realm: EXAMPLE.COM", "krb5_conf: /kerberos-krb5/krb5.conf",
		"account_name: FILES$", "- dc2.example.com:445",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("dfs config show lacks %q", want)
		}
	}
	// The secrets reached DittoFS (shown redacted): the bind password, the
	// machine account's, Postgres's.
	if n := strings.Count(shown, "'********'"); n < 3 {
		t.Errorf("%d redacted secrets in dfs config show, want at least 3 (LDAP bind, machine account, Postgres):\n%s", n, shown)
	}
}
