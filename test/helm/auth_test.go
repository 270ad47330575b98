package helm

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// webhooks are the three webhooks of a rendered CompositeController.
func webhooks(t *testing.T, cc map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, h := range []string{"customize", "sync", "finalize"} {
		w, ok := dig(cc, "spec", "hooks", h, "webhook").(map[string]any)
		if !ok {
			t.Fatalf("no %s webhook", h)
		}
		out[h] = w
	}
	return out
}

// TestAuthenticatedByDefault: both installs make Metacontroller send a
// bearer token from a Secret (Metacontroller v4.17.2's
// webhook.authorization) and make the hook require it, from the same
// Secret, mounted without `optional`: without the Secret the pod does not
// start. The chart generates the Secret (64 characters) unless told to use
// another; with kustomize a documented command creates it.
func TestAuthenticatedByDefault(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const (
		cc  = "CompositeController /dittofs-hook"
		dep = "Deployment dittofs-system/dittofs-hook"
	)
	wantAuth := map[string]any{"type": "Bearer", "secretRef": map[string]any{"name": "dittofs-hook-token", "namespace": "dittofs-system", "key": "token"}}
	for name, objs := range map[string]map[string]map[string]any{
		"kustomize": objects(t, run(t, kubectl, "kustomize", "manifests")),
		"chart":     objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system")),
	} {
		for hook, w := range webhooks(t, objs[cc]) {
			if d := cmp.Diff(wantAuth, w["authorization"]); d != "" {
				t.Errorf("%s: the %s webhook's authorization (-want +got):\n%s", name, hook, d)
			}
			if strings.HasPrefix(w["url"].(string), "https") || w["caBundle"] != nil {
				t.Errorf("%s: TLS is on by default: %v", name, w)
			}
		}
		c := dig(objs[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		if !strings.Contains(strings.Join(toStrings(c["args"]), " "), "--auth-token-file=/var/run/dittofs-hook/auth/token") {
			t.Errorf("%s: the hook runs without --auth-token-file: %v", name, c["args"])
		}
		want := []any{map[string]any{"name": "auth", "secret": map[string]any{"secretName": "dittofs-hook-token"}}}
		if d := cmp.Diff(want, dig(objs[dep], "spec", "template", "spec", "volumes").([]any)[:1]); d != "" {
			t.Errorf("%s: the token volume (-want +got):\n%s", name, d)
		}
	}
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system"))
	token, _ := base64.StdEncoding.DecodeString(str(dig(chart["Secret dittofs-system/dittofs-hook-token"], "data", "token")))
	if len(token) != 64 {
		t.Errorf("the chart's generated token has %d characters, want 64", len(token))
	}
	own := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "authToken.secretName=mine,authToken.key=bearer"))
	if _, ok := own["Secret dittofs-system/dittofs-hook-token"]; ok {
		t.Error("authToken.secretName set: the chart still generates a token")
	}
	if d := cmp.Diff(map[string]any{"type": "Bearer", "secretRef": map[string]any{"name": "mine", "namespace": "dittofs-system", "key": "bearer"}}, webhooks(t, own[cc])["sync"]["authorization"]); d != "" {
		t.Errorf("authToken.secretName: (-want +got):\n%s", d)
	}
}

// TestTLSSwitch: HTTPS to the hook is one switch in each install (the
// component manifests/components/tls, the chart's tls.enabled), and both
// render the same: the hook serves the Secret dittofs-hook-tls on the
// Service's port 443, Metacontroller calls https:// and trusts that
// Secret's ca.crt, through caBundle as Metacontroller v4.17.2 has it, an
// object (the chart rendered a string, which the API server refuses). The
// chart's tls.caBundle is PEM, rendered inline; without a Secret of
// the user's the chart generates a CA and a certificate for the Service's
// name.
func TestTLSSwitch(t *testing.T) {
	helm := harness.Binary(t, "helm")
	kubectl := harness.Binary(t, "kubectl")
	const (
		cc  = "CompositeController /dittofs-hook"
		dep = "Deployment dittofs-system/dittofs-hook"
		svc = "Service dittofs-system/dittofs-hook"
	)
	kust := objects(t, run(t, kubectl, "kustomize", overlay(t, "tls")))
	chart := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "tls.enabled=true,tls.secretName=dittofs-hook-tls"))
	if d := cmp.Diff(kust[cc]["spec"], chart[cc]["spec"]); d != "" {
		t.Errorf("CompositeController differs (-kustomize +helm):\n%s", d)
	}
	for hook, w := range webhooks(t, kust[cc]) {
		if w["url"] != "https://dittofs-hook.dittofs-system.svc.cluster.local/"+hook {
			t.Errorf("%s: url %v", hook, w["url"])
		}
		if d := cmp.Diff(map[string]any{"secretRef": map[string]any{"name": "dittofs-hook-tls", "namespace": "dittofs-system", "key": "ca.crt"}}, w["caBundle"]); d != "" {
			t.Errorf("%s: caBundle (-want +got):\n%s", hook, d)
		}
	}
	kc := dig(kust[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	hc := dig(chart[dep], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	for _, field := range []string{"args", "volumeMounts"} {
		if d := cmp.Diff(kc[field], hc[field]); d != "" {
			t.Errorf("hook container %s differs (-kustomize +helm):\n%s", field, d)
		}
	}
	if d := cmp.Diff(dig(kust[dep], "spec", "template", "spec", "volumes"), dig(chart[dep], "spec", "template", "spec", "volumes")); d != "" {
		t.Errorf("volumes differ (-kustomize +helm):\n%s", d)
	}
	if d := cmp.Diff(dig(kust[svc], "spec", "ports"), dig(chart[svc], "spec", "ports")); d != "" {
		t.Errorf("Service ports differ (-kustomize +helm):\n%s", d)
	}
	if port := dig(kust[svc], "spec", "ports").([]any)[0].(map[string]any)["port"]; port != float64(443) {
		t.Errorf("the hook's Service serves HTTPS on %v, want 443", port)
	}
	args := strings.Join(toStrings(kc["args"]), " ")
	for _, want := range []string{"--auth-token-file=", "--tls-cert-file=/var/run/dittofs-hook/tls/tls.crt", "--tls-key-file=/var/run/dittofs-hook/tls/tls.key"} {
		if !strings.Contains(args, want) {
			t.Errorf("hook args lack %s: %s", want, args)
		}
	}

	const pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	inline := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "tls.enabled=true,tls.secretName=mine", "--set-string", "tls.caBundle="+pemCA))
	if d := cmp.Diff(map[string]any{"inline": pemCA}, webhooks(t, inline[cc])["sync"]["caBundle"]); d != "" {
		t.Errorf("tls.caBundle (-want +got):\n%s", d)
	}

	gen := objects(t, run(t, helm, "template", "dittofs-hook", "charts/dittofs-hook", "--namespace", "dittofs-system", "--set", "tls.enabled=true"))
	sec := gen["Secret dittofs-system/dittofs-hook-tls"]
	if sec == nil || sec["type"] != "kubernetes.io/tls" {
		t.Fatalf("tls.enabled without a secretName generates no kubernetes.io/tls Secret: %v", sec)
	}
	decode := func(key string) []byte {
		b, err := base64.StdEncoding.DecodeString(str(dig(sec, "data", key)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return b
	}
	block, _ := pem.Decode(decode("tls.crt"))
	if block == nil {
		t.Fatal("tls.crt holds no PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(decode("ca.crt")) {
		t.Fatal("ca.crt holds no certificate")
	}
	for _, name := range []string{"dittofs-hook.dittofs-system.svc", "dittofs-hook.dittofs-system.svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the generated certificate does not verify for %s: %v", name, err)
		}
	}
	if len(decode("tls.key")) == 0 {
		t.Error("no tls.key")
	}
}
