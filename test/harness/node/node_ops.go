package node

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/image"
)

// startAddons installs the cluster's DNS (CoreDNS as a pod behind the
// kube-dns Service, like kubeadm's, with no forward plugin: a name outside
// cluster.local gets SERVFAIL and no query leaves the machine) and its
// storage (local-path-provisioner on the host, its helper pods on the node,
// the default StorageClass).
func (n *Node) startAddons() {
	t := n.t
	n.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            ttl 5
        }
        cache 5
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      priorityClassName: system-cluster-critical
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: coredns
        image: %s
        imagePullPolicy: IfNotPresent
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: %s
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}
---
apiVersion: v1
kind: Namespace
metadata: {name: local-path-storage}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-provisioner, namespace: local-path-storage}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: local-path-storage}
data:
  config.json: '{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [%q]}]}'
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata: {name: helper-pod}
    spec:
      priorityClassName: system-node-critical
      tolerations: [{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}]
      containers:
      - name: helper-pod
        image: %s
        imagePullPolicy: IfNotPresent
`, image.CoreDNSImage, host.ClusterDNS, filepath.Join(n.Dir, "local-path"), image.BusyboxImage))
	n.start(t, "local-path-provisioner", harness.Binary(t, "local-path-provisioner"), "start",
		"--kubeconfig", n.Kubeconfig, "--namespace", "local-path-storage", "--helper-image", image.BusyboxImage,
		"--service-account-name", "local-path-provisioner", "--configmap-name", "local-path-config")
	n.WaitRollout(t, "kube-system", "deployment/coredns", 180*time.Second)
}

// Apply applies YAML (several documents allowed) with kubectl apply
// --server-side and returns kubectl's output.
func (n *Node) Apply(t harness.T, yaml string) string {
	t.Helper()
	out, err := n.KubectlInput(yaml, "apply", "--server-side", "--force-conflicts", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, yaml)
	}
	return out
}

// KubectlInput runs kubectl with stdin.
func (n *Node) KubectlInput(stdin string, args ...string) (string, error) {
	cmd := exec.Command(n.KubectlPath(), append([]string{"--kubeconfig", n.Kubeconfig, "--cache-dir", filepath.Join(n.Dir, "kubectl-cache")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// WaitRollout waits until a Deployment or StatefulSet has all its replicas
// updated and ready, dumping the cluster when it does not.
func (n *Node) WaitRollout(t harness.T, ns, what string, timeout time.Duration) {
	t.Helper()
	if out, err := n.KubectlErr("rollout", "status", "-n", ns, what, fmt.Sprintf("--timeout=%s", timeout)); err != nil {
		t.Fatalf("%s in %s did not roll out within %s: %v\n%s\nstate of the cluster: %s", what, ns, timeout, err, out, n.Dump(what))
	}
}

// ServiceIP returns a Service's cluster IP.
func (n *Node) ServiceIP(t harness.T, ns, name string) string {
	t.Helper()
	return strings.TrimSpace(n.kubectl(t, "get", "service", "-n", ns, name, "-o", "jsonpath={.spec.clusterIP}"))
}

// NodePort returns the node port of a Service's port (by port number).
func (n *Node) NodePort(t harness.T, ns, name string, port int) string {
	t.Helper()
	return strings.TrimSpace(n.kubectl(t, "get", "service", "-n", ns, name, "-o", fmt.Sprintf(`jsonpath={.spec.ports[?(@.port==%d)].nodePort}`, port)))
}

// RunPod starts a pod of ClientImage (smbclient, nfs-ls/-cp/-cat, a busybox
// shell) with the given labels and waits until it runs.
func (n *Node) RunPod(t harness.T, ns, name string, labels map[string]string) {
	t.Helper()
	var l strings.Builder
	for k, v := range labels {
		fmt.Fprintf(&l, "    %s: %q\n", k, v)
	}
	n.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
%s
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  enableServiceLinks: false
  containers:
  - name: client
    image: %s
    imagePullPolicy: IfNotPresent
`, name, ns, l.String(), image.ClientImage))
	n.WaitFor(t, "pod "+ns+"/"+name+" Ready", 90*time.Second, func() (bool, string) {
		out, err := n.KubectlErr("get", "pod", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.phase}`)
		return err == nil && strings.HasPrefix(out, "True"), out
	})
}

// Exec runs a shell command in a pod's first container and returns its
// combined output; err is not nil when it exited non-zero or took longer
// than timeout.
func (n *Node) Exec(ns, pod string, timeout time.Duration, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.KubectlPath(), "--kubeconfig", n.Kubeconfig, "--cache-dir", filepath.Join(n.Dir, "kubectl-cache"), "exec", "-n", ns, pod, "--", "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("timed out after %s", timeout)
	}
	return string(out), err
}

// startLoadBalancers plays the cloud: every LoadBalancer Service without an
// address gets one from LoadBalancerCIDR. A Service deleted and created
// again under the same name gets its old address back, as a cloud that
// keeps a reserved IP would; kube-proxy then routes it on the node.
func (n *Node) startLoadBalancers() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stopLB, n.lbDone = cancel, make(chan struct{})
	prefix := strings.TrimSuffix(host.LoadBalancerCIDR, "0/24")
	go func() {
		defer close(n.lbDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
			out, err := n.KubectlErr("get", "services", "-A", "-o", `jsonpath={range .items[?(@.spec.type=="LoadBalancer")]}{.metadata.namespace} {.metadata.name} {.status.loadBalancer.ingress[0].ip}{"\n"}{end}`)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) != 2 {
					continue
				}
				key := f[0] + "/" + f[1]
				n.lbMu.Lock()
				ip, ok := n.lbAddrs[key]
				if !ok {
					ip = fmt.Sprintf("%s%d", prefix, n.lbNext)
					n.lbNext++
					n.lbAddrs[key] = ip
				}
				n.lbMu.Unlock()
				_, _ = n.KubectlErr("patch", "service", "-n", f[0], f[1], "--subresource=status", "--type=merge",
					"-p", fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":%q,"ipMode":"VIP"}]}}}`, ip))
			}
		}
	}()
}

// HostShell runs a shell command on the host (a client such as smbclient
// against a node port) and returns its combined output.
func HostShell(timeout time.Duration, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", script).CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("timed out after %s", timeout)
	}
	return string(out), err
}

// kubectl runs kubectl and fails t (not the test that started the node)
// when it fails.
func (n *Node) kubectl(t harness.T, args ...string) string {
	t.Helper()
	out, err := n.KubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// KubectlT is Kubectl failing t, for use in subtests.
func (n *Node) KubectlT(t harness.T, args ...string) string {
	t.Helper()
	return n.kubectl(t, args...)
}
