package test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the code produces")

// defaultNow is the fixed clock of the fixture cases: shortly after the
// captured traffic.
var defaultNow = time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC)

// fixtureCase is a case's dittofs.json: what DittoFS answered during the
// sync, and the time.
type fixtureCase struct {
	// Now is the clock; defaultNow when empty.
	Now time.Time `json:"now"`
	// Adapters is a successful poll's answer, as DittoFS's JSON.
	Adapters json.RawMessage `json:"adapters,omitempty"`
	// AdaptersFile names a captured answer body (relative to the case).
	AdaptersFile string `json:"adaptersFile,omitempty"`
	// Error is a failed exchange: refused, timeout, reset, http-302, http-500,
	// http-401, http-403, malformed, admin-rejected, no-admin,
	// operator-forbidden, operator-conflict.
	Error string `json:"error,omitempty"`
	// Finalized says the operator account was deleted (finalize cases).
	Finalized bool `json:"finalized,omitempty"`
}

const fixtureAPI = "http://demo-api.default.svc.cluster.local.:8080"

// observation turns a case into what the shell would have learned, through
// the same classification the shell uses.
func (c fixtureCase) observation(t *testing.T, dir string, in *hook.Input) hook.Observation {
	t.Helper()
	raw := c.Adapters
	if c.AdaptersFile != "" {
		var err error
		if raw, err = os.ReadFile(filepath.Join(dir, c.AdaptersFile)); err != nil {
			t.Fatal(err)
		}
	}
	if in.Finalizing() {
		switch {
		case c.Finalized:
			return in.ObserveFinalize(nil, fixtureAPI)
		case c.Error != "":
			return in.ObserveFinalize(fixtureError(t, c.Error), fixtureAPI)
		}
		return hook.Observation{}
	}
	if raw != nil {
		adapters, err := dittofs.DecodeAdapters(raw)
		if err != nil {
			return in.ObservePoll(nil, &dittofs.MalformedError{Op: "list adapters", Err: err}, fixtureAPI)
		}
		return in.ObservePoll(adapters, nil, fixtureAPI)
	}
	if c.Error == "" {
		return hook.Observation{}
	}
	return in.ObservePoll(nil, fixtureError(t, c.Error), fixtureAPI)
}

func fixtureError(t *testing.T, kind string) error {
	list := func(err error) error { return &dittofs.TransportError{Op: "list adapters", Err: err} }
	switch kind {
	case "refused":
		return &dittofs.AuthError{Stage: dittofs.StageOperatorLogin, Err: &dittofs.TransportError{Op: "login", Err: syscall.ECONNREFUSED}}
	case "timeout":
		return list(context.DeadlineExceeded)
	case "reset":
		return list(syscall.ECONNRESET)
	case "http-500":
		return &dittofs.APIError{Op: "list adapters", Status: 500, Message: "Internal Server Error"}
	case "http-302":
		return &dittofs.APIError{Op: "list adapters", Status: 302}
	case "http-401":
		return &dittofs.APIError{Op: "list adapters", Status: 401, Message: "Invalid or expired token"}
	case "http-403":
		return &dittofs.APIError{Op: "list adapters", Status: 403, Message: "Admin access required"}
	case "malformed":
		return &dittofs.MalformedError{Op: "list adapters", Err: os.ErrInvalid}
	case "admin-rejected":
		return &dittofs.AuthError{Stage: dittofs.StageAdminLogin, Err: &dittofs.APIError{Op: "login", Status: 401, Message: "Invalid username or password"}}
	case "no-admin":
		return &dittofs.AuthError{Stage: dittofs.StageAdminLogin, Err: dittofs.ErrNoAdminCredentials}
	case "operator-conflict":
		return &dittofs.AuthError{Stage: dittofs.StageProvision, Err: &dittofs.AccountConflictError{Username: "k8s-operator", Role: "user"}}
	case "operator-forbidden":
		return &dittofs.AuthError{Stage: dittofs.StageProvision, Err: &dittofs.APIError{Op: "create user", Status: 403, Message: "Admin access required"}}
	}
	t.Fatalf("unknown error kind %q", kind)
	return nil
}

// TestSyncFixtures runs every case under testdata/sync through the pure
// core and compares the whole response with the case's response.json.
func TestSyncFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/sync/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixture cases found (%v)", err)
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runFixture(t, dir)
			again := runFixture(t, dir)
			if !bytes.Equal(got, again) {
				t.Fatalf("the same request gave two different answers:\n%s", cmp.Diff(string(got), string(again)))
			}
			compareGolden(t, filepath.Join(dir, "response.json"), got)
		})
	}
}

func runFixture(t *testing.T, dir string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(dir, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c fixtureCase
	if raw, err := os.ReadFile(filepath.Join(dir, "dittofs.json")); err == nil {
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("dittofs.json: %v", err)
		}
	}
	if c.Now.IsZero() {
		c.Now = defaultNow
	}
	req, err := hook.DecodeSyncRequest(body)
	if err != nil {
		t.Fatalf("decode request: %v", err)
	}
	in, err := hook.Prepare(req)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	resp := in.Desired(c.observation(t, dir, in), c.Now, hook.NewFixedSecretSource("fixture-key"))
	out, err := json.MarshalIndent(resp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// compareGolden compares got with a golden file, structurally, so that a
// failure shows which fields differ. -update rewrites the file.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test -run %s -update to create it)", err, t.Name())
	}
	if bytes.Equal(want, got) {
		return
	}
	var w, g any
	if json.Unmarshal(want, &w) == nil && json.Unmarshal(got, &g) == nil {
		if d := cmp.Diff(w, g); d != "" {
			t.Fatalf("%s differs (-want +got):\n%s\nrun with -update if the change is intended", path, d)
		}
	}
	t.Fatalf("%s differs in formatting only:\n%s", path, cmp.Diff(string(want), string(got)))
}
