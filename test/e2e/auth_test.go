package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/promscrape"
)

// TestWebhookAuthentication: the real Metacontroller v4.17.2, given the
// CompositeController as the installs render it, calls the hook with the
// install's bearer token, over plain HTTP by default and over HTTPS with
// the TLS switch (manifests/components/tls), trusting the CA of the
// Secret dittofs-hook-tls; a call without the token gets 401. The chart's
// TLS CompositeController, whose caBundle is an object (inline or
// secretRef), is accepted by the API server with Metacontroller's CRDs; a
// caBundle string, as the chart rendered it before, is refused.
//
// Metacontroller runs on the host against the test's API server; its
// webhook URLs are pointed at the hooks on loopback (the install's
// cluster DNS name is replaced, nothing else).
func TestWebhookAuthentication(t *testing.T) {
	root := harness.RepoRoot()
	mcBin := harness.Binary(t, "metacontroller")
	dir := t.TempDir()
	c := cluster.Start(t, dir,
		filepath.Join(root, "test", "testdata", "crds", "metacontroller-crds-v1.yaml"),
		filepath.Join(root, "manifests", "crd"))
	token, tokenFile := controller.CreateHookToken(t, c, dir)
	const authNS = "auth-e2e"
	c.Kubectl("create", "namespace", authNS)

	t.Run("the chart's TLS CompositeController is accepted", func(t *testing.T) {
		helm := harness.Binary(t, "helm")
		for _, set := range [][]string{
			{"--set", "tls.enabled=true"},
			{"--set", "tls.enabled=true,tls.secretName=mine", "--set-string", "tls.caBundle=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
		} {
			out, err := exec.Command(helm, append([]string{"template", "dittofs-hook", filepath.Join(root, "charts", "dittofs-hook"),
				"--namespace", "dittofs-system", "--show-only", "templates/compositecontroller.yaml"}, set...)...).Output()
			if err != nil {
				t.Fatalf("helm template %v: %v", set, err)
			}
			f := filepath.Join(dir, "cc-chart.yaml")
			_ = os.WriteFile(f, out, 0o644)
			if out, err := c.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", f); err != nil {
				t.Errorf("helm template %v: the API server refuses the CompositeController: %v\n%s", set, err, out)
			}
		}
		// The string the chart rendered before: refused.
		var cc map[string]any
		if err := yaml.Unmarshal(mustRender(t, "tls"), &cc); err != nil {
			t.Fatal(err)
		}
		cc["spec"].(map[string]any)["hooks"].(map[string]any)["sync"].(map[string]any)["webhook"].(map[string]any)["caBundle"] = "Y2E="
		old, _ := yaml.Marshal(cc)
		f := filepath.Join(dir, "cc-string.yaml")
		_ = os.WriteFile(f, old, 0o644)
		if out, err := c.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", f); err == nil {
			t.Errorf("a caBundle string was accepted: %s", out)
		}
	})

	// The plain hook and the HTTPS one, each requiring the token, their
	// metrics on a separate plain listener.
	type hook struct{ url, metrics string }
	hookBin := harness.BuildHook(t, dir)
	startHook := func(name string, tlsArgs ...string) hook {
		port, mport := harness.FreePort(t), harness.FreePort(t)
		p := harness.Start(t, dir, name, hookBin, nil, append([]string{"serve",
			"--listen", "127.0.0.1:" + strconv.Itoa(port), "--metrics-listen", "127.0.0.1:" + strconv.Itoa(mport),
			"--events=false", "--log-format", "text", "--auth-token-file", tokenFile}, tlsArgs...)...)
		p.WaitHTTP(t, harness.URL(mport, "/readyz"), 10*time.Second)
		scheme := "http"
		if len(tlsArgs) > 0 {
			scheme = "https"
		}
		return hook{url: scheme + "://127.0.0.1:" + strconv.Itoa(port), metrics: harness.URL(mport, "/metrics")}
	}
	plain := startHook("hook-plain")
	caPEM, certFile, keyFile := serveCert(t, dir)
	secure := startHook("hook-tls", "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	c.Kubectl("-n", "dittofs-system", "create", "secret", "generic", "dittofs-hook-tls", "--type=kubernetes.io/tls",
		"--from-file=tls.crt="+certFile, "--from-file=tls.key="+keyFile, "--from-file=ca.crt="+caPEM)

	apply := func(t *testing.T, component, url string) {
		t.Helper()
		cc := strings.ReplaceAll(string(mustRender(t, component)), "://dittofs-hook.dittofs-system.svc.cluster.local", "://"+strings.SplitN(url, "://", 2)[1])
		f := filepath.Join(dir, "cc-"+component+".yaml")
		_ = os.WriteFile(f, []byte(cc), 0o644)
		c.Kubectl("apply", "--server-side", "--force-conflicts", "-f", f)
	}
	apply(t, "", plain.url)
	harness.Start(t, dir, "metacontroller", mcBin, nil, "--kubeconfig", c.Kubeconfig, "--discovery-interval=5s",
		"--metrics-address=127.0.0.1:"+strconv.Itoa(harness.FreePort(t)),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(harness.FreePort(t)))

	created := func(t *testing.T, name string) {
		t.Helper()
		ds := fmt.Sprintf("apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  storage:\n    metadataSize: 1Gi\n", name, authNS)
		f := filepath.Join(dir, name+".yaml")
		_ = os.WriteFile(f, []byte(ds), 0o644)
		c.Kubectl("apply", "-f", f)
		deadline := time.Now().Add(90 * time.Second)
		for {
			out, err := c.KubectlErr("-n", authNS, "get", "configmap", name+"-config", "-o", "name")
			if err == nil && strings.TrimSpace(out) != "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Metacontroller did not create %s's children through the hook within 90 s", name)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Run("Metacontroller sends the token", func(t *testing.T) {
		created(t, "plain")
		if n := counter(t, plain.metrics, `dittofs_hook_requests_total{hook="sync",outcome="ok"}`); n < 1 {
			t.Errorf("%v authenticated syncs on the plain hook, want at least 1", n)
		}
		if n := counter(t, plain.metrics, `dittofs_hook_requests_total{hook="sync",outcome="unauthorized"}`); n != 0 {
			t.Errorf("%v of Metacontroller's syncs refused", n)
		}
		// Anyone else: 401, with a JSON body.
		req, _ := http.NewRequest(http.MethodPost, plain.url+"/sync", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte(`"status":401`)) {
			t.Errorf("a call without the token: %d %s", resp.StatusCode, body)
		}
		if token == "" {
			t.Fatal("no token")
		}
	})
	t.Run("with the TLS switch, over HTTPS", func(t *testing.T) {
		apply(t, "tls", secure.url)
		created(t, "secure")
		if n := counter(t, secure.metrics, `dittofs_hook_requests_total{hook="sync",outcome="ok"}`); n < 1 {
			t.Errorf("%v authenticated syncs over HTTPS, want at least 1", n)
		}
		if n := counter(t, secure.metrics, `dittofs_hook_requests_total{hook="sync",outcome="unauthorized"}`); n != 0 {
			t.Errorf("%v of Metacontroller's syncs over HTTPS refused", n)
		}
	})
}

// mustRender is the CompositeController of `kubectl kustomize manifests`
// with the component under manifests/components (none when "").
func mustRender(t *testing.T, component string) []byte {
	t.Helper()
	kubectl := harness.Binary(t, "kubectl")
	src := filepath.Join(harness.RepoRoot(), "manifests")
	if component != "" {
		d := t.TempDir()
		rel, _ := filepath.Rel(d, src)
		k := "resources:\n- " + rel + "\ncomponents:\n- " + filepath.Join(rel, "components", component) + "\n"
		if err := os.WriteFile(filepath.Join(d, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
		src = d
	}
	out, err := exec.Command(kubectl, "kustomize", src).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", src, err)
	}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var head struct{ Kind string }
		if yaml.Unmarshal([]byte(doc), &head) == nil && head.Kind == "CompositeController" {
			return []byte(doc)
		}
	}
	t.Fatal("no CompositeController rendered")
	return nil
}

// serveCert writes a CA and a serving certificate for 127.0.0.1 signed by
// it, and returns the files of the CA, the certificate and its key.
func serveCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e hook CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dittofs-hook"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames: []string{"dittofs-hook.dittofs-system.svc.cluster.local"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("hook-ca.crt", "CERTIFICATE", caDER), write("hook-tls.crt", "CERTIFICATE", leafDER), write("hook-tls.key", "EC PRIVATE KEY", keyDER)
}

// counter reads one sample of a Prometheus text exposition (0 when absent).
func counter(t *testing.T, url, series string) float64 {
	t.Helper()
	s, err := promscrape.Scrape(url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s[series]
}
