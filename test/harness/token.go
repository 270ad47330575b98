package harness

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// HookTokenSecret and HookTokenNamespace are where the installs keep the
// bearer token Metacontroller sends to the hook (key "token").
const (
	HookTokenSecret    = "dittofs-hook-token"
	HookTokenNamespace = "dittofs-system"
)

// CreateHookToken does the install's first step, as the README says: the
// namespace from manifests/hook/namespace.yaml, then the Secret
// dittofs-hook-token holding a random token. It returns the token and a
// file under dir holding it, for a hook started on the host
// (--auth-token-file). kubectl is the cluster's (Cluster.Kubectl,
// Node.Kubectl).
func CreateHookToken(t T, kubectl func(args ...string) string, dir string) (token, file string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	kubectl("apply", "--server-side", "-f", filepath.Join(RepoRoot(), "manifests", "hook", "namespace.yaml"))
	kubectl("-n", HookTokenNamespace, "create", "secret", "generic", HookTokenSecret, "--from-literal=token="+token)
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
