package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
)

// TestServeCapturedRequests runs the real `hook serve` binary and posts each
// request a real Metacontroller sent: 200, the infrastructure children, and
// the same bytes for the same request. With --kubeconfig it records their
// Events, each once: the captured finalize call (a minute after deletion
// began, the pod never ready) records CleanupTimeout, and the same call
// again finds it recorded.
func TestServeCapturedRequests(t *testing.T) {
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	port := harness.FreePort(t)
	events := cluster.StartEventsAPI(t)
	p := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-format", "text",
		"--kubeconfig", events.Kubeconfig(t, dir))
	p.WaitHTTP(t, harness.URL(port, "/readyz"), 10*time.Second)

	for _, name := range []string{hooktest.FirstSync, hooktest.ChildrenCreated, hooktest.ReadyLB, hooktest.FinalizeCall} {
		t.Run(name, func(t *testing.T) {
			body := hooktest.Captured(name).JSON()
			path := "/sync"
			if name == hooktest.FinalizeCall {
				path = "/finalize"
			}
			first := post(t, harness.URL(port, path), body)
			second := post(t, harness.URL(port, path), body)
			if !bytes.Equal(withoutSecretData(t, first), withoutSecretData(t, second)) {
				t.Fatal("the same request gave different bytes (generated Secret values aside)")
			}
			have := controller.ChildNames(t, first)
			for _, want := range []string{"StatefulSet/demo", "Service/demo-headless", "Service/demo-api", "ConfigMap/demo-config", "Secret/demo-jwt-secret", "Secret/demo-operator-credentials"} {
				if !have[want] {
					t.Errorf("answer lacks %s; it has %v", want, have)
				}
			}
		})
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("hook did not shut down cleanly on SIGTERM: %v\n%s", err, p.Tail())
	}
	var reasons []string
	for _, raw := range events.Events() {
		var ev struct {
			Reason    string `json:"reason"`
			Regarding struct {
				Kind, Name string
			} `json:"regarding"`
		}
		_ = json.Unmarshal(raw, &ev)
		reasons = append(reasons, ev.Reason+" "+ev.Regarding.Kind+"/"+ev.Regarding.Name)
	}
	if want := []string{"CleanupTimeout DittoServer/demo"}; !slices.Equal(reasons, want) || events.Posts() != 2 {
		t.Errorf("Events %v after %d calls, want %v after 2 (the second a duplicate)", reasons, events.Posts(), want)
	}
}

// TestEventsNeedTheAPI: --events (the default) outside a cluster and
// without --kubeconfig refuses to start, saying what to do; --events=false
// needs nothing.
func TestEventsNeedTheAPI(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var stderr bytes.Buffer
	if code := run([]string{"serve", "--listen", "127.0.0.1:0"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "pass --kubeconfig; --events=false records no Events") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"serve", "--listen", "127.0.0.1:0", "--kubeconfig", "/nonexistent"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "--kubeconfig") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// withoutSecretData is an answer without its Secrets' data: generated
// values are drawn afresh for every answer.
func withoutSecretData(t *testing.T, answer []byte) []byte {
	t.Helper()
	var resp map[string]any
	if err := json.Unmarshal(answer, &resp); err != nil {
		t.Fatal(err)
	}
	for _, c := range resp["children"].([]any) {
		if c := c.(map[string]any); c["kind"] == "Secret" {
			delete(c, "data")
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuthTokenFailsClosed: a missing or empty --auth-token-file stops the
// hook at start; it never serves calls it cannot authenticate.
func TestAuthTokenFailsClosed(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "token")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{empty: "is empty", filepath.Join(dir, "missing"): "no such file"} {
		var stderr bytes.Buffer
		if code := run([]string{"serve", "--listen", "127.0.0.1:0", "--events=false", "--auth-token-file", file}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d: %s", file, code, stderr.String())
		}
	}
}

func post(t *testing.T, url string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, out)
	}
	return out
}

// TestCeilingFlags: a ceiling the hook cannot read stops it at start,
// naming the flag; render takes the same flags, and refuses what serve
// would answer InvalidSpec.
func TestCeilingFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--pod-security-ceiling=open": "--pod-security-ceiling",
		"--secret-selector=a=(":       "--secret-selector",
	} {
		var stderr bytes.Buffer
		if code := run([]string{"serve", "--listen", "127.0.0.1:0", "--events=false", args}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d: %s", args, code, stderr.String())
		}
	}
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds.yaml")
	_ = os.WriteFile(ds, []byte("apiVersion: dittofs.dittofs.com/v1alpha1\nkind: DittoServer\nmetadata: {name: demo, namespace: default}\nspec:\n  storage: {metadataSize: 1Gi}\n  priorityClassName: storage\n"), 0o644)
	var stderr bytes.Buffer
	if code := run([]string{"render", "-f", ds}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "spec.priorityClassName") {
		t.Errorf("render under the default ceiling: exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"render", "-f", ds, "--allowed-priority-classes", "storage,batch"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("render with the priority class allowed: exit %d", code)
	}
}
