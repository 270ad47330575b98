package dittofs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// The operator-role rule, offline: the hook uses, resets or deletes the
// k8s-operator account only while DittoFS says its role is operator — after
// a login, after a token refresh, before a password reset and before a
// delete. The peer is a test double of DittoFS that answers with the real
// DittoFS v0.29.0's recorded answers (test/testdata/dittofs/*.headers and
// *.body, as captured), the user's role set per case, and records every call.

const (
	operatorName = "k8s-operator"
	operatorPass = "operator-pass"
	adminPass    = "admin-pass"
)

// fakeDittoFS replays recorded answers of DittoFS v0.29.0.
type fakeDittoFS struct {
	t *testing.T
	// loginRole, refreshRole and userRole are the role DittoFS reports of
	// k8s-operator after a login, after a refresh, and from GET /users/{name}.
	loginRole, refreshRole, userRole string
	// operatorRefused: the operator's login answers 401 (its password is not
	// DittoFS's), so the hook repairs the account through the administrator.
	operatorRefused bool

	mu    sync.Mutex
	calls []string
}

func (f *fakeDittoFS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	setUser := func(name, role string) func(map[string]any) {
		return func(m map[string]any) {
			u := m["user"].(map[string]any)
			u["username"], u["role"] = name, role
		}
	}
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/login":
		var in struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			f.t.Errorf("login body: %v", err)
		}
		switch {
		case in.Username == operatorName && in.Password == operatorPass && !f.operatorRefused:
			f.replay(w, "login-operator", setUser(operatorName, f.loginRole))
		case in.Username == "admin" && in.Password == adminPass:
			f.replay(w, "login-admin", nil)
		default:
			f.replay(w, "login-bad-password", nil)
		}
	case "POST /api/v1/auth/refresh":
		// The recorded refresh is the administrator's; DittoFS answers the
		// same shape for any account.
		f.replay(w, "refresh", setUser(operatorName, f.refreshRole))
	case "GET /api/v1/adapters":
		f.replay(w, "adapters-fresh", nil)
	case "POST /api/v1/users":
		f.replay(w, "create-operator-user-again", nil) // it exists
	case "GET /api/v1/users/" + operatorName:
		// No recorded answer; DittoFS's user object, as its login embeds it.
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "0ac6896c-b333-4a9c-9d86-31d1b744b1c3", "username": operatorName, "role": f.userRole, "enabled": true})
	case "POST /api/v1/users/" + operatorName + "/password":
		f.replay(w, "reset-operator-password", nil)
	case "DELETE /api/v1/users/" + operatorName:
		w.WriteHeader(http.StatusNoContent)
	default:
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

// replay answers with a recorded answer: its status line, Content-Type and
// body (a JSON body changed by edit, when not nil).
func (f *fakeDittoFS) replay(w http.ResponseWriter, name string, edit func(map[string]any)) {
	dir := filepath.Join("..", "test", "testdata", "dittofs")
	head, err := os.Open(filepath.Join(dir, name+".headers"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer head.Close()
	sc := bufio.NewScanner(head)
	sc.Scan()
	status, err := strconv.Atoi(strings.Fields(sc.Text())[1]) // HTTP/1.1 200 OK
	if err != nil {
		f.t.Fatalf("%s.headers: %v", name, err)
	}
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && k == "Content-Type" {
			w.Header().Set(k, v)
		}
	}
	body, err := os.ReadFile(filepath.Join(dir, name+".body"))
	if err != nil {
		f.t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			f.t.Fatalf("%s.body: %v", name, err)
		}
		edit(m)
		if body, err = json.Marshal(m); err != nil {
			f.t.Fatal(err)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// called is every call so far, as "METHOD path".
func (f *fakeDittoFS) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// rig is a token cache with a clock the test moves, and a target at the fake.
type rig struct {
	fake     *fakeDittoFS
	accounts *dittofs.Accounts
	target   dittofs.Target
	now      time.Time
}

func newRig(t *testing.T, fake *fakeDittoFS) *rig {
	fake.t = t
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	r := &rig{fake: fake, now: time.Date(2026, 11, 25, 20, 5, 50, 0, time.UTC)}
	r.accounts = dittofs.NewAccounts(dittofs.AccountOptions{Now: func() time.Time { return r.now }})
	r.target = dittofs.Target{Key: "uid", Client: newClient(t, srv.URL),
		Operator: dittofs.Credentials{Username: operatorName, Password: operatorPass},
		Admin:    &dittofs.Credentials{Username: "admin", Password: adminPass}}
	return r
}

// list is one poll: the adapter list with an operator token.
func (r *rig) list(t *testing.T) error {
	return r.accounts.Do(ctx(t), r.target, func(token string) error {
		_, err := r.target.Client.ListAdapters(ctx(t), token)
		return err
	})
}

// conflict checks that err is an AccountConflictError naming role.
func conflict(t *testing.T, err error, role string) {
	t.Helper()
	var ce *dittofs.AccountConflictError
	if !errors.As(err, &ce) || ce.Username != operatorName || ce.Role != role {
		t.Fatalf("got %v, want an AccountConflictError for %s with role %s", err, operatorName, role)
	}
}

// named is how an AccountConflictError names a role: DittoFS's own three
// by name, anything else as "another role".
func named(role string) string {
	if role == "user" || role == "admin" || role == "operator" {
		return role
	}
	return "another role"
}

// TestOperatorRoleAtLogin: a login whose account DittoFS reports with any
// role but operator gives the hook no token to use: no adapter list, no
// repair, an AccountConflictError naming the role.
func TestOperatorRoleAtLogin(t *testing.T) {
	for _, role := range []string{"operator", "user", "admin", "superuser"} {
		t.Run(role, func(t *testing.T) {
			r := newRig(t, &fakeDittoFS{loginRole: role})
			err := r.list(t)
			want := []string{"POST /api/v1/auth/login"}
			if role == "operator" {
				if err != nil {
					t.Fatalf("an operator login failed: %v", err)
				}
				want = append(want, "GET /api/v1/adapters")
			} else {
				conflict(t, err, named(role))
			}
			if d := cmp.Diff(want, r.fake.called()); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
		})
	}
}

// TestOperatorRoleAtRefresh: an account promoted after the hook logged in
// (DittoFS reports admin in the refresh's answer) is not used from then on:
// the refreshed token is dropped, the poll fails with AccountConflictError,
// and the next poll does not reuse it.
func TestOperatorRoleAtRefresh(t *testing.T) {
	for _, role := range []string{"operator", "user", "admin", "superuser"} {
		t.Run(role, func(t *testing.T) {
			r := newRig(t, &fakeDittoFS{loginRole: "operator", refreshRole: role})
			if err := r.list(t); err != nil {
				t.Fatalf("first poll: %v", err)
			}
			// The recorded access token lives 900 s: past it, the hook
			// refreshes instead of logging in again.
			r.now = r.now.Add(899 * time.Second)
			err := r.list(t)
			want := []string{"POST /api/v1/auth/login", "GET /api/v1/adapters", "POST /api/v1/auth/refresh"}
			if role == "operator" {
				if err != nil {
					t.Fatalf("poll after an operator refresh: %v", err)
				}
				want = append(want, "GET /api/v1/adapters")
			} else {
				conflict(t, err, named(role))
			}
			if d := cmp.Diff(want, r.fake.called()); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
			if role == "operator" {
				return
			}
			// The refreshed tokens were not kept: the next poll logs in
			// again (DittoFS now says operator at login) instead of using them.
			r.fake.loginRole = "operator"
			if err := r.list(t); err != nil {
				t.Fatalf("poll after the conflict: %v", err)
			}
			if got := r.fake.called()[len(want):]; !slices.Equal(got, []string{"POST /api/v1/auth/login", "GET /api/v1/adapters"}) {
				t.Errorf("after a refused refresh the hook called %v, want a new login, then the list", got)
			}
		})
	}
}

// TestOperatorRoleAtRepair: when DittoFS refuses the operator's password,
// the hook repairs the account through the administrator; an existing
// k8s-operator whose role is not operator keeps its password.
func TestOperatorRoleAtRepair(t *testing.T) {
	for _, role := range []string{"operator", "user", "admin"} {
		t.Run(role, func(t *testing.T) {
			r := newRig(t, &fakeDittoFS{operatorRefused: true, userRole: role, loginRole: "operator"})
			err := r.list(t)
			want := []string{"POST /api/v1/auth/login", "POST /api/v1/auth/login", "POST /api/v1/users", "GET /api/v1/users/k8s-operator"}
			if role == "operator" {
				want = append(want, "POST /api/v1/users/k8s-operator/password", "POST /api/v1/auth/login")
				if err == nil || dittofs.StatusCode(err) != 401 {
					t.Fatalf("got %v; want the operator's second login refused (the fake keeps refusing it)", err)
				}
			} else {
				conflict(t, err, role)
			}
			if d := cmp.Diff(want, r.fake.called()); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
		})
	}
}

// TestOperatorRoleAtDelete: finalize deletes k8s-operator only when DittoFS
// says its role is operator.
func TestOperatorRoleAtDelete(t *testing.T) {
	for _, role := range []string{"operator", "user", "admin"} {
		t.Run(role, func(t *testing.T) {
			r := newRig(t, &fakeDittoFS{userRole: role})
			err := r.accounts.DeleteOperator(context.Background(), r.target)
			want := []string{"POST /api/v1/auth/login", "GET /api/v1/users/k8s-operator"}
			if role == "operator" {
				if err != nil {
					t.Fatalf("delete: %v", err)
				}
				want = append(want, "DELETE /api/v1/users/k8s-operator")
			} else {
				conflict(t, err, role)
			}
			if d := cmp.Diff(want, r.fake.called()); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
		})
	}
}
