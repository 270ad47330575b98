package cluster

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

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Cluster is a real Kubernetes control plane: etcd, kube-apiserver and
// kube-controller-manager, built from the Go module proxy. Start runs it
// on loopback with the namespace and garbage collector controllers and no
// kubelet (tests play it through status subresources); node.Start runs it
// as the control plane of a real one-node cluster.
type Cluster struct {
	// URL of the API server, https://127.0.0.1:<port>.
	URL string
	// Kubeconfig is a kubeconfig file for the admin (system:masters).
	Kubeconfig string
	// Token authenticates the admin.
	Token string
	// Dir holds the logs and state of every component.
	Dir string

	t       harness.T
	kubectl string
	client  *http.Client
	procs   []*harness.Process

	start         func(t harness.T, name, bin string, args ...string) *harness.Process
	apiserver     *harness.Process
	apiserverBin  string
	apiserverArgs []string
}

// Start starts etcd, kube-apiserver and a kubeconfig, installs the
// CRDs (crds: files or kustomize directories applied with kubectl), and only
// then starts kube-controller-manager (it needs 30 s to notice CRDs created
// after it starts). Logs go to dir. Every process is stopped by its PID when
// the test ends.
func Start(t harness.T, dir string, crds ...string) *Cluster {
	t.Helper()
	return StartControlPlane(t, dir, ControlPlane{
		Address:     "127.0.0.1",
		ServiceCIDR: "10.0.0.0/24",
		APIServerArgs: []string{
			"--endpoint-reconciler-type", "none",
			"--disable-admission-plugins", "ServiceAccount",
		},
		Controllers: "namespace,garbagecollector",
	}, crds)
}

// ControlPlane is what differs between the e2e suite's API-server-only
// cluster and the node tier's.
type ControlPlane struct {
	// Address the API server binds and advertises, and its Port (a free
	// one when 0).
	Address     string
	Port        int
	ServiceCIDR string
	// APIServerArgs and KCMArgs are added to the common flags.
	APIServerArgs, KCMArgs []string
	Controllers            string
	// Start starts a component (default: harness.Start with logs in dir;
	// the node tier starts them in its own cgroup).
	Start func(t harness.T, name, bin string, args ...string) *harness.Process
}

// StartControlPlane is Start with what cp says: the node tier's control
// plane (node.Start) is one.
func StartControlPlane(t harness.T, dir string, cp ControlPlane, crds []string) *Cluster {
	t.Helper()
	etcd := harness.Binary(t, "etcd")
	apiserver := harness.Binary(t, "kube-apiserver")
	kcm := harness.Binary(t, "kube-controller-manager")
	c := &Cluster{t: t, Dir: dir, kubectl: harness.Binary(t, "kubectl"), Token: "e2e-admin-token"}
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // loopback, self-signed
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if cp.Start == nil {
		cp.Start = func(t harness.T, name, bin string, args ...string) *harness.Process {
			return harness.Start(t, dir, name, bin, nil, args...)
		}
	}
	c.start = cp.Start

	clientPort, peerPort := harness.FreePort(t), harness.FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p := cp.Start(t, "etcd", etcd,
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
	port := cp.Port
	if port == 0 {
		port = harness.FreePort(t)
	}
	c.URL = fmt.Sprintf("https://%s:%d", cp.Address, port)
	c.apiserverBin = apiserver
	c.apiserverArgs = append([]string{
		"--etcd-servers", etcdURL,
		"--bind-address", cp.Address, "--advertise-address", cp.Address, "--secure-port", fmt.Sprint(port),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", cp.ServiceCIDR,
	}, cp.APIServerArgs...)
	c.apiserver = cp.Start(t, "kube-apiserver", apiserver, c.apiserverArgs...)
	c.procs = append(c.procs, c.apiserver)
	c.waitReady(c.apiserver)

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	c.writeKubeconfig(c.Kubeconfig, "e2e-admin", c.Token)
	for _, crd := range crds {
		flag := "-f"
		if st, err := os.Stat(crd); err == nil && st.IsDir() {
			flag = "-k"
		}
		c.Kubectl("apply", "--server-side", flag, crd)
	}
	if len(crds) > 0 {
		c.WaitCRDsEstablished(60 * time.Second)
	}
	p = cp.Start(t, "kube-controller-manager", kcm, append([]string{
		"--kubeconfig", c.Kubeconfig, "--controllers", cp.Controllers,
		"--leader-elect=false", "--secure-port=0", "--v=1"}, cp.KCMArgs...)...)
	c.procs = append(c.procs, p)
	return c
}

// RestartAPIServer stops kube-apiserver (SIGTERM) and starts it again with
// the same flags and state, waiting until it is ready.
func (c *Cluster) RestartAPIServer() {
	c.t.Helper()
	if err := c.StopAPIServer()(); err != nil {
		c.t.Fatalf("start kube-apiserver again: %v", err)
	}
}

// StopAPIServer stops kube-apiserver (SIGTERM) and returns the function
// that starts it again with the same flags and state and waits until it is
// ready (an outage as long as the caller likes).
func (c *Cluster) StopAPIServer() (start func() error) {
	_ = c.apiserver.Stop()
	return func() error {
		c.apiserver = c.start(c.t, "kube-apiserver", c.apiserverBin, c.apiserverArgs...)
		c.procs = append(c.procs, c.apiserver)
		c.waitReady(c.apiserver)
		return nil
	}
}

// APIServer is the running kube-apiserver process (node.Node's teardown
// dumps the cluster only while it runs).
func (c *Cluster) APIServer() *harness.Process { return c.apiserver }

func (c *Cluster) waitReady(p *harness.Process) {
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

// WaitCRDsEstablished waits until every CRD is Established. (kubectl wait
// --for=condition=Established fails at once, instead of waiting, on a CRD
// the API server has not yet given a status: seen on a loaded machine.)
func (c *Cluster) WaitCRDsEstablished(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.KubectlErr("get", "crd", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\n"}{end}`)
		pending := []string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" && !strings.HasSuffix(l, "=True") {
				pending = append(pending, l)
			}
		}
		if err == nil && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("CRDs not Established within %s: %v %v", timeout, pending, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.Dir, "kubectl-cache")}, args...)...)
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
		if _, err := fmt.Sscan(strings.TrimSpace(line[strings.LastIndex(line, "}")+1:]), &n); err != nil {
			continue // not a sample line
		}
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
func (c *Cluster) Processes() []*harness.Process { return c.procs }

// writeKubeconfig writes a kubeconfig for the API server with a bearer token.
func (c *Cluster) writeKubeconfig(path, user, token string) {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s, namespace: default}
current-context: e2e
`, c.URL, user, token, user)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// ServiceAccountKubeconfig writes a kubeconfig that acts as a ServiceAccount
// (a token from the API server's TokenRequest, valid for duration), so that
// a process run outside the cluster has exactly the permissions that
// account is granted, and returns its path.
func (c *Cluster) ServiceAccountKubeconfig(namespace, name string, duration time.Duration) string {
	token := strings.TrimSpace(c.Kubectl("create", "token", name, "-n", namespace, "--duration", duration.String()))
	path := filepath.Join(c.Dir, "kubeconfig-"+namespace+"-"+name)
	c.writeKubeconfig(path, "system:serviceaccount:"+namespace+":"+name, token)
	return path
}

// MarkStatefulSetReady plays the kubelet and the StatefulSet controller
// (neither runs here): StatefulSet ns/name has every replica of its current
// generation ready and up to date.
func (c *Cluster) MarkStatefulSetReady(ns, name string) {
	gen := c.Kubectl("get", "statefulset", name, "-n", ns, "-o", "jsonpath={.metadata.generation}")
	c.Kubectl("patch", "statefulset", name, "-n", ns, "--subresource=status", "--type=merge", "-p",
		`{"status":{"observedGeneration":`+gen+`,"replicas":1,"readyReplicas":1,"availableReplicas":1,"currentReplicas":1,"updatedReplicas":1}}`)
}
