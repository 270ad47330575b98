package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
)

// TestHelmInstall installs, upgrades and uninstalls the chart with the real
// Helm on a real API server, with the README's commands.
func TestHelmInstall(t *testing.T) {
	root := harness.RepoRoot()
	c := cluster.Start(t, t.TempDir(), filepath.Join(root, "test", "testdata", "crds", "metacontroller-crds-v1.yaml"))
	helm := harness.Binary(t, "helm")
	chart := filepath.Join(root, "charts", "dittofs-hook")
	h := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(helm, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	h("install", "dittofs-hook", chart, "--namespace", "dittofs-system", "--create-namespace")
	c.Kubectl("label", "namespace", "dittofs-system", "pod-security.kubernetes.io/enforce=restricted")
	for _, obj := range []string{"deployment/dittofs-hook", "service/dittofs-hook", "networkpolicy/dittofs-hook", "networkpolicy/dittofs-hook-egress", "poddisruptionbudget/dittofs-hook", "serviceaccount/dittofs-hook"} {
		c.Kubectl("get", "-n", "dittofs-system", obj)
	}
	c.Kubectl("get", "compositecontroller", "dittofs-hook")
	c.Kubectl("get", "crd", "dittoservers.dittofs.dittofs.com")
	h("upgrade", "dittofs-hook", chart, "--namespace", "dittofs-system", "--set", "replicaCount=3,authToken.secretName=hook-token")
	if got := c.Kubectl("get", "-n", "dittofs-system", "deployment/dittofs-hook", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Fatalf("replicas after upgrade: %q", got)
	}
	if got := c.Kubectl("get", "compositecontroller", "dittofs-hook", "-o", "jsonpath={.spec.hooks.sync.webhook.authorization.secretRef.name}"); got != "hook-token" {
		t.Fatalf("webhook authorization after upgrade: %q", got)
	}
	h("uninstall", "dittofs-hook", "--namespace", "dittofs-system")
	if _, err := c.KubectlErr("get", "-n", "dittofs-system", "deployment/dittofs-hook"); err == nil {
		t.Fatal("the Deployment survived helm uninstall")
	}
}
