package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestRenderSamples: `hook render` prints, for every sample, the children
// and status as YAML (the e2e suite applies them to a real API server).
func TestRenderSamples(t *testing.T) {
	samples, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "manifests", "samples", "*.yaml"))
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range samples {
		t.Run(filepath.Base(s), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"render", "-f", s, "--adapters", filepath.Join(harness.RepoRoot(), "test", "testdata", "dittofs", "adapters-fresh.body")}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var out struct {
				Children []struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					Metadata   struct {
						Name string `json:"name"`
					} `json:"metadata"`
				} `json:"children"`
				Status struct {
					Conditions []any `json:"conditions"`
				} `json:"status"`
			}
			if err := yaml.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("output is not the expected YAML: %v", err)
			}
			kinds := map[string]int{}
			for _, c := range out.Children {
				if c.APIVersion == "" || c.Kind == "" || c.Metadata.Name == "" {
					t.Errorf("child without apiVersion, kind or name: %+v", c)
				}
				kinds[c.Kind]++
			}
			if kinds["StatefulSet"] != 1 || kinds["Service"] < 4 || kinds["ConfigMap"] != 1 || len(out.Status.Conditions) < 7 {
				t.Fatalf("unexpected children %v / %d conditions", kinds, len(out.Status.Conditions))
			}
		})
	}
}

// TestRenderUpstreamSamples: every sample of the upstream operator v0.29.0
// that its own CRD accepts renders (with the opt-in child types a sample
// needs), and the two it refuses (spec.smb, a field of neither CRD) are
// refused here too, naming the field.
func TestRenderUpstreamSamples(t *testing.T) {
	dir := filepath.Join(harness.RepoRoot(), "test", "testdata", "upstream", "samples")
	for _, c := range []struct{ file, components, refused string }{
		{"ditto.io_v1alpha1_dittoserver.yaml", "", ""},
		{"ditto.io_v1alpha1_dittoserver_aws_s3.yaml", "", ""},
		{"dittofs_v1alpha1_dittofs_memory.yaml", "", ""},
		{"dittofs_v1alpha1_dittofs_s3.yaml", "", ""},
		{"dittofs_v1alpha1_dittoserver_percona.yaml", "percona", ""},
		{"dittofs_v1alpha1_dittoserver_tls.yaml", "", ""},
		{"dittofs-s3-smb-server.yaml", "", `unknown field "smb"`},
		{"dittofs-s3-smb-server-with-secrets.yaml", "", `unknown field "smb"`},
	} {
		t.Run(c.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"render", "-f", filepath.Join(dir, c.file), "--components", c.components}, &stdout, &stderr)
			if c.refused != "" {
				if code != 1 || !strings.Contains(stderr.String(), c.refused) {
					t.Fatalf("exit %d, stderr %q; want 1 naming %s", code, stderr.String(), c.refused)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var out struct {
				Children []struct {
					Kind string `json:"kind"`
				} `json:"children"`
			}
			if err := yaml.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, ch := range out.Children {
				kinds[ch.Kind]++
			}
			// With Percona, DittoFS waits for its database: the
			// PerconaPGCluster first, the StatefulSet once it serves.
			want := map[string]int{"StatefulSet": 1, "Service": 2, "ConfigMap": 1, "NetworkPolicy": 1}
			if c.components == "percona" {
				want = map[string]int{"PerconaPGCluster": 1, "Service": 2, "ConfigMap": 1, "NetworkPolicy": 1}
			}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%d %s, want %d (children %v)", kinds[k], k, n, kinds)
				}
			}
		})
	}
}

// withoutSMB is an upstream sample file without the DittoServer's spec.smb
// (a field of neither CRD), every other document as it is, in a file of
// the test's.
func withoutSMB(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, doc := range strings.Split(string(raw), "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
			continue
		}
		if obj["kind"] == "DittoServer" {
			delete(obj["spec"].(map[string]any), "smb")
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRenderUpstreamSampleWithSecrets: upstream's production-like sample
// (S3 payload, Postgres control plane, every credential from a Secret),
// without the spec.smb its own CRD refuses, renders under its own name of
// 34 characters; DittoFS's Postgres settings come from the connection
// string of its postgres-credentials Secret; and every Secret key the pod
// requires is in the sample's Secrets or in one the hook makes.
func TestRenderUpstreamSampleWithSecrets(t *testing.T) {
	file := withoutSMB(t, filepath.Join(harness.RepoRoot(), "test", "testdata", "upstream", "samples", "dittofs-s3-smb-server-with-secrets.yaml"))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "-f", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	type object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name      string `json:"name"`
							ValueFrom *struct {
								SecretKeyRef *struct {
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
	var out struct {
		Children []object `json:"children"`
		Status   struct {
			Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
		} `json:"status"`
	}
	if err := yaml.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	// The Secrets that exist: the sample's, and the hook's.
	keys := map[string]map[string]bool{}
	raw, _ := os.ReadFile(file)
	for _, doc := range strings.Split(string(raw), "---\n") {
		var o object
		if yaml.Unmarshal([]byte(doc), &o) == nil && o.Kind == "Secret" {
			keys[o.Metadata.Name] = map[string]bool{}
			for k := range o.Data {
				keys[o.Metadata.Name][k] = true
			}
		}
	}
	const name = "dittofs-s3-smb-server-with-secrets"
	var sts *object
	for i, c := range out.Children {
		switch {
		case c.Kind == "Secret":
			keys[c.Metadata.Name] = map[string]bool{}
			for k := range c.Data {
				keys[c.Metadata.Name][k] = true
			}
		case c.Kind == "StatefulSet" && c.Metadata.Name == name:
			sts = &out.Children[i]
		}
	}
	if sts == nil {
		t.Fatalf("no StatefulSet %s:\n%s", name, stdout.String())
	}
	postgres := 0
	for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if strings.HasPrefix(e.Name, "DITTOFS_DATABASE_POSTGRES_") {
			postgres++
			if !strings.HasPrefix(ref.Name, name+"-postgres-conn-") {
				t.Errorf("%s comes from Secret %s, not one derived from the connection string", e.Name, ref.Name)
			}
		}
		if !keys[ref.Name][ref.Key] && !ref.Optional {
			t.Errorf("%s needs key %s of Secret %s, which neither the sample nor the hook has (Secrets: %v)", e.Name, ref.Key, ref.Name, keys)
		}
	}
	if postgres < 6 {
		t.Errorf("%d Postgres settings from Secrets", postgres)
	}
	for _, c := range out.Status.Conditions {
		if c.Type == "DatabaseReady" && (c.Status != "True" || !strings.Contains(c.Message, "connection string in key connection-string of Secret postgres-credentials")) {
			t.Errorf("DatabaseReady %s %s: %s", c.Status, c.Reason, c.Message)
		}
		if strings.Contains(c.Message, "password") && strings.Contains(c.Message, "user:password") {
			t.Errorf("a condition quotes the connection string: %s", c.Message)
		}
	}
}

// TestRenderBadInput: a clear error on stderr and exit code 1.
func TestRenderBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	cases := []struct{ name, file, want string }{
		{"bad YAML", write("bad.yaml", "spec: [\n"), "not a YAML or JSON object"},
		{"no DittoServer", write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), "no DittoServer"},
		{"invalid quantity", write("q.yaml", "apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: x}\nspec: {storage: {metadataSize: lots}}\n"), `spec.storage.metadataSize: "lots" is not a Kubernetes quantity`},
		{"unknown field", write("u.yaml", "apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: x}\nspec: {storage: {metadataSize: 1Gi}, replica: 1}\n"), "unknown field"},
		{"polling too fast", write("p.yaml", "apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: x}\nspec: {storage: {metadataSize: 1Gi}, adapterDiscovery: {pollingInterval: 1s}}\n"), "below the minimum of 5s"},
		{"bad name", write("n.yaml", "apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: bad.name}\nspec: {storage: {metadataSize: 1Gi}}\n"), `: metadata.name: "bad.name" must be a DNS-1035 label`},
		{"not a Kubernetes name", write("k.yaml", "apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: Bad_Name}\nspec: {storage: {metadataSize: 1Gi}}\n"), `metadata.name: is not a DNS-1123 subdomain`},
		{"missing file", filepath.Join(dir, "nope.yaml"), "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"render", "-f", c.file}, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), c.want) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %d bytes; want 1 and %q", code, stderr.String(), stdout.Len(), c.want)
			}
		})
	}
}

// TestEnvFlags: every flag can come from DITTOFS_HOOK_<FLAG>.
func TestEnvFlags(t *testing.T) {
	t.Setenv("DITTOFS_HOOK_LOG_LEVEL", "shouting")
	var stderr bytes.Buffer
	if code := run([]string{"serve", "--listen", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), `--log-level "shouting"`) {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// TestDockerfile: the image builds the same package the tests build, with
// CGO off, and that build is a static binary that runs. (No Docker engine
// runs here; this is the part of the image that can be checked.)
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(df)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 .*go build .*-X main\.version=\$\{VERSION\}.* \./cmd/hook$`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static-debian1[2-9]:nonroot$`),
		regexp.MustCompile(`(?m)^USER 65532:65532$`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/hook"\]$`),
		regexp.MustCompile(`org\.opencontainers\.image\.source=`),
	} {
		if !want.MatchString(s) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	bin := filepath.Join(t.TempDir(), "hook")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=9.8.7", "-o", bin, "./cmd/hook")
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build as the Dockerfile does: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the image's binary needs a dynamic loader; distroless/static has none")
		}
	}
	if out, err := exec.Command(bin, "help").CombinedOutput(); err != nil || !strings.Contains(string(out), "Usage:") {
		t.Fatalf("static binary does not run: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || strings.TrimSpace(string(out)) != "9.8.7" {
		t.Fatalf("hook version = %q, %v; want the VERSION the image is built with", out, err)
	}
}

// TestServeTLSAndMetrics runs the binary with TLS, a bearer token and a
// separate metrics listener: the token is enforced, metrics appear after a
// sync, and a rotated certificate is served without a restart.
func TestServeTLSAndMetrics(t *testing.T) {
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, "first")
	tokenFile := filepath.Join(dir, "token")
	_ = os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600)
	port, mport := harness.FreePort(t), harness.FreePort(t)
	p := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--metrics-listen", "127.0.0.1:"+strconv.Itoa(mport), "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--auth-token-file", tokenFile, "--events=false")
	p.WaitHTTP(t, harness.URL(mport, "/readyz"), 10*time.Second)

	var seen string
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed test certificate; we check its subject below
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0].Subject.CommonName
			return nil
		},
	}, DisableKeepAlives: true}}
	body, _ := os.ReadFile(filepath.Join(harness.RepoRoot(), "test", "testdata", "metacontroller", "sync-first.json"))
	rotated := false // the token file holds another token now
	// A refused call gets its 401 before the hook reads a byte of the body,
	// and the connection closes: a client still writing a large body may
	// meet the close first. So refused calls carry a body that fits in one
	// write; accepted ones the captured request.
	post := func(token string) int {
		b := body
		if token != "tok-123" || rotated {
			b = []byte("{}")
		}
		req, _ := http.NewRequest("POST", "https://127.0.0.1:"+strconv.Itoa(port)+"/sync", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post("tok-123"); code != 200 {
		t.Fatalf("right token: %d", code)
	}
	if seen != "first" {
		t.Fatalf("served certificate %q", seen)
	}
	writeCert(t, certFile, keyFile, "second")
	time.Sleep(1100 * time.Millisecond) // a later modification time
	writeCert(t, certFile, keyFile, "second")
	if code := post("tok-123"); code != 200 || seen != "second" {
		t.Fatalf("after rotation: %d, certificate %q", code, seen)
	}
	_ = os.WriteFile(tokenFile, []byte("tok-456\n"), 0o600)
	rotated = true
	time.Sleep(50 * time.Millisecond)
	if code := post("tok-123"); code != 401 {
		t.Fatalf("old token after rotation: %d", code)
	}

	resp, err := http.Get(harness.URL(mport, "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m bytes.Buffer
	_, _ = m.ReadFrom(resp.Body)
	for _, want := range []string{
		`dittofs_hook_requests_total{hook="sync",outcome="ok"} 2`,
		`dittofs_hook_requests_total{hook="sync",outcome="unauthorized"} 2`,
		`dittofs_hook_request_duration_seconds_count{hook="sync"}`,
		`dittofs_hook_tokens_cached 0`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func writeCert(t *testing.T, certFile, keyFile, cn string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

// TestHelp: top-level help lists the subcommands and the environment
// variables; each command's -h lists its flags; both exit 0 on stdout.
func TestHelp(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"hook [serve] [flags]", "hook render -f FILE", "DITTOFS_HOOK_<FLAG>"}},
		{[]string{"-h"}, []string{"hook [serve] [flags]"}},
		{[]string{"help"}, []string{"hook render -f FILE"}},
		{[]string{"serve", "-h"}, []string{"Usage: hook serve [flags]", "DITTOFS_HOOK_<FLAG>", "-dittofs-timeout duration"}},
		{[]string{"render", "--help"}, []string{"Usage: hook render -f FILE", "-adapters string"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// TestFlagErrorsNameTheFlag: a bad value names the flag the same way
// whether it came from the command line or from DITTOFS_HOOK_<FLAG>.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	var fromFlag, fromEnv bytes.Buffer
	if code := run([]string{"serve", "--dittofs-timeout", "soon"}, io.Discard, &fromFlag); code != 1 {
		t.Fatalf("exit %d", code)
	}
	t.Setenv("DITTOFS_HOOK_DITTOFS_TIMEOUT", "soon")
	if code := run([]string{"serve"}, io.Discard, &fromEnv); code != 1 {
		t.Fatalf("exit %d", code)
	}
	const want = `invalid value "soon" for flag -dittofs-timeout`
	for name, got := range map[string]string{"flag": fromFlag.String(), "environment": fromEnv.String()} {
		if !strings.Contains(got, want) {
			t.Errorf("from the %s: %q does not contain %q", name, got, want)
		}
	}
	if !strings.Contains(fromEnv.String(), "DITTOFS_HOOK_DITTOFS_TIMEOUT") {
		t.Errorf("the error does not say which variable set it: %q", fromEnv.String())
	}
}

// TestMemoryLimit: --memory-limit (the container's limit, from the downward
// API) sets the Go soft memory limit to 90% of it; GOMEMLIMIT wins.
func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		limit string
		want  int64
	}{{"268435456", 241591905}, {"256Mi", 241591905}, {"1Gi", 966367638}} {
		t.Setenv("GOMEMLIMIT", "")
		if err := setMemoryLimit(c.limit, log); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("--memory-limit %s: soft limit %d, want %d", c.limit, got, c.want)
		}
	}
	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "100MiB")
	if err := setMemoryLimit("256Mi", log); err != nil || debug.SetMemoryLimit(-1) != before {
		t.Errorf("with GOMEMLIMIT set, --memory-limit changed the limit (%v)", err)
	}
	for _, bad := range []string{"lots", "0", "-1Mi"} {
		if err := setMemoryLimit(bad, log); err == nil {
			t.Errorf("--memory-limit %q accepted", bad)
		}
	}
}
