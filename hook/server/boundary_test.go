package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// The trust boundary, second round (issue 21).

// call sends one hook call and returns the status and body.
func call(t *testing.T, url string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// secretValues are the data values of every Secret in a sync's answer.
func secretValues(t *testing.T, answer []byte) map[string]string {
	t.Helper()
	var resp struct {
		Children []json.RawMessage `json:"children"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	out := map[string]string{}
	for _, raw := range resp.Children {
		var c struct {
			Kind     string                `json:"kind"`
			Metadata struct{ Name string } `json:"metadata"`
			Data     map[string][]byte
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Kind != "Secret" {
			continue
		}
		var sec struct {
			Data map[string][]byte `json:"data"`
		}
		if err := json.Unmarshal(raw, &sec); err != nil {
			t.Fatal(err)
		}
		c.Data = sec.Data
		for k, v := range c.Data {
			if k != "username" {
				out[c.Metadata.Name+"/"+k] = string(v)
			}
		}
	}
	return out
}

// TestNoSecretOracle: a generated value cannot be had again by asking.
// Before, a value was HMAC(per-process key, parent UID, Secret name, key):
// a request showing no observed Secrets, posted by anyone who knew a
// DittoServer's name, namespace and UID (view rights), got back from the
// same replica the JWT signing key and the passwords it had generated when
// the Secrets were created. Now each answer draws fresh values; the Secret
// Metacontroller created first stays (OnDelete), and a later answer
// matches none of it.
func TestNoSecretOracle(t *testing.T) {
	ts := newTestServer(t, server.Options{Secrets: hook.NewSecretSource(rand.Reader)})
	first := hooktest.Captured("sync-first.json").JSON()
	code, created := call(t, ts.URL+"/sync", first, nil)
	if code != http.StatusOK {
		t.Fatalf("first sync: %d %s", code, created)
	}
	stored := secretValues(t, created) // what Metacontroller created
	if len(stored) != 2 {
		t.Fatalf("the first answer generates %d values, want the JWT key and the operator's password: %v", len(stored), stored)
	}
	// The forged call: the same parent, no observed Secrets.
	for i := range 3 {
		code, forged := call(t, ts.URL+"/sync", first, nil)
		if code != http.StatusOK {
			t.Fatalf("forged sync %d: %d %s", i, code, forged)
		}
		for name, v := range secretValues(t, forged) {
			for storedName, s := range stored {
				if v == s {
					t.Errorf("forged sync %d: %s is the stored %s", i, name, storedName)
				}
			}
		}
	}
}

// countingBody records whether anything read the request's body.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestUnauthenticatedBodyNotRead: a hook call without the credential is
// refused with 401, a JSON body and WWW-Authenticate, before a byte of its
// body is read, and takes no sync slot; the kubelet's probes stay open.
// Before, the hook read (and discarded) up to 8 MiB of an anonymous
// caller's body first.
func TestUnauthenticatedBodyNotRead(t *testing.T) {
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), AuthToken: func() string { return "s3cret-token" }, MaxConcurrentSyncs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, header string }{
		{"missing", ""}, {"wrong", "Bearer nope"}, {"basic", "Basic czNjcmV0LXRva2Vu"}, {"prefix", "Bearer s3cret"}, {"token twice", "Bearer s3cret-token s3cret-token"},
	} {
		for _, path := range []string{"/sync", "/finalize", "/customize"} {
			body := &countingBody{r: bytes.NewReader(hooktest.Captured("sync-first.json").JSON())}
			req := httptest.NewRequest(http.MethodPost, path, body)
			req.Header.Set("Content-Type", "application/json")
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			var answer struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || w.Code != http.StatusUnauthorized || answer.Status != 401 || answer.Error == "" {
				t.Errorf("%s %s: %d %s, want 401 with a JSON error", c.name, path, w.Code, w.Body)
			}
			if w.Header().Get("WWW-Authenticate") == "" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: headers %v", c.name, path, w.Header())
			}
			if body.read != 0 {
				t.Errorf("%s %s: the hook read %d bytes of an unauthenticated body", c.name, path, body.read)
			}
		}
	}
	// The right token gets its answer (so the one slot was never held);
	// the scheme is case-insensitive (RFC 9110), as Metacontroller's
	// authorization.type is.
	for _, header := range []string{"Bearer s3cret-token", "bearer s3cret-token"} {
		req := httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(hooktest.Captured("sync-first.json").JSON()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%q: %d %s", header, w.Code, w.Body)
		}
	}
}

// TestNoProxy: the hook's DittoFS clients never use a proxy the
// environment names (HTTP_PROXY, HTTPS_PROXY), unless
// --dittofs-proxy-from-environment says so. Before, they did: DittoFS
// logins (passwords, tokens) could go through a proxy, and Go's NO_PROXY
// suffix match misses the API's trailing-dot name. Go reads the proxy
// variables once per process, so each case runs in a process of its own.
func TestNoProxy(t *testing.T) {
	if os.Getenv("NO_PROXY_CHILD") != "" {
		noProxyChild(t)
		return
	}
	for _, fromEnv := range []bool{false, true} {
		proxy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var contacted atomic.Int32
		go func() {
			for {
				c, err := proxy.Accept()
				if err != nil {
					return
				}
				contacted.Add(1)
				c.Close()
			}
		}()
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoProxy$", "-test.v")
		cmd.Env = append(os.Environ(), "NO_PROXY_CHILD="+strconv.FormatBool(fromEnv),
			"HTTP_PROXY=http://"+proxy.Addr().String(), "HTTPS_PROXY=http://"+proxy.Addr().String(), "NO_PROXY=", "no_proxy=")
		out, err := cmd.CombinedOutput()
		proxy.Close()
		if err != nil {
			t.Errorf("proxy from environment %t: %v\n%s", fromEnv, err, out)
		}
		switch n := contacted.Load(); {
		case !fromEnv && n != 0:
			t.Errorf("the DittoFS clients contacted the environment's proxy %d times", n)
		case fromEnv && n == 0:
			t.Error("--dittofs-proxy-from-environment: the proxy was never contacted")
		}
	}
}

// noProxyChild runs a sync of a ready DittoServer, plain and over TLS,
// through the hook's default DittoFS clients, whose dials are recorded
// and refused (no DNS query, no connection) except to the proxy.
func noProxyChild(t *testing.T) {
	fromEnv, _ := strconv.ParseBool(os.Getenv("NO_PROXY_CHILD"))
	proxy := strings.TrimPrefix(os.Getenv("HTTP_PROXY"), "http://")
	base := server.NewDittoFSTransport(fromEnv)
	var mu sync.Mutex
	var dialled []string
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		if addr == proxy {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return nil, errors.New("test guard: not dialled")
	}
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), HTTPClient: &http.Client{Transport: base},
		Transports: dittofs.NewTransports(dittofs.TransportOptions{Base: base})})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range [][]byte{
		hooktest.Steady().JSON(),
		hooktest.Steady(hooktest.WithSpecField("controlPlane", map[string]any{"port": 8080, "tls": true})).JSON(),
	} {
		r := httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(httptest.NewRecorder(), r)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("dialled %v", dialled)
	for _, addr := range dialled {
		if fromEnv != (addr == proxy) {
			t.Errorf("proxy from environment %t: dialled %s", fromEnv, addr)
		}
	}
	if len(dialled) == 0 {
		t.Error("nothing dialled")
	}
}
