package dittofs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/utils/ptr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// calls counts DittoFS calls by endpoint, through the client's Observer.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) observe(endpoint string, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[endpoint]++
}

// take returns the counts since the last take.
func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// withShares starts a real DittoFS with shares to attach policies to: a
// memory metadata store, a local block store and one share per name, made
// with the calls test/testdata/upstream/dittofs-api captured.
func withShares(t *testing.T, shares ...string) *dittofstest.DittoFS {
	t.Helper()
	d := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	tok := d.AdminToken()
	d.Admin(tok, http.MethodPost, "/api/v1/store/metadata", map[string]string{"name": "meta", "type": "memory"}, http.StatusCreated, nil)
	d.Admin(tok, http.MethodPost, "/api/v1/store/block/local", map[string]string{"name": "local", "type": "fs",
		"config": fmt.Sprintf(`{"path":%q}`, filepath.Join(d.Dir, "blocks"))}, http.StatusCreated, nil)
	for _, s := range shares {
		d.Admin(tok, http.MethodPost, "/api/v1/shares", map[string]string{"name": s, "metadata_store_id": "meta", "local_block_store": "local"}, http.StatusCreated, nil)
	}
	return d
}

// TestSnapshotPoliciesAgainstRealDittoFS: the hook's apply makes a real
// DittoFS v0.29.0 hold the desired policies, with an administrator token
// (the operator role is refused, as it is upstream), writing only what
// differs: applied once; the same set again, in another order and
// spelling, makes no write; a changed policy is one PUT; a share dropped
// from the spec loses its policy; a policy an administrator made on a share
// the spec never listed is never touched; a share DittoFS lacks is named
// and does not stop the others.
func TestSnapshotPoliciesAgainstRealDittoFS(t *testing.T) {
	d := withShares(t, "/archive", "/projects", "/other")
	counted := &calls{n: map[string]int{}}
	c, err := dittofs.NewClient(d.URL, nil, counted.observe)
	if err != nil {
		t.Fatal(err)
	}
	var adminLogins int
	accounts := dittofs.NewAccounts(dittofs.AccountOptions{Metrics: dittofs.AccountMetrics{Login: func(account, result string) {
		if account == "admin" && result == "ok" {
			adminLogins++
		}
	}}})
	target := dittofs.Target{Key: "uid", Client: c, Operator: dittofs.Credentials{Username: "k8s-operator", Password: "0perator-test-password-42"}, Admin: admin}
	cx := func() context.Context {
		cx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return cx
	}
	// An administrator's own policy on a share no DittoServer spec lists.
	d.Admin(d.AdminToken(), http.MethodPut, "/api/v1/shares/other/snapshot-policy", map[string]any{"interval": "6h", "keep_last": 2}, http.StatusOK, nil)
	other := dittofs.SnapshotPolicyState{Share: "/other", Enabled: true, Interval: "6h0m0s", KeepLast: 2}

	var managed []string
	apply := func(desired ...dittofs.SnapshotPolicy) (*dittofs.SnapshotPolicyResult, error) {
		t.Helper()
		var res *dittofs.SnapshotPolicyResult
		err := accounts.AsAdmin(cx(), target, func(token string) error {
			var err error
			res, err = dittofs.ApplySnapshotPolicies(cx(), c, token, desired, managed)
			return err
		})
		if res != nil {
			managed = res.Managed
		}
		return res, err
	}
	stored := func() []dittofs.SnapshotPolicyState {
		t.Helper()
		var got []dittofs.SnapshotPolicyState
		d.Admin(d.AdminToken(), http.MethodGet, "/api/v1/snapshot-policies", nil, http.StatusOK, &got)
		return got
	}
	wantStored := func(step string, desired []dittofs.SnapshotPolicy, extra ...dittofs.SnapshotPolicyState) {
		t.Helper()
		want, err := dittofs.NormalizeSnapshotPolicies(desired)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, extra...)
		byShare := func(a, b dittofs.SnapshotPolicyState) bool { return a.Share < b.Share }
		if d := cmp.Diff(want, stored(), cmpopts.SortSlices(byShare)); d != "" {
			t.Errorf("%s: DittoFS holds (-normalised desired +DittoFS):\n%s", step, d)
		}
	}
	wantCalls := func(step string, want map[string]int) {
		t.Helper()
		if d := cmp.Diff(want, counted.take()); d != "" {
			t.Errorf("%s: DittoFS calls (-want +got):\n%s", step, d)
		}
	}

	// The operator role may not read policies: upstream's every push failed.
	opToken := ""
	if err := accounts.Do(cx(), target, func(tok string) error { opToken = tok; return nil }); err != nil {
		t.Fatal(err)
	}
	counted.take()
	_, err = dittofs.ApplySnapshotPolicies(cx(), c, opToken, []dittofs.SnapshotPolicy{{Share: "archive", Interval: "1h"}}, nil)
	if dittofs.StatusCode(err) != http.StatusForbidden || dittofs.Describe(err) != "list snapshot policies: HTTP 403: Admin access required" {
		t.Fatalf("apply with the operator token: %v, want 403 Admin access required", err)
	}
	wantCalls("operator token", map[string]int{"list snapshot policies": 1})
	adminLogins = 0

	first := []dittofs.SnapshotPolicy{
		{Share: "/archive", Interval: "24h", KeepLast: ptr.To[int32](7)},
		{Share: "projects", Interval: "@hourly", TTL: "720h", Enabled: ptr.To(false), NamePrefix: "hourly"},
	}
	res, err := apply(first...)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if d := cmp.Diff(&dittofs.SnapshotPolicyResult{Created: []string{"/archive", "/projects"}, Managed: []string{"/archive", "/projects"}}, res); d != "" {
		t.Errorf("first apply (-want +got):\n%s", d)
	}
	wantCalls("first apply", map[string]int{"login": 1, "list snapshot policies": 1, "put snapshot policy": 2})
	wantStored("first apply", first, other)

	// The same policies, reordered and spelled otherwise: nothing to write.
	again := []dittofs.SnapshotPolicy{
		{Share: "//projects", Interval: "1h", TTL: "720h0m0s", Enabled: ptr.To(false), NamePrefix: "hourly"},
		{Share: "archive", Interval: "@daily", KeepLast: ptr.To[int32](7), Enabled: ptr.To(true)},
	}
	if h1, h2 := mustHash(t, first), mustHash(t, again); h1 != h2 {
		t.Errorf("equivalent policies hash to %s and %s", h1, h2)
	}
	res, err = apply(again...)
	if err != nil || len(res.Created)+len(res.Updated)+len(res.Deleted) != 0 {
		t.Fatalf("second apply of the same policies: %+v, %v; want no change", res, err)
	}
	wantCalls("same policies again", map[string]int{"login": 1, "list snapshot policies": 1})

	// A changed spec re-pushes what changed, and only that.
	changed := []dittofs.SnapshotPolicy{{Share: "/archive", Interval: "24h", KeepLast: ptr.To[int32](14)}, first[1]}
	if mustHash(t, changed) == mustHash(t, first) {
		t.Fatal("a changed keepLast kept the hash")
	}
	res, err = apply(changed...)
	if err != nil || cmp.Diff([]string{"/archive"}, res.Updated) != "" || len(res.Created)+len(res.Deleted) != 0 {
		t.Fatalf("changed keepLast: %+v, %v; want /archive updated only", res, err)
	}
	wantCalls("changed spec", map[string]int{"login": 1, "list snapshot policies": 1, "put snapshot policy": 1})
	wantStored("changed spec", changed, other)

	// A share dropped from the spec loses the policy the hook made; the
	// administrator's policy on /other stays.
	res, err = apply(changed[0])
	if err != nil || cmp.Diff([]string{"/projects"}, res.Deleted) != "" || cmp.Diff([]string{"/archive"}, res.Managed) != "" {
		t.Fatalf("dropped /projects: %+v, %v; want it deleted and /archive alone managed", res, err)
	}
	wantCalls("dropped share", map[string]int{"login": 1, "list snapshot policies": 1, "delete snapshot policy": 1})
	wantStored("dropped share", changed[:1], other)

	// A share DittoFS lacks: named, retried by the next apply, and the
	// other policies are still written.
	withMissing := []dittofs.SnapshotPolicy{{Share: "/archive", Interval: "12h"}, {Share: "/not-yet", Interval: "1h"}}
	res, err = apply(withMissing...)
	var failed *dittofs.SnapshotPoliciesError
	if !errors.As(err, &failed) || cmp.Diff([]string{"/not-yet"}, failed.MissingShares()) != "" {
		t.Fatalf("a missing share: %v, want a SnapshotPoliciesError naming /not-yet", err)
	}
	if want := "snapshot policies: share /not-yet: put snapshot policy: HTTP 404: share not found"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if cmp.Diff([]string{"/archive"}, res.Updated) != "" || cmp.Diff([]string{"/archive", "/not-yet"}, res.Managed) != "" {
		t.Errorf("with a missing share: %+v; want /archive updated, both managed", res)
	}
	wantCalls("missing share", map[string]int{"login": 1, "list snapshot policies": 1, "put snapshot policy": 2})

	// No policies at all: the hook removes its own, and only its own.
	res, err = apply()
	if err != nil || cmp.Diff([]string{"/archive"}, res.Deleted) != "" || len(res.Managed) != 0 {
		t.Fatalf("no policies: %+v, %v; want /archive deleted, nothing managed", res, err)
	}
	wantCalls("no policies", map[string]int{"login": 1, "list snapshot policies": 1, "delete snapshot policy": 1})
	wantStored("no policies", nil, other)

	// A policy DittoFS would refuse is refused before any call.
	if _, err := dittofs.ApplySnapshotPolicies(cx(), c, "unused", []dittofs.SnapshotPolicy{{Share: "a", Interval: "daily"}}, nil); err == nil {
		t.Error("an invalid interval was applied")
	}
	wantCalls("invalid policy", map[string]int{})
	if adminLogins != 6 {
		t.Errorf("%d administrator logins for 6 applies, want 6", adminLogins)
	}
}

func mustHash(t *testing.T, p []dittofs.SnapshotPolicy) string {
	t.Helper()
	h, err := dittofs.SnapshotPoliciesHash(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
