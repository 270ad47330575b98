package dittofs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

const (
	svcKey = "Service.v1"
	npKey  = "NetworkPolicy.networking.k8s.io/v1"
	stsKey = "StatefulSet.apps/v1"
)

// discoveryRig is a real DittoFS behind a fault proxy, the hook in-process
// (its real HTTP handler) pointed at the proxy, and an in-memory Metacontroller.
type discoveryRig struct {
	// logs is everything the hook logged, at debug level.
	logs     *lockedBuffer
	accounts *dittofs.Accounts
	dfs      *dittofstest.DittoFS
	proxy    *dittofstest.FaultProxy
	loop     *controller.Loop
	timeout  time.Duration
}

func newDiscoveryRig(t *testing.T, spec map[string]any) *discoveryRig {
	t.Helper()
	// Nothing that uses it tests a timeout: 5 s leaves a loaded machine
	// room for DittoFS's bcrypt logins (a handshake and a login took over
	// 3 s on one), so that a slow poll never reads as a failed one.
	return newDiscoveryRigTimeout(t, spec, 5*time.Second)
}

// newDiscoveryRigTimeout is a rig whose hook gives DittoFS timeout per sync.
func newDiscoveryRigTimeout(t *testing.T, spec map[string]any, timeout time.Duration) *discoveryRig {
	t.Helper()
	proxy := dittofstest.StartFaultProxy(t, "")
	accounts := dittofs.NewAccounts(dittofs.AccountOptions{})
	logs := &lockedBuffer{}
	srv, err := server.New(server.Options{
		URLTemplate: "http://127.0.0.1:{{.Port}}",
		Timeout:     timeout,
		Secrets:     hook.NewSeededSecretSource("discovery"),
		Accounts:    accounts,
		Logger:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	if spec == nil {
		spec = map[string]any{}
	}
	spec["storage"] = map[string]any{"metadataSize": "1Gi"}
	spec["controlPlane"] = map[string]any{"port": proxy.Port}
	spec["adapterDiscovery"] = map[string]any{"pollingInterval": "5s"}
	return &discoveryRig{logs: logs, accounts: accounts, proxy: proxy, loop: controller.NewLoop(t, ts.URL, "demo", spec), timeout: timeout}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start plays the kubelet: the first sync creates the StatefulSet and its
// Secrets; DittoFS starts with the administrator password from the Secret
// the hook generated, and the pod becomes ready.
func (r *discoveryRig) start(t *testing.T) {
	t.Helper()
	r.loop.Sync()
	admin := secretValue(t, r.loop, "demo-admin-bootstrap-credentials", "password")
	r.dfs = dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{AdminPassword: admin})
	r.proxy.SetTarget(r.dfs.URL)
	r.loop.SetReady("demo", 1)
}

// adapterChildren is every observed adapter Service and NetworkPolicy, as JSON.
func (r *discoveryRig) adapterChildren() map[string]string {
	out := map[string]string{}
	for _, key := range []string{svcKey, npKey} {
		for name := range r.loop.Children[key] {
			if strings.HasPrefix(name, "demo-adapter-") {
				out[key+"/"+name] = string(r.loop.Child(key, name))
			}
		}
	}
	return out
}

func (r *discoveryRig) expectCondition(t testing.TB, typ, status, reason string) {
	t.Helper()
	s, re, msg := r.loop.Condition(typ)
	if s != status || re != reason {
		t.Fatalf("%s = %s/%s (%s), want %s/%s", typ, s, re, msg, status, reason)
	}
}

func (r *discoveryRig) servicePort(t testing.TB, name string) (port, nodePort float64, clusterIP, uid string) {
	t.Helper()
	svc, ok := r.loop.Children[svcKey][name]
	if !ok {
		t.Fatalf("no Service %s; children: %v", name, r.loop.Names())
	}
	spec := svc["spec"].(map[string]any)
	p := spec["ports"].([]any)[0].(map[string]any)
	nodePort, _ = p["nodePort"].(float64)
	return p["port"].(float64), nodePort, spec["clusterIP"].(string), svc["metadata"].(map[string]any)["uid"].(string)
}

// settle syncs until two answers in a row are identical: the steady state,
// where Metacontroller has nothing to write.
func (r *discoveryRig) settle(t testing.TB) controller.Response {
	t.Helper()
	prev := r.loop.Sync()
	for range 5 {
		next := r.loop.Sync()
		if bytes.Equal(prev.Raw, next.Raw) {
			return next
		}
		prev = next
	}
	t.Fatalf("no steady state after 6 syncs; last answer:\n%s", prev.Raw)
	return prev
}

// TestDiscoveryLifecycle follows a DittoServer from creation through every
// adapter change DittoFS can make, against the real DittoFS server.
func TestDiscoveryLifecycle(t *testing.T) {
	r := newDiscoveryRig(t, nil)
	l := r.loop

	t.Run("no poll before a ready replica", func(t *testing.T) {
		l.Sync()
		l.Sync()
		if n := r.proxy.Calls(""); n != 0 {
			t.Fatalf("%d calls to DittoFS before the pod is ready", n)
		}
		r.expectCondition(t, hook.CondAuthenticated, "False", hook.ReasonWaitingForServer)
		r.expectCondition(t, hook.CondAdaptersDiscovered, "False", hook.ReasonWaitingForServer)
	})

	r.start(t)
	var sts []byte
	t.Run("ready: account provisioned, adapters discovered", func(t *testing.T) {
		r.settle(t)
		r.expectCondition(t, hook.CondAuthenticated, "True", hook.ReasonAuthenticationSucceeded)
		r.expectCondition(t, hook.CondAdaptersDiscovered, "True", hook.ReasonPollSucceeded)
		for _, name := range []string{"demo-adapter-nfs", "demo-adapter-smb", "demo-baseline"} {
			if _, ok := l.Children[npKey][name]; !ok {
				t.Errorf("no NetworkPolicy %s", name)
			}
		}
		if p, _, _, _ := r.servicePort(t, "demo-adapter-nfs"); int(p) != r.dfs.NFSPort {
			t.Errorf("nfs Service port %v, DittoFS says %d", p, r.dfs.NFSPort)
		}
		if p, _, _, _ := r.servicePort(t, "demo-adapter-smb"); int(p) != r.dfs.SMBPort {
			t.Errorf("smb Service port %v, DittoFS says %d", p, r.dfs.SMBPort)
		}
		r.expectCondition(t, hook.CondAdaptersReady, "False", hook.ReasonLoadBalancerPending)
		sts = l.Child(stsKey, "demo")
	})

	t.Run("steady state: the same answer, one adapter list call per sync, no login", func(t *testing.T) {
		r.proxy.ResetCalls()
		a, b := l.Sync(), l.Sync()
		if !bytes.Equal(a.Raw, b.Raw) {
			t.Fatal("two syncs of an unchanged server differ")
		}
		if n := r.proxy.Calls("GET /api/v1/adapters"); n != 2 {
			t.Fatalf("%d adapter list calls for 2 syncs", n)
		}
		if n := r.proxy.Calls("POST /api/v1/auth"); n != 0 {
			t.Fatalf("%d auth calls at steady state", n)
		}
		if a.ResyncAfterSeconds != 5 {
			t.Fatalf("resyncAfterSeconds %v, want the 5s polling interval", a.ResyncAfterSeconds)
		}
	})

	t.Run("load balancer address appears in status", func(t *testing.T) {
		l.SetIngress("demo-adapter-nfs", "203.0.113.7")
		l.SetIngress("demo-adapter-smb", "203.0.113.8")
		r.settle(t)
		r.expectCondition(t, hook.CondAdaptersReady, "True", hook.ReasonAllAdaptersReady)
		r.expectCondition(t, hook.CondReady, "True", hook.ReasonReady)
		want := fmt.Sprintf("203.0.113.7:%d", r.dfs.NFSPort)
		if got := adapterEndpoint(t, l, "nfs"); got != want {
			t.Fatalf("nfs endpoint %q, want %q", got, want)
		}
	})

	t.Run("smb disabled: Service first, NetworkPolicy one sync later", func(t *testing.T) {
		r.dfs.SetAdapter("smb", map[string]any{"enabled": false})
		l.Sync()
		if _, ok := l.Children[svcKey]["demo-adapter-smb"]; ok {
			t.Fatal("smb Service still there")
		}
		if _, ok := l.Children[npKey]["demo-adapter-smb"]; !ok {
			t.Fatal("smb NetworkPolicy removed together with its Service")
		}
		l.Sync()
		if _, ok := l.Children[npKey]["demo-adapter-smb"]; ok {
			t.Fatal("smb NetworkPolicy still there after its Service is gone")
		}
	})

	t.Run("nfs moved: the same Service carries the new port", func(t *testing.T) {
		_, nodePort, clusterIP, uid := r.servicePort(t, "demo-adapter-nfs")
		moved := harness.FreePort(t)
		r.dfs.SetAdapter("nfs", map[string]any{"port": moved})
		l.Sync()
		p, np2, ip2, uid2 := r.servicePort(t, "demo-adapter-nfs")
		if int(p) != moved || np2 != nodePort || ip2 != clusterIP || uid2 != uid {
			t.Fatalf("after the move: port %v nodePort %v clusterIP %s uid %s; want %d %v %s %s", p, np2, ip2, uid2, moved, nodePort, clusterIP, uid)
		}
		r.dfs.NFSPort = moved
	})

	t.Run("smb re-created with port 0 gets 12445", func(t *testing.T) {
		token := r.dfs.AdminToken()
		r.dfs.Admin(token, http.MethodDelete, "/api/v1/adapters/smb", nil, http.StatusNoContent, nil)
		// Port 0 binds 12445 on all interfaces: create it disabled, so that
		// it binds nothing while other test servers may run.
		r.dfs.Admin(token, http.MethodPost, "/api/v1/adapters", map[string]any{"type": "smb", "enabled": false, "port": 0}, http.StatusCreated, nil)
		r.dfs.Admin(token, http.MethodPut, "/api/v1/adapters/smb", map[string]any{"enabled": true}, http.StatusOK, nil)
		l.Sync() // its NetworkPolicy
		if l.Child(svcKey, "demo-adapter-smb") != nil {
			t.Fatal("smb's Service came in the sync that made its NetworkPolicy: access must exist before the address")
		}
		l.Sync() // its Service, once the policy is observed
		if p, _, _, _ := r.servicePort(t, "demo-adapter-smb"); p != 12445 {
			t.Fatalf("smb Service port %v, want 12445", p)
		}
		r.dfs.SetAdapter("smb", map[string]any{"enabled": false})
		l.Sync()
		l.Sync()
	})

	t.Run("the pod template never changed", func(t *testing.T) {
		if got := l.Child(stsKey, "demo"); !bytes.Equal(got, sts) {
			t.Fatalf("StatefulSet changed with the adapters:\nbefore %s\nafter  %s", sts, got)
		}
	})

	t.Run("finalize deletes the operator account", func(t *testing.T) {
		l.Finalizing = true
		l.Parent["metadata"].(map[string]any)["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
		resp := l.Sync()
		if !resp.Finalized {
			t.Fatalf("not finalized: %s", resp.Raw)
		}
		code, _ := r.dfs.Call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "k8s-operator", "password": secretValue(t, l, "demo-operator-credentials", "password")})
		if code != http.StatusUnauthorized {
			t.Fatalf("k8s-operator can still log in (%d)", code)
		}
	})
}

// secretValue reads a key of an observed Secret.
func secretValue(t testing.TB, l *controller.Loop, name, key string) string {
	t.Helper()
	sec, ok := l.Children["Secret.v1"][name]
	if !ok {
		t.Fatalf("no Secret %s", name)
	}
	var data map[string][]byte
	b, _ := json.Marshal(sec["data"])
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	return string(data[key])
}

func adapterEndpoint(t *testing.T, l *controller.Loop, typ string) string {
	st := l.Parent["status"].(map[string]any)
	adapters, _ := st["adapters"].([]any)
	for _, a := range adapters {
		m := a.(map[string]any)
		if m["type"] == typ {
			eps, _ := m["endpoints"].([]any)
			if len(eps) > 0 {
				return eps[0].(string)
			}
		}
	}
	return ""
}

// diffChildren says how adapter children changed, or "".
func diffChildren(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		if after[k] != v {
			fmt.Fprintf(&b, "%s:\n  before %s\n  after  %s\n", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "%s appeared\n", k)
		}
	}
	return b.String()
}
