package readme

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
)

// readmeRule says what TestReadmeCommands does with a command of the README
// or a docs page that starts with prefix: run it here (run), or leave it to
// a named test or to a real cluster (elsewhere says where and why). A rule
// with a page applies to that page only.
type readmeRule struct {
	page      string
	prefix    string
	run       func(t *testing.T, cmd string, state *readmeState)
	elsewhere string
}

// readmeState carries what one command of a page leaves for the next: the
// hook that "go run ./cmd/hook serve" started in "one terminal", for the
// curl run "in another".
type readmeState struct {
	parent   *testing.T
	hookAddr string
}

var readmeRules = []readmeRule{
	{page: "docs/upstream-compat-research.md", elsewhere: "the research record of how upstream's TLS was measured by hand; TestTLSThroughTheHook and TestMutualTLSThroughTheHook check the same against the real DittoFS"},
	{prefix: "go run ./cmd/hook render ", run: runReadmeRender},
	{prefix: "go run ./cmd/hook serve ", run: runReadmeServe},
	{prefix: "curl ", run: runReadmeCurl},
	{prefix: "make push ", run: runReadmeMakeDryRun},
	{prefix: "go run ./test/demo", elsewhere: "the demo tier runs it (test/demo: interactively and with --exit-after-print)"},
	{prefix: "test/run.sh", elsewhere: "the test command itself, which runs this test"},
	{prefix: "DITTOFS_HOOK_SOAK_", elsewhere: "the soak on a real node (root); test/run.sh node runs it at its CI size"},
	{prefix: "test/bench.sh node", elsewhere: "the benchmark on a real node (root), which writes BENCHMARKS.md"},
	{prefix: "flock /run/lock/dittofs-hook-node.lock go test -tags scale ./test/scale", elsewhere: "the scale benchmark (build tag scale, never in CI's tiers): 200 DittoFS servers and a control plane for about 20 minutes; its figures are in BENCHMARKS.md"},
	{prefix: "DITTOFS_HOOK_SCALE_", elsewhere: "the scale benchmark at another size or tuning (build tag scale, never in CI's tiers)"},
	{prefix: "kubectl apply -k https://github.com/metacontroller/", elsewhere: "installs Metacontroller from the internet on a real cluster"},
	{prefix: "kubectl apply -f manifests/hook/namespace.yaml", elsewhere: "controller.CreateHookToken runs it, as written in docs/install.md, before each kustomize install of the e2e suite, the node tier and the demo (TestReadmeInstallIsDocsInstall: the README's is the same)"},
	{prefix: "kubectl -n dittofs-system create secret generic dittofs-hook-token", elsewhere: "controller.CreateHookToken runs it, as written in docs/install.md, before each kustomize install of the e2e suite, the node tier and the demo (TestReadmeInstallIsDocsInstall: the README's is the same)"},
	{prefix: "kubectl apply -k manifests", elsewhere: "a real cluster; the e2e suite applies the same kustomize install"},
	{prefix: "helm install dittofs-hook charts/dittofs-hook", elsewhere: "a real cluster; the e2e suite installs the chart with the real Helm"},
	{prefix: "kubectl label namespace dittofs-system", elsewhere: "a real cluster with the namespace Helm created"},
	{prefix: "kubectl apply -f manifests/samples/", elsewhere: "a real cluster; the e2e suite applies every sample"},
	{prefix: "kubectl get dittofs", elsewhere: "a real cluster; the e2e suite reads the printer columns"},
	{prefix: "kubectl events ", elsewhere: "a real cluster; the node tier and the e2e suite run it and print what it shows"},
	{prefix: "kubectl -n dittofs scale deployment dittofs-operator-controller-manager", elsewhere: "a real cluster running the upstream operator"},
	{prefix: "kubectl get dittoservers -A -o jsonpath=", elsewhere: "TestMoveFromUpstream runs it, as written, against a real API server"},
	{prefix: "ns=NAMESPACE name=NAME;", elsewhere: "TestMoveFromUpstream runs it, as written, against a real API server"},
	{prefix: "kubectl apply --server-side --force-conflicts -k manifests", elsewhere: "a real cluster; the e2e suite applies the same kustomize install server-side"},
	{prefix: "docker build ", elsewhere: "needs a Docker engine, which CI machines lack; TestDockerfile checks the Dockerfile's build and TestReadmeCommands the make targets"},
	{prefix: "docker push ", elsewhere: "needs a Docker engine and a registry"},
}

// TestReadmeCommands runs every shell command the README and the docs pages
// show that can run on this machine without a cluster, exactly as written
// (only the example port 8080 becomes a free one), and fails on a command it
// neither runs nor knows to need a cluster: a new command on any page must
// be classified here, and so is checked or explained.
func TestReadmeCommands(t *testing.T) {
	total := 0
	for _, page := range docPages(t) {
		md, err := os.ReadFile(filepath.Join(harness.RepoRoot(), page))
		if err != nil {
			t.Fatal(err)
		}
		cmds := harness.ShellCommands(string(md))
		total += len(cmds)
		state := &readmeState{parent: t}
		for _, cmd := range cmds {
			var rule *readmeRule
			for i := range readmeRules {
				if (readmeRules[i].page == "" || readmeRules[i].page == page) && strings.HasPrefix(cmd, readmeRules[i].prefix) {
					rule = &readmeRules[i]
					break
				}
			}
			switch {
			case rule == nil:
				t.Errorf("%s: command %q is neither run by TestReadmeCommands nor listed as needing a cluster", page, cmd)
			case rule.run != nil:
				t.Run(page+": "+cmd, func(t *testing.T) { rule.run(t, cmd, state) })
			default:
				t.Logf("not run here: %s: %s — %s", page, cmd, rule.elsewhere)
			}
		}
	}
	if total < 30 {
		t.Fatalf("found only %d commands in the sh blocks of the README and docs/", total)
	}
}

// docPages are the README and every page under docs/, relative to the
// repository's root.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "docs", "*.md"))
	if err != nil || len(pages) < 8 {
		t.Fatalf("docs/ holds %d pages (%v)", len(pages), err)
	}
	out := []string{"README.md"}
	for _, p := range pages {
		out = append(out, filepath.Join("docs", filepath.Base(p)))
	}
	return out
}

// bash runs a command line in the repository's root, as a user's shell
// does (without pipefail: `… | head -40` ends its writers early, which a
// user never sees); callers check what it printed.
func bash(t *testing.T, timeout time.Duration, cmd string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", cmd)
	c.Dir = harness.RepoRoot()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

func runReadmeRender(t *testing.T, cmd string, _ *readmeState) {
	out, err := bash(t, 3*time.Minute, cmd)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "kind: StatefulSet") || !strings.Contains(out, "conditions:") {
		t.Fatalf("render printed no children and status:\n%s", out)
	}
}

var readmePort = regexp.MustCompile(`127\.0\.0\.1:8080\b`)

func runReadmeServe(t *testing.T, cmd string, state *readmeState) {
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	c := exec.Command("bash", "-c", "exec "+readmePort.ReplaceAllString(cmd, addr))
	c.Dir = harness.RepoRoot()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM) // go run and the hook it started
		_ = c.Wait()
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the hook did not answer /healthz on %s:\n%s", addr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	state.hookAddr = addr // the curl that follows needs it running: stopped when the whole test ends
	state.parent.Cleanup(stop)
}

func runReadmeCurl(t *testing.T, cmd string, state *readmeState) {
	if state.hookAddr == "" {
		t.Fatal("the README's curl needs the hook it starts in the command before")
	}
	out, err := bash(t, time.Minute, readmePort.ReplaceAllString(cmd, state.hookAddr))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, `"children"`) && !strings.Contains(out, `"status"`) {
		t.Fatalf("the hook's answer is not a sync response:\n%s", out)
	}
}

// runReadmeMakeDryRun checks a make target by what it would run (make -n):
// the image targets need a Docker engine.
func runReadmeMakeDryRun(t *testing.T, cmd string, _ *readmeState) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed (test/run.sh installs it)")
	}
	out, err := bash(t, time.Minute, strings.Replace(cmd, "make ", "make -n ", 1))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "docker buildx build --platform linux/amd64,linux/arm64") || !strings.Contains(out, "registry.example.com/platform/dittofs-hook:") {
		t.Fatalf("make push would not build and push the multi-platform image:\n%s", out)
	}
}

// TestNodePackagesAgree: the Debian packages test/run.sh installs for the
// node tier are the ones the node needs (node.NodePackages), which the
// demo installs itself when run as root: a user of the Quickstart gets
// what the tests use.
func TestNodePackagesAgree(t *testing.T) {
	runSh, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "test", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^node_packages=\(([^)]*)\)`).FindSubmatch(runSh)
	if m == nil {
		t.Fatal("test/run.sh has no node_packages=(…) line")
	}
	if d := cmp.Diff(node.NodePackages, strings.Fields(string(m[1]))); d != "" {
		t.Errorf("test/run.sh's node_packages (-node.NodePackages +test/run.sh):\n%s", d)
	}
}
