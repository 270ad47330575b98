package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// sampleRun is how one upstream sample is brought up here: the hook and the
// real Metacontroller run on loopback, the test plays the kubelet
// (a real DittoFS v0.29.0 per sample, started with the administrator
// password the pod would get), the cloud (load balancer addresses) and,
// for the Percona sample, the Percona operator (the cluster's state and its
// user Secret).
type sampleRun struct {
	file string
	// tls: the sample's API is served over TLS (certSecretName).
	tls bool
	// percona: the sample runs its control plane on a PerconaPGCluster.
	percona bool
	// withoutSMB: the sample's spec.smb, which upstream's own CRD refuses,
	// is left out (nothing else changes: its name, its Secrets).
	withoutSMB bool
	// postgresDSN: the sample's Postgres Secret holds only a connection
	// string; these are the settings DittoFS must get from it.
	postgresDSN map[string]string
}

// samplesReachReady applies every upstream sample that upstream's CRD
// accepts, with the opt-in child types installed (their CRDs present, the
// CompositeController with manifests/components/servicemonitor and
// percona), and waits for each to be
// Ready. The only edit is controlPlane.port, a free port of this machine
// (every sample says 8080, and each DittoFS listens on loopback here).
func samplesReachReady(t *testing.T, c *cluster.Cluster, dir string) {
	root := harness.RepoRoot()
	c.Kubectl("apply", "--server-side", "-f", filepath.Join(root, "test", "testdata", "crds", "optin-crds.yaml"))
	c.WaitCRDsEstablished(60 * time.Second)
	mc, _ := startHookAndMetacontroller(t, c, dir, "dynamic-apply", "servicemonitor", "percona")

	samples := filepath.Join(root, "test", "testdata", "upstream", "samples")
	c.Kubectl("apply", "-f", filepath.Join(samples, "dittofs_secrets.yaml"))
	for _, run := range []sampleRun{
		{file: "ditto.io_v1alpha1_dittoserver.yaml"},
		{file: "ditto.io_v1alpha1_dittoserver_aws_s3.yaml"},
		{file: "dittofs_v1alpha1_dittofs_memory.yaml"},
		{file: "dittofs_v1alpha1_dittofs_s3.yaml"},
		{file: "dittofs_v1alpha1_dittoserver_percona.yaml", percona: true},
		{file: "dittofs_v1alpha1_dittoserver_tls.yaml", tls: true},
		// Upstream's production-like sample: a 34-character name, every
		// credential from a Secret, Postgres from a connection string.
		{file: "dittofs-s3-smb-server-with-secrets.yaml", withoutSMB: true, postgresDSN: map[string]string{
			"host": "host", "port": "5432", "database": "dittofs", "user": "user", "password": "password", "sslmode": "disable"}},
	} {
		t.Run(run.file, func(t *testing.T) {
			start := time.Now()
			bringUp(t, c, dir, filepath.Join(samples, run.file), run)
			t.Logf("e2e: %s Ready in %s", run.file, time.Since(start).Round(time.Millisecond))
		})
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Errorf("Metacontroller saw errors:\n%s", strings.Join(errs, "\n"))
	}
}

// startHookAndMetacontroller starts the real hook binary, calling DittoFS on
// loopback and recording Events as the cluster's administrator, and the
// real Metacontroller with the given apply strategy, serving the project's
// CompositeController with the given opt-in components of
// manifests/components, its webhooks pointed at the hook; both stop when
// the test ends; the hook requires the install's token, which the README's
// commands create (controller.CreateHookToken). It returns Metacontroller and
// the hook's URL.
func startHookAndMetacontroller(t *testing.T, c *cluster.Cluster, dir, strategy string, components ...string) (*controller.HostMetacontroller, string) {
	bin := harness.BuildHook(t, dir)
	port := harness.FreePort(t)
	hookURL := harness.URL(port, "")
	// The install's token, which the CompositeController's webhooks send.
	_, tokenFile := controller.CreateHookToken(t, c, dir)
	hook := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--dittofs-url-template", "http://127.0.0.1:{{.Port}}", "--dittofs-timeout", "5s", "--log-format", "text", "--log-level", "debug",
		"--auth-token-file", tokenFile,
		"--kubeconfig", c.Kubeconfig) // Events recorded on the real API server
	hook.WaitHTTP(t, hookURL+"/readyz", 10*time.Second)
	c.Kubectl("apply", "--server-side", "-f", controller.MetacontrollerCRDs(t))
	c.WaitCRDsEstablished(60 * time.Second)
	controller.ApplyCompositeController(t, c, dir, hookURL, components...)
	return controller.StartMetacontroller(t, c, dir, strategy), hookURL
}

func bringUp(t *testing.T, c *cluster.Cluster, dir, file string, run sampleRun) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	port := harness.FreePort(t)
	var name, adminSecret, adminKey string
	var out []string
	for _, doc := range strings.Split(string(raw), "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
			continue
		}
		if obj["kind"] == "DittoServer" {
			name = obj["metadata"].(map[string]any)["name"].(string)
			spec := obj["spec"].(map[string]any)
			if run.withoutSMB {
				delete(spec, "smb")
			}
			cp, _ := spec["controlPlane"].(map[string]any)
			if cp == nil {
				cp = map[string]any{}
				spec["controlPlane"] = cp
			}
			cp["port"] = port
			if id, ok := spec["identity"].(map[string]any); ok {
				if admin, ok := id["admin"].(map[string]any); ok {
					if ref, ok := admin["passwordSecretRef"].(map[string]any); ok {
						adminSecret, adminKey = ref["name"].(string), ref["key"].(string)
					}
				}
			}
		}
		b, _ := json.Marshal(obj)
		out = append(out, string(b))
	}
	f := filepath.Join(dir, "sample-"+filepath.Base(file)+".json")
	_ = os.WriteFile(f, []byte(`{"apiVersion":"v1","kind":"List","items":[`+strings.Join(out, ",")+`]}`), 0o644)
	c.Kubectl("apply", "-f", f)
	get := func(args ...string) string {
		o, _ := c.KubectlErr(append([]string{"get", "-n", "dittofs"}, args...)...)
		return o
	}
	wait := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s\n%s", what, timeout, get("dittoserver", name, "-o", "jsonpath={.status}"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if run.percona {
		// Play the Percona operator: its user Secret, then the cluster
		// serves. DittoFS is not created before.
		cluster := name + "-postgres"
		wait("PerconaPGCluster created", 30*time.Second, func() bool { return get("perconapgcluster", cluster, "-o", "name") != "" })
		if get("statefulset", name, "-o", "name") != "" {
			t.Fatal("DittoFS's StatefulSet exists before its database serves")
		}
		c.Kubectl("create", "secret", "generic", "-n", "dittofs", cluster+"-pguser-dittofs", "--from-literal=host="+cluster+"-primary.dittofs.svc",
			"--from-literal=port=5432", "--from-literal=dbname=dittofs", "--from-literal=user=dittofs", "--from-literal=password=pg-test-password")
		c.Kubectl("patch", "perconapgcluster", cluster, "-n", "dittofs", "--subresource=status", "--type=merge", "-p", `{"status":{"state":"ready"}}`)
	}
	wait("StatefulSet created", 30*time.Second, func() bool { return get("statefulset", name, "-o", "name") != "" })
	if adminSecret == "" {
		adminSecret, adminKey = name+"-admin-bootstrap-credentials", "password"
		wait("generated admin Secret", 30*time.Second, func() bool { return get("secret", adminSecret, "-o", "name") != "" })
	}
	password, err := base64.StdEncoding.DecodeString(get("secret", adminSecret, "-o", "jsonpath={.data."+strings.ReplaceAll(adminKey, ".", `\.`)+"}"))
	if err != nil || len(password) == 0 {
		t.Fatalf("admin password from Secret %s key %s: %v", adminSecret, adminKey, err)
	}
	opts := dittofstest.DittoFSOptions{AdminPassword: string(password), LogDir: dir, Port: port}
	if run.tls {
		opts.TLS = &dittofstest.TLSOptions{SANs: []string{"IP:127.0.0.1", "DNS:" + name + "-api.dittofs.svc.cluster.local"}}
	}
	dfs := dittofstest.StartDittoFS(t, opts)
	t.Cleanup(dfs.Stop)
	if run.tls {
		// What cert-manager would write: tls.crt, tls.key and ca.crt.
		certDir := t.TempDir()
		for n, b := range map[string][]byte{"tls.crt": dfs.ServerCert, "tls.key": dfs.ServerKey, "ca.crt": dfs.CA} {
			_ = os.WriteFile(filepath.Join(certDir, n), b, 0o600)
		}
		c.Kubectl("create", "secret", "generic", "-n", "dittofs", "dittofs-controlplane-tls", "--type=kubernetes.io/tls",
			"--from-file=tls.crt="+filepath.Join(certDir, "tls.crt"), "--from-file=tls.key="+filepath.Join(certDir, "tls.key"), "--from-file=ca.crt="+filepath.Join(certDir, "ca.crt"))
	}
	c.MarkStatefulSetReady("dittofs", name)
	wait("adapter Services", 30*time.Second, func() bool {
		return get("service", name+"-adapter-nfs", "-o", "name") != "" && get("service", name+"-adapter-smb", "-o", "name") != ""
	})
	for i, svc := range []string{name + "-adapter-nfs", name + "-adapter-smb"} {
		c.Kubectl("patch", "service", svc, "-n", "dittofs", "--subresource=status", "--type=merge", "-p", fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.%d"}]}}}`, 20+i))
	}
	wait("Ready", 60*time.Second, func() bool {
		gen, observed := get("statefulset", name, "-o", "jsonpath={.metadata.generation}"), get("statefulset", name, "-o", "jsonpath={.status.observedGeneration}")
		if gen != observed {
			c.MarkStatefulSetReady("dittofs", name) // the hook rolled the pod: play the kubelet again
		}
		return get("dittoserver", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`) == "True"
	})
	if run.tls {
		if got := get("statefulset", name, "-o", "jsonpath={.spec.template.spec.containers[0].readinessProbe.httpGet.scheme}"); got != "HTTPS" {
			t.Errorf("readiness probe scheme %q, want HTTPS", got)
		}
	}
	if run.postgresDSN != nil {
		checkDerivedPostgres(t, get, name, run.postgresDSN)
	}
	t.Logf("e2e: | %s", strings.Join(strings.Fields(get("dittoserver", name, "-o", "wide", "--no-headers")), " "))
}

// checkDerivedPostgres: DittoFS's Postgres settings come from the Secret
// the hook derived from the sample's connection string, as the API server
// stores it, and that Secret holds what the string says.
func checkDerivedPostgres(t *testing.T, get func(args ...string) string, name string, want map[string]string) {
	t.Helper()
	secret := get("statefulset", name, "-o", `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="DITTOFS_DATABASE_POSTGRES_HOST")].valueFrom.secretKeyRef.name}`)
	if !strings.HasPrefix(secret, name+"-postgres-conn-") {
		t.Fatalf("DittoFS's Postgres host comes from Secret %q, not one derived from the connection string", secret)
	}
	var sec struct {
		Data     map[string]string `json:"data"`
		Metadata struct {
			Annotations     map[string]string `json:"annotations"`
			OwnerReferences []struct{ Kind, Name string }
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(get("secret", secret, "-o", "json")), &sec); err != nil {
		t.Fatalf("Secret %s: %v", secret, err)
	}
	got := map[string]string{}
	for k, v := range sec.Data {
		b, _ := base64.StdEncoding.DecodeString(v)
		got[k] = string(b)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Secret %s holds %v, want %v", secret, got, want)
	}
	if len(sec.Metadata.OwnerReferences) != 1 || sec.Metadata.OwnerReferences[0].Name != name || sec.Metadata.Annotations["dittofs.io/postgres-secret"] == "" {
		t.Errorf("Secret %s: owners %v, annotations %v", secret, sec.Metadata.OwnerReferences, sec.Metadata.Annotations)
	}
	t.Logf("e2e: %s: DittoFS's Postgres settings from Secret %s, derived from %s", name, secret, sec.Metadata.Annotations["dittofs.io/postgres-secret"])
}
