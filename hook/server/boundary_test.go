package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// fakeDittoFS answers the calls of a sync with snapshot policies: logins
// (counted by account), the adapter list, the policies (none), and a 404
// for the policy of a share it does not have.
type fakeDittoFS struct {
	mu     sync.Mutex
	logins map[string]int
	puts   int
}

func (f *fakeDittoFS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/auth/login":
		var creds struct{ Username string }
		_ = json.NewDecoder(r.Body).Decode(&creds)
		f.logins[creds.Username]++
		role := "operator"
		if creds.Username == "admin" {
			role = "admin"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"a-%s","refresh_token":"r-%s","token_type":"Bearer","expires_in":900,"user":{"username":%q,"role":%q}}`, role, role, creds.Username, role)
	case r.URL.Path == "/api/v1/adapters":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(hooktest.DittoFSBody("adapters-fresh.body"))
	case r.URL.Path == "/api/v1/snapshot-policies":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "[]")
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/snapshot-policy"):
		f.puts++
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"Not Found","status":404,"detail":"share not found"}`)
	default:
		http.NotFound(w, r)
	}
}

// TestAdminPasswordNotSentEveryPoll: while the spec's snapshot policy
// names a share DittoFS lacks, the administrator's password is sent with
// backoff: at the first poll, then after 1, 2, 4, 8… polling intervals
// (up to 30 minutes), each retry recorded in status.snapshotPolicies
// (retryAfter), not once per poll. A spec change of the policies applies
// at once. Before, every poll (30 s) logged in as the administrator again.
func TestAdminPasswordNotSentEveryPoll(t *testing.T) {
	fake := &fakeDittoFS{logins: map[string]int{}}
	dfs := httptest.NewServer(fake)
	t.Cleanup(dfs.Close)
	port := dfs.Listener.Addr().(*net.TCPAddr).Port
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: "http://127.0.0.1:{{.Port}}",
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	policies := []any{map[string]any{"share": "/not-yet", "interval": "@daily"}}
	var status any
	sync := func(t *testing.T, policies []any) map[string]any {
		t.Helper()
		req := hooktest.Steady(hooktest.WithSpecField("controlPlane", map[string]any{"port": port}),
			hooktest.WithSpecField("snapshotPolicies", policies),
			hooktest.WithParentEdit(func(p map[string]any) {
				if status != nil {
					p["status"] = status
				}
			})).JSON()
		r := httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		var resp map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		status = resp["status"] // as Metacontroller writes it
		return resp
	}
	var attempts []int
	for poll := range 20 { // 10 minutes at the default 30 s
		before := fake.logins["admin"]
		sync(t, policies)
		if fake.logins["admin"] > before {
			attempts = append(attempts, poll)
		}
		clock = clock.Add(30 * time.Second)
	}
	if want := []int{0, 1, 2, 4, 8, 16}; !slices.Equal(attempts, want) {
		t.Errorf("administrator logins at polls %v, want %v (backing off), not at every poll", attempts, want)
	}
	if fake.puts != len(attempts) {
		t.Errorf("%d PUTs for %d attempts", fake.puts, len(attempts))
	}
	// A changed spec is applied at once.
	before := fake.logins["admin"]
	sync(t, append(policies, map[string]any{"share": "/also-not-yet", "interval": "@hourly"}))
	if fake.logins["admin"] != before+1 {
		t.Error("a spec change of the policies waited for the backoff")
	}
	if fake.logins["k8s-operator"] != 1 {
		t.Errorf("%d operator logins, want 1 (the token is cached)", fake.logins["k8s-operator"])
	}
}

// TestLogLinesBounded: no log line of the hook repeats unbounded input:
// a refused request's names, DittoFS's failures for hundreds of shares.
// Before, both went into the line whole (a 100 KB child name made a
// 100 KB line; every failed share was listed).
func TestLogLinesBounded(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	fake := &fakeDittoFS{logins: map[string]int{}}
	dfs := httptest.NewServer(fake)
	t.Cleanup(dfs.Close)
	srv, err := server.New(server.Options{Secrets: hook.NewSeededSecretSource("k"), URLTemplate: "http://127.0.0.1:{{.Port}}", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 100<<10)
	miskeyed := hooktest.Captured("sync-children-created.json").JSON()
	miskeyed = bytes.Replace(miskeyed, []byte(`"demo-config":`), []byte(`"`+long+`":`), 1)
	var policies []any
	for i := range 300 {
		policies = append(policies, map[string]any{"share": fmt.Sprintf("/%03d-%s", i, strings.Repeat("s", 200)), "interval": "@daily"})
	}
	missing := hooktest.Steady(hooktest.WithSpecField("controlPlane", map[string]any{"port": dfs.Listener.Addr().(*net.TCPAddr).Port}),
		hooktest.WithSpecField("snapshotPolicies", policies)).JSON()
	for _, body := range [][]byte{miskeyed, missing} {
		r := httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(httptest.NewRecorder(), r)
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 2 || fake.puts != 300 {
		t.Fatalf("%d log lines, %d PUTs: the cases did not run as meant", len(lines), fake.puts)
	}
	for _, l := range lines {
		if len(l) > 4096 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
