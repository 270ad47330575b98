package dittofs_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// pgPassword has what a connection string must escape or quote: @ : / % #
// space + ' \.
const pgPassword = `Leak-check-p@ss:w/rd% #x+y'q\z`

// percentEncode escapes every byte outside RFC 3986's unreserved set, as a
// user writing the password into a URL would.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestPostgresFromConnectionString runs the real DittoFS v0.29.0 against a
// real PostgreSQL (Debian's postgresql package, on loopback, IPv4 and IPv6)
// with the settings the real hook binary derives from a connection string
// in the user's Secret (upstream's postgresSecretRef.key): a URL with a
// percent-encoded password, a URL with an IPv6 host and no database (the
// user's name, as libpq), and the key=value form with a quoted password.
// DittoFS gets its settings as the pod would: each DITTOFS_DATABASE_POSTGRES_*
// variable of the StatefulSet the hook answered, from the Secret it names.
// DittoFS must make its control plane in that database (its log: the admin
// and the default adapters created; PostgreSQL's: the connection
// authorized), and the DittoServer reach AdaptersDiscovered through it.
// The password never appears in the hook's log (debug level) or status.
func TestPostgresFromConnectionString(t *testing.T) {
	dir := t.TempDir()
	pg := dittofstest.StartPostgres(t, dittofstest.PostgresOptions{Listen: []string{"127.0.0.1", "::1"}})
	pg.SQL(t, "", "CREATE ROLE ditto LOGIN PASSWORD '"+strings.ReplaceAll(pgPassword, "'", "''")+"'")
	for _, db := range []string{"cp_url", "ditto", "cp_keyvalue"} {
		pg.SQL(t, "", "CREATE DATABASE "+db+" OWNER ditto")
	}

	bin := harness.BuildHook(t, dir)
	port := harness.FreePort(t)
	hookProc := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "15s", "--log-level", "debug", "--log-format", "json", "--events=false")
	hookURL := harness.URL(port, "")
	hookProc.WaitHTTP(t, hookURL+"/readyz", 10*time.Second)

	p := strconv.Itoa(pg.Port)
	var statuses []string
	for i, c := range []struct{ name, dsn, database, from string }{
		{"url", "postgres://ditto:" + percentEncode(pgPassword) + "@127.0.0.1:" + p + "/cp_url?sslmode=disable&application_name=x", "cp_url", "127.0.0.1"},
		{"url-ipv6-no-database", "postgresql://ditto:" + percentEncode(pgPassword) + "@[::1]:" + p + "?sslmode=prefer", "ditto", "::1"},
		{"keyvalue", "host=::1 port=" + p + " dbname=cp_keyvalue user=ditto password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pgPassword) + "'", "cp_keyvalue", "::1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("pg%d", i)
			apiPort := harness.FreePort(t)
			l := controller.NewLoop(t, hookURL, name, map[string]any{
				"storage":          map[string]any{"metadataSize": "1Gi"},
				"controlPlane":     map[string]any{"port": apiPort},
				"adapterDiscovery": map[string]any{"pollingInterval": "5s"},
				"identity":         map[string]any{"admin": map[string]any{"passwordSecretRef": map[string]any{"name": "admin", "key": "password"}}},
				"database":         map[string]any{"type": "postgres", "postgresSecretRef": map[string]any{"name": "postgres-credentials", "key": "connection-string"}},
			})
			l.Related["Secret.v1"]["admin"] = relatedSecret("admin", "1", map[string][]byte{"password": []byte(dittofstest.AdminPassword)})
			l.Related["Secret.v1"]["postgres-credentials"] = relatedSecret("postgres-credentials", "7", map[string][]byte{"connection-string": []byte(c.dsn)})
			l.Sync()
			wantCondition(t, l, "DatabaseReady", "True", "PostgresSecretReady")

			// Play the kubelet: the StatefulSet's Postgres variables, each
			// from the Secret and key it names.
			var sts struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Env []struct {
									Name      string `json:"name"`
									ValueFrom struct {
										SecretKeyRef struct {
											Name, Key string
											Optional  bool
										} `json:"secretKeyRef"`
									} `json:"valueFrom"`
								} `json:"env"`
							} `json:"containers"`
						} `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(l.Child("StatefulSet.apps/v1", name), &sts); err != nil {
				t.Fatal(err)
			}
			var env []string
			for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
				ref := e.ValueFrom.SecretKeyRef
				if !strings.HasPrefix(e.Name, "DITTOFS_DATABASE_POSTGRES_") {
					continue
				}
				sec, ok := l.Children["Secret.v1"][ref.Name]
				if !ok {
					t.Fatalf("%s: Secret %s is not among the hook's children", e.Name, ref.Name)
				}
				v, ok := sec["data"].(map[string]any)[ref.Key].(string)
				if !ok {
					if !ref.Optional {
						t.Fatalf("%s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
					}
					continue
				}
				b, _ := base64.StdEncoding.DecodeString(v)
				env = append(env, e.Name+"="+string(b))
			}
			if len(env) < 5 {
				t.Fatalf("the pod would get %d Postgres settings", len(env))
			}
			dfs := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{Port: apiPort, LogDir: dir, Postgres: env})
			defer dfs.Stop()

			l.SetReady(name, 1)
			l.Sync() // provisions k8s-operator in DittoFS, in Postgres
			l.Sync()
			wantCondition(t, l, "AdaptersDiscovered", "True", "PollSucceeded")
			wantCondition(t, l, "DatabaseReady", "True", "PostgresSecretReady")
			b, _ := json.Marshal(l.Parent["status"])
			statuses = append(statuses, string(b))

			logs, _ := os.ReadFile(fmt.Sprintf("%s/dittofs-%d.log", dir, apiPort))
			for _, want := range []string{"Admin user created", "Default adapters created", "Server is running"} {
				if !strings.Contains(string(logs), want) {
					t.Errorf("DittoFS's log lacks %q:\n%s", want, logs)
				}
			}
			if users := pg.SQL(t, c.database, "SELECT string_agg(username, ',' ORDER BY username) FROM users"); users != "admin,k8s-operator" {
				t.Errorf("users in database %s: %q, want admin,k8s-operator", c.database, users)
			}
			if want := "connection authorized: user=ditto database=" + c.database; !strings.Contains(pg.Log(), want) {
				t.Errorf("PostgreSQL's log lacks %q", want)
			}
			if want := "connection received: host=" + c.from; !strings.Contains(pg.Log(), want) {
				t.Errorf("PostgreSQL's log lacks %q", want)
			}
			for _, line := range strings.Split(string(logs), "\n") {
				if strings.Contains(line, "Admin user created") || strings.Contains(line, "Default adapters created") {
					t.Logf("DittoFS (%s): %s", c.name, line)
				}
			}
		})
	}

	// The password in every form it took, nowhere the hook speaks.
	if err := hookProc.Stop(); err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(hookProc.Log)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"logs": string(logs), "status": strings.Join(statuses, "\n")}
	for _, form := range []string{pgPassword, percentEncode(pgPassword), url.QueryEscape(pgPassword), base64.StdEncoding.EncodeToString([]byte(pgPassword))} {
		for where, text := range places {
			if strings.Contains(text, form) {
				t.Errorf("the Postgres password appears in the hook's %s", where)
			}
		}
	}
}
