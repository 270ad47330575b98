package harness

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is a real Kubernetes control plane on loopback: etcd,
// kube-apiserver and kube-controller-manager (namespace and garbage
// collector controllers), built from the Go module proxy. No kubelet runs:
// tests play it through status subresources.
type Cluster struct {
	// URL of the API server, https://127.0.0.1:<port>.
	URL string
	// Kubeconfig is a kubeconfig file for the admin (system:masters).
	Kubeconfig string
	// Token authenticates the admin.
	Token string
	// Dir holds the logs and state of every component.
	Dir string

	t       T
	kubectl string
	client  *http.Client
	procs   []*Process
}

// StartCluster starts etcd, kube-apiserver and a kubeconfig, installs the
// CRDs (crds: files or kustomize directories applied with kubectl), and only
// then starts kube-controller-manager (it needs 30 s to notice CRDs created
// after it starts). Logs go to dir. Every process is stopped by its PID when
// the test ends.
func StartCluster(t T, dir string, crds ...string) *Cluster {
	t.Helper()
	etcd := Binary(t, "etcd")
	apiserver := Binary(t, "kube-apiserver")
	kcm := Binary(t, "kube-controller-manager")
	c := &Cluster{t: t, Dir: dir, kubectl: Binary(t, "kubectl"), Token: "e2e-admin-token"}
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // loopback, self-signed
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}

	clientPort, peerPort := FreePort(t), FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p := Start(t, dir, "etcd", etcd, nil,
		"--name", "e2e", "--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL, "--unsafe-no-fsync", "--log-level", "warn")
	c.procs = append(c.procs, p)
	p.WaitHTTP(t, etcdURL+"/health", 60*time.Second)

	saKey := filepath.Join(dir, "certs", "sa.key")
	saPub := filepath.Join(dir, "certs", "sa.pub")
	for _, args := range [][]string{{"genrsa", "-out", saKey, "2048"}, {"rsa", "-in", saKey, "-pubout", "-out", saPub}} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	tokens := filepath.Join(dir, "certs", "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.Token+`,e2e-admin,e2e-admin,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	p = Start(t, dir, "kube-apiserver", apiserver, nil,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none", "--secure-port", fmt.Sprint(port),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--disable-admission-plugins", "ServiceAccount")
	c.procs = append(c.procs, p)
	c.waitReady(p)

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: e2e-admin
  user:
    token: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e-admin, namespace: default}
current-context: e2e
`, c.URL, c.Token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		flag := "-f"
		if st, err := os.Stat(crd); err == nil && st.IsDir() {
			flag = "-k"
		}
		c.Kubectl("apply", "--server-side", flag, crd)
	}
	if len(crds) > 0 {
		c.Kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
	}
	p = Start(t, dir, "kube-controller-manager", kcm, nil,
		"--kubeconfig", c.Kubeconfig, "--controllers", "namespace,garbagecollector",
		"--leader-elect=false", "--secure-port=0", "--v=1")
	c.procs = append(c.procs, p)
	return c
}

func (c *Cluster) waitReady(p *Process) {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			c.t.Fatalf("kube-apiserver exited:\n%s", p.Tail())
		}
		code, _ := c.Do("GET", "/readyz", "", nil)
		if code == 200 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("kube-apiserver not ready after 90s:\n%s", p.Tail())
}

// Kubectl runs kubectl against the cluster and returns its stdout; a
// failure fails the test.
func (c *Cluster) Kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.KubectlErr(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// KubectlErr runs kubectl and returns its stdout, or an error with stderr.
func (c *Cluster) KubectlErr(args ...string) (string, error) {
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// KubectlPath is the kubectl binary.
func (c *Cluster) KubectlPath() string { return c.kubectl }

// Do calls the API server as the admin. contentType applies when body is
// not nil; the body is JSON-encoded unless it is []byte.
func (c *Cluster) Do(method, path, contentType string, body any) (int, []byte) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode %s %s: %v", method, path, err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, c.URL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// Writes returns the API server's count of write requests (POST, PUT,
// PATCH, DELETE) by resource, from its own /metrics.
func (c *Cluster) Writes() map[string]int {
	c.t.Helper()
	code, body := c.Do("GET", "/metrics", "", nil)
	if code != 200 {
		c.t.Fatalf("GET /metrics: %d", code)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels := line[strings.Index(line, "{")+1 : strings.LastIndex(line, "}")]
		var verb, resource, sub string
		for _, kv := range splitLabels(labels) {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "verb":
				verb = v
			case "resource":
				resource = v
			case "subresource":
				sub = v
			}
		}
		switch verb {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY", "UPDATE", "CREATE":
		default:
			continue
		}
		var n float64
		fmt.Sscan(strings.TrimSpace(line[strings.LastIndex(line, "}")+1:]), &n)
		if sub != "" {
			resource += "/" + sub
		}
		out[verb+" "+resource] += int(n)
	}
	return out
}

func splitLabels(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Processes lists the cluster's processes.
func (c *Cluster) Processes() []*Process { return c.procs }
