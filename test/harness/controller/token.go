package controller

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
)

// HookTokenSecret and HookTokenNamespace are where the installs keep the
// bearer token Metacontroller sends to the hook (key "token").
const (
	HookTokenSecret    = "dittofs-hook-token"
	HookTokenNamespace = "dittofs-system"
)

// CreateHookToken runs the install's first commands as docs/install.md
// writes them (its "Install on a cluster", step 2): the namespace from
// manifests/hook/namespace.yaml, then the Secret dittofs-hook-token with a
// token from openssl, with kubectl on the PATH pointed at the cluster. It
// returns the token, read back from the Secret, and a file under dir
// holding it, for a hook started on the host (--auth-token-file).
func CreateHookToken(t harness.T, c *cluster.Cluster, dir string) (token, file string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	bins := filepath.Join(dir, "token-bin")
	if err := os.MkdirAll(bins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c.KubectlPath(), filepath.Join(bins, "kubectl")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	for _, marker := range []string{"kubectl apply -f manifests/hook/namespace.yaml", "create secret generic " + HookTokenSecret} {
		var line string
		for _, cmd := range harness.ShellCommands(string(readme)) {
			if strings.Contains(cmd, marker) {
				line = cmd
				break
			}
		}
		if line == "" {
			t.Fatalf("docs/install.md has no install command with %q", marker)
		}
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = harness.RepoRoot()
		cmd.Env = append(os.Environ(), "PATH="+bins+":"+os.Getenv("PATH"), "KUBECONFIG="+c.Kubeconfig)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docs/install.md's %q: %v\n%s", line, err, out)
		}
	}
	if token = HookToken(c.KubectlErr); len(token) < 32 {
		t.Fatalf("docs/install.md's commands made a token of %d characters", len(token))
	}
	file = filepath.Join(dir, "hook-token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return token, file
}

// HookToken reads the token of a cluster's install ("" when there is
// none), as Metacontroller reads it for its webhooks.
func HookToken(kubectlErr func(args ...string) (string, error)) string {
	out, err := kubectlErr("-n", HookTokenNamespace, "get", "secret", HookTokenSecret, "-o", "jsonpath={.data.token}")
	if err != nil || out == "" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
