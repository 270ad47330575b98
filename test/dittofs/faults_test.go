package dittofs_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

var update = flag.Bool("update", false, "rewrite the fault matrix of docs/development.md from what the hook does")

const (
	matrixStart = "<!-- fault-matrix:start (written by go test ./test/dittofs -run TestFaultMatrix -update) -->"
	matrixEnd   = "<!-- fault-matrix:end -->"
)

// TestFaultMatrix runs the real DittoFS behind a fault-injecting proxy and,
// for each fault, records what the hook answers: the one table of what a
// failed poll does to the adapter children. Its invariant, checked on every
// row: no adapter Service or NetworkPolicy that existed disappears unless a
// successful, well-formed poll said so, the hook answers within its DittoFS
// timeout plus a margin (1 s, more on a machine slower than that), and once the fault is gone the polls succeed
// again, every adapter child as it was before a failed poll. The fault table of
// docs/development.md is this test's output (-update rewrites it; otherwise a
// difference fails).
func TestFaultMatrix(t *testing.T) {
	// A 1 s DittoFS timeout: the hang row waits it out on every sync.
	r := newDiscoveryRigTimeout(t, nil, time.Second)
	l := r.loop
	r.start(t)
	r.settle(t)
	nfsPort, smbPort := r.dfs.NFSPort, r.dfs.SMBPort
	uid := l.Parent["metadata"].(map[string]any)["uid"].(string)
	adapter := func(id, typ string, enabled bool, port int) string {
		return fmt.Sprintf(`{"id":%q,"type":%q,"enabled":%t,"running":%t,"port":%d,"created_at":"2026-11-25T20:05:44Z","status":{"status":"healthy"}}`, id, typ, enabled, enabled, port)
	}
	list := func(items ...string) string { return "[" + strings.Join(items, ",") + "]" }
	var thousand []string
	for i := range 1000 {
		thousand = append(thousand, adapter(fmt.Sprint(i), fmt.Sprintf("x%03d", i), true, 20000+i))
	}
	// Bodies that are not DittoFS's carry this mark: it must never reach a
	// condition or a log line.
	const sentinel = "SENTINEL-BODY"
	longDetail := strings.Repeat("a line of a very long detail\n", 40*1024/29)
	// A server the faults redirect to: nothing may ever reach it.
	var trapped atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(trap.Close)
	redirect := func(code int, path string) dittofstest.Fault {
		return dittofstest.Fault{Kind: "status", Status: code, Path: path, Location: trap.URL + path, ContentType: "text/html", Body: "<html>moved " + sentinel + "</html>"}
	}
	body := func(b string) dittofstest.Fault {
		return dittofstest.Fault{Kind: "body", Path: "/api/v1/adapters", Body: b}
	}
	rows := []struct {
		fault string
		f     dittofstest.Fault
		fresh bool // without a cached token: the hook must log in
		// stop stops the DittoFS process for three syncs, then starts it
		// again with its data.
		stop bool
	}{
		{fault: "connection refused", f: dittofstest.Fault{Kind: "refuse"}},
		{fault: "DittoFS stopped for three syncs, then started again", stop: true},
		{fault: "connection reset before an answer", f: dittofstest.Fault{Kind: "reset", Path: "/api/v1/adapters"}},
		{fault: "connection reset mid-body", f: dittofstest.Fault{Kind: "reset-mid-body", Path: "/api/v1/adapters"}},
		{fault: "hangs past the timeout", f: dittofstest.Fault{Kind: "hang", Path: "/api/v1/adapters"}},
		{fault: "HTTP 500", f: dittofstest.Fault{Kind: "status", Status: 500, Path: "/api/v1/adapters", Body: `{"type":"about:blank","title":"Internal Server Error","status":500}`, ContentType: "application/problem+json"}},
		{fault: "HTTP 502", f: dittofstest.Fault{Kind: "status", Status: 502, Path: "/api/v1/adapters", Body: "bad gateway " + sentinel, ContentType: "text/plain"}},
		{fault: "HTTP 503", f: dittofstest.Fault{Kind: "status", Status: 503, Path: "/api/v1/adapters", Body: "<html>unavailable " + sentinel + "</html>", ContentType: "text/html"}},
		{fault: "HTTP 500 with a 40 KB multi-line detail", f: dittofstest.Fault{Kind: "status", Status: 500, Path: "/api/v1/adapters", Body: `{"title":"Internal Server Error","status":500,"detail":` + strconv.Quote(longDetail) + `}`, ContentType: "application/problem+json"}},
		{fault: "HTTP 401 on a valid token", f: dittofstest.Fault{Kind: "status", Status: 401, Path: "/api/v1/adapters", Body: "Invalid or expired token\n", ContentType: "text/plain; charset=utf-8"}},
		{fault: "HTTP 403", f: dittofstest.Fault{Kind: "status", Status: 403, Path: "/api/v1/adapters", Body: "Admin access required\n", ContentType: "text/plain; charset=utf-8"}},
		{fault: "login answers HTTP 500 (hook restarted, no token)", f: dittofstest.Fault{Kind: "status", Status: 500, Path: "/api/v1/auth", Body: `{"title":"Internal Server Error","status":500}`, ContentType: "application/problem+json"}, fresh: true},
		{fault: "login answers HTTP 401 (operator and admin refused)", f: dittofstest.Fault{Kind: "status", Status: 401, Path: "/api/v1/auth", Body: `{"title":"Unauthorized","status":401,"detail":"Invalid username or password"}`, ContentType: "application/problem+json"}, fresh: true},
		{fault: "HTTP 302 on the list, to another server (which receives nothing)", f: redirect(302, "/api/v1/adapters")},
		{fault: "login answers HTTP 307, to another server (which receives nothing)", f: redirect(307, "/api/v1/auth"), fresh: true},
		{fault: "body is not JSON", f: body("<html>upstream error " + sentinel + "</html>")},
		{fault: "JSON of the wrong shape", f: body(`{"adapters":[]}`)},
		{fault: "adapter without a type", f: body(list(`{"id":"a","enabled":true,"running":true,"port":1}`))},
		{fault: "1,000 adapters", f: body(list(thousand...))},
		{fault: "two types whose children share a name (nfs and nfs-udp)", f: body(list(adapter("n", "nfs", true, nfsPort), adapter("u", "nfs-udp", true, 2049), adapter("s", "smb", true, smbPort)))},
		{fault: "empty list", f: body("[]")},
		{fault: "port 0", f: body(list(adapter("n", "nfs", true, 0), adapter("s", "smb", true, smbPort)))},
		{fault: "an unknown type", f: body(list(adapter("n", "nfs", true, nfsPort), adapter("s", "smb", true, smbPort), adapter("w", "WebDAV", true, 8443)))},
		{fault: "an unknown type on port 0 (no default port)", f: body(list(adapter("n", "nfs", true, nfsPort), adapter("s", "smb", true, smbPort), adapter("w", "webdav", true, 0)))},
		{fault: "a duplicated type", f: body(list(adapter("n", "nfs", true, nfsPort), adapter("n2", "nfs", false, 2049), adapter("s", "smb", true, smbPort)))},
	}
	var table bytes.Buffer
	fmt.Fprintf(&table, "| DittoFS fault | hook answers | AdaptersDiscovered | adapter Services and NetworkPolicies |\n| --- | --- | --- | --- |\n")
	for _, row := range rows {
		t.Run(row.fault, func(t *testing.T) {
			r.proxy.Set(dittofstest.Fault{})
			r.settle(t)
			// The same sync without a fault, timed: how slow this machine
			// is now (see margin below).
			start := time.Now()
			l.Sync()
			baseline := time.Since(start)
			before := r.adapterChildren()
			if row.fresh {
				r.accounts.Forget(uid)
			}
			syncs := 1
			if row.stop {
				r.dfs.Stop()
				syncs = 3
			} else {
				r.proxy.Set(row.f)
			}
			var resp controller.Response
			var took time.Duration
			for range syncs {
				start := time.Now()
				resp = l.Sync()
				took = max(took, time.Since(start))
			}
			r.proxy.Set(dittofstest.Fault{})
			if row.stop {
				r.dfs.Restart()
			}
			if n := trapped.Load(); n != 0 {
				t.Fatalf("%d requests reached the redirect target", n)
			}
			// A sync spends at most the DittoFS timeout on DittoFS (one
			// context bounds the whole exchange) plus its own work, about
			// a millisecond (BenchmarkSync). The margin for that work is
			// 1 s, or 3 times the same sync without a fault just measured
			// when this machine is slower than that: below the timeout, a
			// sync that waited on DittoFS twice still shows.
			margin := max(time.Second, 3*baseline)
			if margin > time.Second {
				t.Logf("margin %s: a sync without a fault took %s on this machine", margin.Round(time.Millisecond), baseline.Round(time.Millisecond))
			}
			if took > r.timeout+margin {
				t.Errorf("answered after %s, more than the %s DittoFS timeout plus a margin of %s", took, r.timeout, margin)
			}
			status, reason, msg := l.Condition(hook.CondAdaptersDiscovered)
			if len([]rune(msg)) > 1024 || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("AdaptersDiscovered message is not one line of at most 1,024 characters: %d characters, %.120q", len([]rune(msg)), msg)
			}
			if strings.Contains(string(resp.Raw), sentinel) || strings.Contains(r.logs.String(), sentinel) {
				t.Errorf("a body that is not DittoFS's reached the answer or the log")
			}
			after := r.adapterChildren()
			var removed, added, changed []string
			for k, v := range before {
				switch a, ok := after[k]; {
				case !ok:
					removed = append(removed, shortName(k))
				case a != v:
					changed = append(changed, shortName(k))
				}
			}
			for k := range after {
				if _, ok := before[k]; !ok {
					added = append(added, shortName(k))
				}
			}
			sort.Strings(removed)
			sort.Strings(added)
			sort.Strings(changed)
			if status != "True" && (len(removed) > 0 || len(changed) > 0) {
				t.Fatalf("a failed poll (%s) changed adapter children: removed %v changed %v", reason, removed, changed)
			}
			effect := fmt.Sprintf("all %d kept unchanged", len(before))
			if len(removed)+len(added)+len(changed) > 0 {
				var parts []string
				for _, p := range []struct {
					what  string
					names []string
				}{{"removed", removed}, {"added", added}, {"updated", changed}} {
					if len(p.names) > 0 {
						parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
					}
				}
				effect = "as the successful poll says: " + strings.Join(parts, "; ")
			}
			answer := "200"
			if resp.Raw == nil {
				answer = "?"
			}
			fmt.Fprintf(&table, "| %s | %s within %d s + margin | %s `%s` | %s |\n", row.fault, answer, int(r.timeout.Seconds()), status, reason, effect)

			// The fault gone, the polls succeed again; after a failed poll,
			// not one adapter child changed on the way.
			r.settle(t)
			if s, reason, msg := l.Condition(hook.CondAdaptersDiscovered); s != "True" {
				t.Fatalf("after the fault: AdaptersDiscovered %s %s: %s", s, reason, msg)
			}
			if d := diffChildren(before, r.adapterChildren()); status != "True" && d != "" {
				t.Fatalf("adapter children changed through a failed poll and the recovery:\n%s", d)
			}
		})
	}
	compareReadmeSection(t, table.String())
}

// shortName turns "Service.v1/demo-adapter-nfs" into "Service nfs".
func shortName(k string) string {
	i := strings.LastIndex(k, "/")
	key, name := k[:i], k[i+1:]
	kind, _, _ := strings.Cut(key, ".")
	return kind + " " + strings.TrimPrefix(name, "demo-adapter-")
}

func compareReadmeSection(t *testing.T, table string) {
	t.Helper()
	path := filepath.Join(harness.RepoRoot(), "docs", "development.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, matrixStart), strings.Index(s, matrixEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/development.md lacks the fault matrix markers %q … %q", matrixStart, matrixEnd)
	}
	current := s[i+len(matrixStart)+1 : j]
	if current == table {
		return
	}
	if *update {
		s = s[:i+len(matrixStart)+1] + table + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("docs/development.md's fault matrix is not what the hook does now; run go test ./test/dittofs -run TestFaultMatrix -update and read the diff.\ndocs/development.md:\n%s\nmeasured:\n%s", current, table)
}
