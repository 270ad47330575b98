package node

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
)

// postgres: a DittoServer in upstream's shape whose control plane is
// PostgreSQL, named by a connection string (postgresSecretRef {name, key},
// the Secret holding only connection-string). DittoFS, in its pod, must get
// its settings from the Secret the hook derives, connect and make its
// control plane there.
//
// PostgreSQL is Debian's postgresql package, run on the node's host network
// namespace and listening on the node's address (host.NodeIP), which
// pods reach across the bridge as they reach the API server. Not in a pod:
// the node's images are put together from static host binaries
// (test/harness/node/image), and PostgreSQL's server links some 40 shared libraries
// and reads its share directory at start; an image of it would be an image
// builder of its own.
func (s *scenario) postgres(t *testing.T) {
	const (
		pgNS     = "postgres-demo"
		pgName   = "files-on-postgres"
		password = "node-p@ss:w/rd% 1"
	)
	n := s.n
	pg := dittofstest.StartPostgres(t, dittofstest.PostgresOptions{Listen: []string{host.NodeIP}, Clients: []string{host.PodCIDR}})
	pg.SQL(t, "", "CREATE ROLE dittofs LOGIN PASSWORD '"+password+"'")
	pg.SQL(t, "", "CREATE DATABASE dittofs_cp OWNER dittofs")
	dsn := (&url.URL{Scheme: "postgres", User: url.UserPassword("dittofs", password), Host: fmt.Sprintf("%s:%d", host.NodeIP, pg.Port),
		Path: "/dittofs_cp", RawQuery: "sslmode=disable"}).String()
	n.KubectlT(t, "create", "namespace", pgNS)
	// A literal, as a user writes it: the value never passes through a log.
	n.KubectlT(t, "create", "secret", "generic", "-n", pgNS, "postgres-credentials", "--from-literal=connection-string="+dsn)
	manifest := fmt.Sprintf(`apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: %s
  namespace: %s
spec:
  storage:
    metadataSize: 1Gi
  database:
    type: postgres
    postgresSecretRef:
      name: postgres-credentials
      key: connection-string
  adapterServices:
    type: ClusterIP
  adapterDiscovery:
    pollingInterval: 5s
  networkPolicy:
    apiFrom:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: dittofs-system
`, pgName, pgNS)
	t.Logf("$ kubectl apply -f - <<EOF\n%sEOF\n%s", manifest, n.Apply(t, manifest))
	n.WaitFor(t, "the DittoFS pod on PostgreSQL Ready by its own probes", 240*time.Second, func() (bool, string) {
		out, err := n.KubectlErr("get", "pod", "-n", pgNS, pgName+"-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.phase}`)
		return err == nil && strings.HasPrefix(out, "True"), out
	})
	n.WaitFor(t, "DatabaseReady and Authenticated", 120*time.Second, func() (bool, string) {
		out, _ := n.KubectlErr("get", "dittoserver", "-n", pgNS, pgName, "-o",
			`jsonpath={.status.conditions[?(@.type=="DatabaseReady")].status} {.status.conditions[?(@.type=="Authenticated")].status} {.status.conditions[?(@.type=="DatabaseReady")].message}`)
		return strings.HasPrefix(out, "True True"), out
	})
	t.Logf("$ kubectl get dittoserver,secrets -n %s\n%s", pgNS, n.KubectlT(t, "get", "dittoserver,secrets", "-n", pgNS))
	derived := n.KubectlT(t, "get", "statefulset", "-n", pgNS, pgName, "-o",
		`jsonpath={.spec.template.spec.containers[0].env[?(@.name=="DITTOFS_DATABASE_POSTGRES_HOST")].valueFrom.secretKeyRef.name}`)
	if !strings.HasPrefix(derived, pgName+"-postgres-conn-") {
		t.Errorf("DittoFS reads its Postgres host from Secret %q, not the one derived from the connection string", derived)
	}

	// DittoFS's own log: its control-plane store opened (on PostgreSQL:
	// the config says nothing else) and written to.
	logs := n.KubectlT(t, "logs", "-n", pgNS, pgName+"-0")
	for _, want := range []string{"Admin user created", "Default adapters created", "Server is running"} {
		if !strings.Contains(logs, want) {
			t.Errorf("DittoFS's log lacks %q:\n%s", want, logs)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "Admin user created") || strings.Contains(line, "Default adapters created") || strings.Contains(line, "Configuration loaded") {
			t.Logf("DittoFS: %s", line)
		}
	}
	// PostgreSQL's side: the pod's address connected, as dittofs, to
	// dittofs_cp, where DittoFS's users now are (the hook's k8s-operator
	// too, made through DittoFS's API).
	podIP := n.KubectlT(t, "get", "pod", "-n", pgNS, pgName+"-0", "-o", "jsonpath={.status.podIP}")
	for _, want := range []string{"connection received: host=" + podIP, "connection authorized: user=dittofs database=dittofs_cp"} {
		if !strings.Contains(pg.Log(), want) {
			t.Errorf("PostgreSQL's log lacks %q", want)
		}
	}
	for _, line := range strings.Split(pg.Log(), "\n") {
		if strings.Contains(line, "connection authorized: user=dittofs") {
			t.Logf("PostgreSQL: %s", line)
			break
		}
	}
	if users := pg.SQL(t, "dittofs_cp", "SELECT string_agg(username, ',' ORDER BY username) FROM users"); users != "admin,k8s-operator" {
		t.Errorf("users in dittofs_cp: %q, want admin,k8s-operator", users)
	}

	// Gone before PostgreSQL stops, so that nothing is left connecting.
	n.KubectlT(t, "delete", "namespace", pgNS, "--wait=false")
	n.WaitFor(t, "the namespace and its DittoServer gone", 240*time.Second, func() (bool, string) {
		out, err := n.KubectlErr("get", "namespace", pgNS, "-o", "name", "--ignore-not-found")
		return err == nil && strings.TrimSpace(out) == "", out
	})
}
