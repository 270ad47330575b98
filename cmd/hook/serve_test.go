package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestServeCapturedRequests runs the real `hook serve` binary and posts each
// request a real Metacontroller sent: 200, the infrastructure children, and
// the same bytes for the same request.
func TestServeCapturedRequests(t *testing.T) {
	dir := t.TempDir()
	bin := harness.BuildHook(t, dir)
	port := harness.FreePort(t)
	p := harness.Start(t, dir, "hook", bin, nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-format", "text")
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
			if !bytes.Equal(first, second) {
				t.Fatal("the same request gave different bytes")
			}
			have := harness.ChildNames(t, first)
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
