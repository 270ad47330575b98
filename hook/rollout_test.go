package hook_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// podHash is the config hash of the StatefulSet's pod template the hook
// answers, and the one status.configHash reports.
func podHash(t *testing.T, r *Request) string {
	t.Helper()
	var out struct {
		Status struct {
			ConfigHash string `json:"configHash"`
		} `json:"status"`
		Children []struct {
			Kind string `json:"kind"`
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"children"`
	}
	if err := json.Unmarshal(answer(t, syncCase{request: r, dittofs: nothing}), &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range out.Children {
		if c.Kind == "StatefulSet" {
			h := c.Spec.Template.Metadata.Annotations["dittofs.io/config-hash"]
			if h != out.Status.ConfigHash {
				t.Fatalf("pod template hash %s, status.configHash %s", h, out.Status.ConfigHash)
			}
			return h
		}
	}
	t.Fatal("no StatefulSet")
	return ""
}

// TestRotatedSecretRollsPod: a Secret DittoFS reads only at start (here the
// user's JWT key and the LDAP bind password) restarts DittoFS when it is
// rotated (a new resourceVersion); the administrator's password (read on
// the first start only), the server certificate (DittoFS reloads it) and
// an edit of the spec that leaves config.yaml as it is do not. The hash
// holds no Secret's data.
func TestRotatedSecretRollsPod(t *testing.T) {
	spec := func(mods ...Modifier) *Request {
		base := []Modifier{
			WithSpecField("identity.jwt.secretRef", map[string]any{"name": "jwt", "key": "k"}),
			WithSpecField("identity.ldap", map[string]any{"url": "ldaps://dc", "baseDN": "b", "bindDN": "c", "bindPasswordSecretRef": map[string]any{"name": "ldap", "key": "p"}}),
			WithSpecField("controlPlane", map[string]any{"certSecretName": "tls"}),
			WithRelatedSecret("jwt", map[string]string{"k": "signing-key-0123456789abcdef0123456789"}, "10"),
			WithRelatedSecret("ldap", map[string]string{"p": "bind"}, "20"),
			WithRelatedSecret("tls", map[string]string{"tls.crt": "c", "tls.key": "k", "ca.crt": "ca"}, "30"),
		}
		return Steady(append(base, mods...)...)
	}
	base := podHash(t, spec())
	for _, c := range []struct {
		name  string
		mod   Modifier
		rolls bool
	}{
		{"JWT key rotated", WithRelatedSecret("jwt", map[string]string{"k": "another-signing-key-0123456789abcdef0123"}, "11"), true},
		{"LDAP bind password rotated", WithRelatedSecret("ldap", map[string]string{"p": "new"}, "21"), true},
		{"LDAP bind password Secret deleted", WithoutRelatedSecret("ldap"), true},
		{"server certificate renewed", WithRelatedSecret("tls", map[string]string{"tls.crt": "c2", "tls.key": "k2", "ca.crt": "ca"}, "31"), false},
		{"admin password changed", WithRelatedEdit("Secret", "demo-admin-password", func(s map[string]any) { s["metadata"].(map[string]any)["resourceVersion"] = "999" }), false},
		{"adapter Services' annotations edited", WithSpecField("adapterServices.annotations", map[string]any{"a": "b"}), false},
		{"log level changed", WithSpecField("logging.level", "DEBUG"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := podHash(t, spec(c.mod))
			if (got != base) != c.rolls {
				t.Errorf("hash %s → %s; want a roll: %t", base, got, c.rolls)
			}
		})
	}
}

// TestCustomizeNamesUserSecrets: the customize answer asks for every
// Secret of the user's the hook reads (the admin password, the API's
// certificate, the Postgres Secret) or whose rotation restarts DittoFS, once
// each, and never for the Secrets the hook generates.
func TestCustomizeNamesUserSecrets(t *testing.T) {
	r := Captured(FirstSync,
		WithSpecField("identity.jwt.secretRef", map[string]any{"name": "jwt", "key": "k"}),
		WithSpecField("identity.kerberos", map[string]any{"enabled": true, "servicePrincipal": "nfs/x@X", "keytabSecretRef": map[string]any{"name": "kt", "key": "k"},
			"machineAccount": map[string]any{"enabled": true, "accountName": "D$", "secretRef": map[string]any{"name": "machine", "key": "p"}, "keytabSecretRef": map[string]any{"name": "machine", "key": "kt"}}}),
		WithSpecField("controlPlane", map[string]any{"certSecretName": "tls", "clientCASecretName": "client-ca"}),
		WithSpecField("database", map[string]any{"postgresSecretRef": map[string]any{"name": "pg", "key": "dsn"}}),
		WithSpecField("metrics", map[string]any{"enabled": true, "bearerTokenSecret": map[string]any{"name": "token", "key": "t"}}),
	)
	var req hook.CustomizeRequest
	if err := json.Unmarshal(r.JSON(), &req); err != nil {
		t.Fatal(err)
	}
	resp := hook.Customize(&req)
	want := []hook.RelatedResourceRule{{APIVersion: "v1", Resource: "secrets", Namespace: "default", Names: []string{"client-ca", "demo-admin-password", "jwt", "kt", "machine", "pg", "tls", "token"}}}
	if d := cmp.Diff(want, resp.RelatedResources); d != "" {
		t.Fatalf("related resources (-want +got):\n%s", d)
	}
}

// TestConnectionStringRollsPod: with DittoFS's Postgres settings derived
// from a connection string, a new version of the user's Secret rolls the
// pod (a new derived Secret, named in the pod template and its hash); the
// user's Secret deleted, or its string made unusable, does not: the pod
// keeps the settings it has.
func TestConnectionStringRollsPod(t *testing.T) {
	running := derivedPG("500")
	spec := func(mods ...Modifier) *Request {
		base := []Modifier{pgSpec, onPostgres, pgDSN(pgURL, "500"), WithChild(DerivedPostgresSecret(running, "pg", pgSettings)), WithPostgresEnv(running)}
		return Steady(append(base, mods...)...)
	}
	base := podHash(t, spec())
	for _, c := range []struct {
		name  string
		mod   Modifier
		rolls bool
	}{
		{"the same Secret again", pgDSN(pgURL, "500"), false},
		{"the connection string changed", pgDSN(strings.Replace(pgURL, "6432", "6433", 1), "501"), true},
		{"an explicit key added beside it", WithRelatedSecret("pg", map[string]string{"connection-string": pgURL, "sslmode": "require"}, "502"), true},
		{"the user's Secret deleted", WithoutRelatedSecret("pg"), false},
		{"the connection string made unusable", pgDSN("postgres://dittofs:pw@db:port/cp", "503"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := podHash(t, spec(c.mod))
			if (got != base) != c.rolls {
				t.Errorf("hash %s → %s; want a roll: %t", base, got, c.rolls)
			}
		})
	}
}
