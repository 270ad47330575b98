package harness

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// SkipEnv, set to 1, lets a developer without the Go module proxy skip the
// tests that need real components (the README says what that leaves
// untested). Under CI=true it is refused: there, a missing component fails,
// and test/run.sh fails on any skipped test.
const SkipEnv = "DITTOFS_HOOK_SKIP_REAL"

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	binMu sync.Mutex
	bins  = map[string]string{}
	// BuildLog, when set, also receives test/tools/build.sh's progress
	// (the demo shows it, so that a first build does not look hung).
	BuildLog io.Writer
)

// Binary returns the path of a component built by test/tools/build.sh
// (dfs, etcd, kube-apiserver, kube-controller-manager, kubectl, helm,
// controller-gen), building it on first use. It fails the test, saying why,
// when the component cannot be built.
func Binary(t T, component string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := bins[component]; ok {
		return p
	}
	if os.Getenv(SkipEnv) == "1" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s=1 under CI=true: CI runs every test that needs the real %s", SkipEnv, component)
		}
		t.Skipf("%s=1: skipping a test that needs the real %s", SkipEnv, component)
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "test", "tools", "build.sh"), component)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if BuildLog != nil {
		cmd.Stderr = io.MultiWriter(&stderr, BuildLog)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("cannot build the real %s with test/tools/build.sh (it needs the Go module proxy; set %s=1 to skip such tests on a machine without it): %v\n%s", component, SkipEnv, err, lastLines(stderr.String(), 30))
	}
	p := strings.TrimSpace(stdout.String())
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("test/tools/build.sh %s printed %q, which is not an executable", component, p)
	}
	bins[component] = p
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
