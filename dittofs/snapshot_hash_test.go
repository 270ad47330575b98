package dittofs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

func ptr[T any](v T) *T { return &v }

// TestSnapshotPolicyNormalize: the state a policy normalises to is what
// DittoFS v0.29.0 stores for it (test/testdata/upstream/dittofs-api:
// "@daily" is reported as "24h0m0s", "720h" as "720h0m0s", the share with
// one leading slash), and what DittoFS would refuse is refused first, with
// the entry's index.
func TestSnapshotPolicyNormalize(t *testing.T) {
	for _, c := range []struct {
		name string
		in   dittofs.SnapshotPolicy
		want dittofs.SnapshotPolicyState
		err  string
	}{
		{name: "upstream sample shape", in: dittofs.SnapshotPolicy{Share: "/archive", Interval: "24h", KeepLast: ptr[int32](7)},
			want: dittofs.SnapshotPolicyState{Share: "/archive", Enabled: true, Interval: "24h0m0s", KeepLast: 7}},
		{name: "every field", in: dittofs.SnapshotPolicy{Share: "archive", Interval: "@daily", KeepLast: ptr[int32](3), TTL: "720h", Enabled: ptr(false), NamePrefix: "nightly"},
			want: dittofs.SnapshotPolicyState{Share: "/archive", Interval: "24h0m0s", KeepLast: 3, TTL: "720h0m0s", NamePrefix: "nightly"}},
		{name: "shorthand any case, spaces", in: dittofs.SnapshotPolicy{Share: "//a", Interval: " @Weekly "},
			want: dittofs.SnapshotPolicyState{Share: "/a", Enabled: true, Interval: "168h0m0s"}},
		{name: "ttl 0 is no bound", in: dittofs.SnapshotPolicy{Share: "a", Interval: "90m", TTL: "0"},
			want: dittofs.SnapshotPolicyState{Share: "/a", Enabled: true, Interval: "1h30m0s"}},
		{name: "ttl 0s is no bound", in: dittofs.SnapshotPolicy{Share: "a", Interval: "1h", TTL: "0s"},
			want: dittofs.SnapshotPolicyState{Share: "/a", Enabled: true, Interval: "1h0m0s"}},
		{name: "escaped share", in: dittofs.SnapshotPolicy{Share: "%2Farchive", Interval: "1h"},
			want: dittofs.SnapshotPolicyState{Share: "/archive", Enabled: true, Interval: "1h0m0s"}},
		{name: "no share", in: dittofs.SnapshotPolicy{Share: "/", Interval: "1h"}, err: "share is empty"},
		{name: "cron is not an interval", in: dittofs.SnapshotPolicy{Share: "a", Interval: "daily"}, err: `interval "daily" is not`},
		{name: "unknown shorthand", in: dittofs.SnapshotPolicy{Share: "a", Interval: "@monthly"}, err: `interval "@monthly" is not`},
		{name: "zero interval", in: dittofs.SnapshotPolicy{Share: "a", Interval: "0s"}, err: `interval "0s" is not`},
		{name: "negative ttl", in: dittofs.SnapshotPolicy{Share: "a", Interval: "1h", TTL: "-1h"}, err: `ttl "-1h"`},
		{name: "negative keepLast", in: dittofs.SnapshotPolicy{Share: "a", Interval: "1h", KeepLast: ptr[int32](-1)}, err: "keepLast -1 is negative"},
		{name: "prefix with a slash", in: dittofs.SnapshotPolicy{Share: "a", Interval: "1h", NamePrefix: "a/b"}, err: `namePrefix "a/b"`},
	} {
		got, err := dittofs.NormalizeSnapshotPolicies([]dittofs.SnapshotPolicy{{Share: "first", Interval: "1h"}, c.in})
		if c.err != "" {
			var spec *dittofs.SnapshotPolicySpecError
			if !errors.As(err, &spec) || spec.Index != 1 || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "spec.snapshotPolicies[1]: ") {
				t.Errorf("%s: err = %v, want a SnapshotPolicySpecError of entry 1 saying %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var state dittofs.SnapshotPolicyState
		for _, s := range got {
			if s.Share != "/first" {
				state = s
			}
		}
		if d := cmp.Diff(c.want, state); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, d)
		}
	}
	_, err := dittofs.NormalizeSnapshotPolicies([]dittofs.SnapshotPolicy{{Share: "archive", Interval: "1h"}, {Share: "b", Interval: "1h"}, {Share: "/archive", Interval: "2h"}})
	if err == nil || err.Error() != "spec.snapshotPolicies[2]: share /archive is listed twice (also spec.snapshotPolicies[0])" {
		t.Errorf("a share listed twice: %v", err)
	}
}

// TestSnapshotPoliciesHash: the hash changes exactly when what DittoFS
// would store changes: not with the list's order or a spelling DittoFS
// does not keep, with every field it does keep; no policies hash to "".
func TestSnapshotPoliciesHash(t *testing.T) {
	hash := func(p ...dittofs.SnapshotPolicy) string {
		t.Helper()
		h, err := dittofs.SnapshotPoliciesHash(p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	archive := dittofs.SnapshotPolicy{Share: "/archive", Interval: "24h", KeepLast: ptr[int32](7)}
	projects := dittofs.SnapshotPolicy{Share: "projects", Interval: "1h", TTL: "720h", Enabled: ptr(false), NamePrefix: "hourly"}
	base := hash(archive, projects)
	if len(base) != 64 {
		t.Fatalf("hash %q is not 64 hex digits", base)
	}
	same := map[string][]dittofs.SnapshotPolicy{
		"reversed order": {projects, archive},
		"other spellings": {
			{Share: "archive", Interval: "@daily", KeepLast: ptr[int32](7), Enabled: ptr(true), TTL: "0"},
			{Share: "//projects", Interval: "60m", TTL: "720h0m0s", Enabled: ptr(false), NamePrefix: "hourly"},
		},
	}
	for name, p := range same {
		if h := hash(p...); h != base {
			t.Errorf("%s: hash %s, want %s", name, h, base)
		}
	}
	changed := map[string]func(a *dittofs.SnapshotPolicy){
		"share":      func(a *dittofs.SnapshotPolicy) { a.Share = "/archive2" },
		"interval":   func(a *dittofs.SnapshotPolicy) { a.Interval = "12h" },
		"keepLast":   func(a *dittofs.SnapshotPolicy) { a.KeepLast = ptr[int32](8) },
		"keepLast 0": func(a *dittofs.SnapshotPolicy) { a.KeepLast = nil },
		"ttl":        func(a *dittofs.SnapshotPolicy) { a.TTL = "1h" },
		"enabled":    func(a *dittofs.SnapshotPolicy) { a.Enabled = ptr(false) },
		"namePrefix": func(a *dittofs.SnapshotPolicy) { a.NamePrefix = "x" },
	}
	for name, change := range changed {
		a := archive
		change(&a)
		if h := hash(a, projects); h == base {
			t.Errorf("changing %s kept the hash", name)
		}
	}
	if h := hash(); h != "" {
		t.Errorf("no policies hash to %q, want \"\"", h)
	}
	if _, err := dittofs.SnapshotPoliciesHash([]dittofs.SnapshotPolicy{{Share: "a", Interval: "daily"}}); err == nil {
		t.Error("an invalid policy hashed without error")
	}
}
