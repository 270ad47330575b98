package dittofs_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/test/harness/dittofstest"
)

// counter counts calls by "METHOD /path".
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[k]
}

func (c *counter) reset() {
	c.mu.Lock()
	c.calls = nil
	c.mu.Unlock()
}

const (
	login   = "POST /api/v1/auth/login"
	refresh = "POST /api/v1/auth/refresh"
	list    = "GET /api/v1/adapters"
	create  = "POST /api/v1/users"
	reset   = "POST /api/v1/users/k8s-operator/password"
)

func newClient(t *testing.T, url string) (*dittofs.Client, *counter) {
	t.Helper()
	c := &counter{}
	client, err := dittofs.NewClient(url, &http.Client{Transport: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return client, c
}

// ctx bounds one call to the real DittoFS. Nothing here tests a timeout:
// 15 s leaves a loaded machine room for bcrypt (a login took over 3 s on
// one), so that a slow call never reads as a failed one.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

var admin = &dittofs.Credentials{Username: "admin", Password: dittofstest.AdminPassword}

// TestClientCalls exercises every call against the real server, including
// its two error formats (problem+json and plain text).
func TestClientCalls(t *testing.T) {
	srv := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	c, _ := newClient(t, srv.URL)
	if err := c.Health(ctx(t)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Login(ctx(t), "admin", "wrong-password")
	var apiErr *dittofs.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Message != "Invalid username or password" {
		t.Fatalf("bad password: %#v", err)
	}
	if dittofs.IsTransient(err) {
		t.Fatal("a 401 is not transient")
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("error shows the password: %v", err)
	}
	tok, err := c.Login(ctx(t), admin.Username, admin.Password)
	if err != nil || tok.ExpiresIn != 900 || tok.User.Role != "admin" {
		t.Fatalf("admin login: %+v %v", tok, err)
	}
	adapters, err := c.ListAdapters(ctx(t), tok.AccessToken)
	if err != nil || len(adapters) != 2 {
		t.Fatalf("list: %v %v", adapters, err)
	}
	ports := map[string]int32{}
	for _, a := range adapters {
		ports[a.Type] = a.Port
	}
	if ports["nfs"] != int32(srv.NFSPort) || ports["smb"] != int32(srv.SMBPort) {
		t.Fatalf("adapters %v, want nfs %d smb %d", ports, srv.NFSPort, srv.SMBPort)
	}
	_, err = c.ListAdapters(ctx(t), "not-a-token")
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Message != "Invalid or expired token" {
		t.Fatalf("bad token (plain-text error): %#v", err)
	}
	if err := c.CreateUser(ctx(t), tok.AccessToken, "k8s-operator", "first-password-123", "operator"); err != nil {
		t.Fatal(err)
	}
	err = c.CreateUser(ctx(t), tok.AccessToken, "k8s-operator", "first-password-123", "operator")
	if dittofs.StatusCode(err) != 409 || !strings.Contains(err.Error(), "User already exists") {
		t.Fatalf("second create: %v", err)
	}
	if err := c.ResetPassword(ctx(t), tok.AccessToken, "k8s-operator", "second-password-456"); err != nil {
		t.Fatal(err)
	}
	op, err := c.Login(ctx(t), "k8s-operator", "second-password-456")
	if err != nil || op.User.Role != "operator" {
		t.Fatalf("operator login: %+v %v", op, err)
	}
	if _, err := c.ListAdapters(ctx(t), op.AccessToken); err != nil {
		t.Fatalf("operator may list adapters: %v", err)
	}
	err = c.CreateUser(ctx(t), op.AccessToken, "x", "password-1234567", "user")
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Message != "Admin access required" {
		t.Fatalf("operator creating a user: %#v", err)
	}
	if _, err := c.Refresh(ctx(t), op.RefreshToken); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := c.DeleteUser(ctx(t), tok.AccessToken, "k8s-operator"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx(t), tok.AccessToken, "k8s-operator"); dittofs.StatusCode(err) != 404 {
		t.Fatalf("deleting a missing user: %v", err)
	}
}

// TestAccountFlow follows the operator account through its life against the
// real server, counting the calls the hook makes.
func TestAccountFlow(t *testing.T) {
	srv := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	c, calls := newClient(t, srv.URL)
	var logins atomic.Int32
	accounts := dittofs.NewAccounts(dittofs.AccountOptions{Metrics: dittofs.AccountMetrics{
		Login: func(account, result string) {
			if account == "operator" && result == "ok" {
				logins.Add(1)
			}
		},
	}})
	target := dittofs.Target{Key: "uid-1", Client: c, Operator: dittofs.Credentials{Username: "k8s-operator", Password: "operator-password-1"}, Admin: admin}
	listAdapters := func(tg dittofs.Target) ([]dittofs.Adapter, error) {
		var out []dittofs.Adapter
		err := accounts.Do(ctx(t), tg, func(token string) error {
			var err error
			out, err = c.ListAdapters(ctx(t), token)
			return err
		})
		return out, err
	}

	t.Run("first sync provisions the account", func(t *testing.T) {
		if _, err := listAdapters(target); err != nil {
			t.Fatal(err)
		}
		// operator login refused, admin login, create, operator login.
		if calls.get(login) != 3 || calls.get(create) != 1 || calls.get(list) != 1 {
			t.Fatalf("calls: %v", calls.calls)
		}
	})
	t.Run("next sync reuses the token", func(t *testing.T) {
		calls.reset()
		if _, err := listAdapters(target); err != nil {
			t.Fatal(err)
		}
		if calls.get(login) != 0 || calls.get(list) != 1 {
			t.Fatalf("calls: %v", calls.calls)
		}
	})
	t.Run("wrong operator password is repaired through the admin", func(t *testing.T) {
		calls.reset()
		tg := target
		tg.Operator.Password = "operator-password-2" // the Secret changed
		if _, err := listAdapters(tg); err != nil {
			t.Fatal(err)
		}
		// refused, admin, create → 409, reset, operator login.
		if calls.get(create) != 1 || calls.get(reset) != 1 || calls.get(login) != 3 {
			t.Fatalf("calls: %v", calls.calls)
		}
		target = tg
	})
	t.Run("wrong admin password", func(t *testing.T) {
		tg := target
		tg.Key = "uid-2"
		tg.Operator.Password = "operator-password-3"
		tg.Admin = &dittofs.Credentials{Username: "admin", Password: "not-the-admin-password"}
		_, err := listAdapters(tg)
		var authErr *dittofs.AuthError
		if !errors.As(err, &authErr) || authErr.Stage != dittofs.StageAdminLogin || dittofs.StatusCode(err) != 401 {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "not-the-admin-password") || strings.Contains(err.Error(), "operator-password-3") {
			t.Fatalf("error shows a password: %v", err)
		}
	})
	t.Run("no admin credentials", func(t *testing.T) {
		tg := target
		tg.Key = "uid-3"
		tg.Operator.Password = "operator-password-4"
		tg.Admin = nil
		_, err := listAdapters(tg)
		if !errors.Is(err, dittofs.ErrNoAdminCredentials) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("concurrent syncs log in once", func(t *testing.T) {
		logins.Store(0)
		fresh := dittofs.NewAccounts(dittofs.AccountOptions{Metrics: dittofs.AccountMetrics{Login: func(a, r string) {
			if a == "operator" && r == "ok" {
				logins.Add(1)
			}
		}}})
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- fresh.Do(ctx(t), target, func(token string) error {
					_, err := c.ListAdapters(ctx(t), token)
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := logins.Load(); n != 1 {
			t.Fatalf("%d operator logins for 20 concurrent syncs of one parent, want 1", n)
		}
	})
	t.Run("finalize deletes the account", func(t *testing.T) {
		if err := accounts.DeleteOperator(ctx(t), target); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx(t), target.Operator.Username, target.Operator.Password); dittofs.StatusCode(err) != 401 {
			t.Fatalf("operator can still log in: %v", err)
		}
		if err := accounts.DeleteOperator(ctx(t), target); err != nil {
			t.Fatalf("deleting an absent account must succeed: %v", err)
		}
	})
	t.Run("server stopped", func(t *testing.T) {
		srv.Stop()
		// A DittoFS that is down when the hook connects, not one that dies
		// under a pooled connection: on a loaded machine the transport may
		// not yet have seen the server close its idle connection, and a
		// POST on it meets EOF ("connection closed before a complete
		// answer"), a different case.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		tg := target
		tg.Key = "uid-4"
		_, err := listAdapters(tg)
		// Refused, not "timed out": the call fails at once instead of
		// waiting for its deadline.
		if !dittofs.IsTransient(err) || dittofs.Describe(err) != "login: connection refused" {
			t.Fatalf("got %v (%q)", err, dittofs.Describe(err))
		}
	})
}

// TestTokenExpiry uses a server whose access tokens live 2 s.
func TestTokenExpiry(t *testing.T) {
	srv := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{AccessTokenDuration: "2s"})
	c, calls := newClient(t, srv.URL)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	accounts := dittofs.NewAccounts(dittofs.AccountOptions{Now: clock})
	target := dittofs.Target{Key: "uid-1", Client: c, Operator: dittofs.Credentials{Username: "k8s-operator", Password: "operator-password-1"}, Admin: admin}
	do := func() error {
		return accounts.Do(ctx(t), target, func(token string) error {
			_, err := c.ListAdapters(ctx(t), token)
			return err
		})
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	t.Run("refreshed before expiry", func(t *testing.T) {
		time.Sleep(2500 * time.Millisecond) // the token really expires
		now.Store(time.Now().UnixNano())
		calls.reset()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		if calls.get(refresh) != 1 || calls.get(login) != 0 {
			t.Fatalf("calls: %v", calls.calls)
		}
	})
	t.Run("a 401 on a token the hook thought valid costs one re-login", func(t *testing.T) {
		// The hook's clock lags: it still believes the token it holds is
		// fresh while DittoFS has expired it.
		frozen := time.Now().UnixNano()
		now.Store(frozen)
		if err := do(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		now.Store(frozen)
		calls.reset()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		if calls.get(list) != 2 || calls.get(login) != 1 {
			t.Fatalf("calls: %v", calls.calls)
		}
	})
}

// TestCacheBounds: the cache holds at most MaxSessions and drops idle ones.
func TestCacheBounds(t *testing.T) {
	srv := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	c, _ := newClient(t, srv.URL)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	accounts := dittofs.NewAccounts(dittofs.AccountOptions{MaxSessions: 2, Idle: time.Minute, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	for _, key := range []string{"a", "b", "c"} {
		tg := dittofs.Target{Key: key, Client: c, Operator: dittofs.Credentials{Username: "k8s-operator", Password: "operator-password-1"}, Admin: admin}
		if err := accounts.Do(ctx(t), tg, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := accounts.Len(); n != 2 {
		t.Fatalf("%d sessions cached, want 2", n)
	}
	now.Add(int64(2 * time.Minute))
	if n := accounts.Len(); n != 0 {
		t.Fatalf("%d sessions after the idle time, want 0", n)
	}
}

// TestForeignOperatorAccount: a k8s-operator account the hook did not
// create — a person's, with role user or admin and their own password — is
// never reset, used or deleted. Before, one sync reset its password and the
// hook logged in as it; finalize deleted it.
func TestForeignOperatorAccount(t *testing.T) {
	srv := dittofstest.StartDittoFS(t, dittofstest.DittoFSOptions{})
	c, calls := newClient(t, srv.URL)
	adminToken := srv.AdminToken()
	const persons = "a-person's-own-password-42"
	target := dittofs.Target{Key: "uid-1", Client: c, Operator: dittofs.Credentials{Username: "k8s-operator", Password: "hook-operator-password-1"}, Admin: admin}
	for _, role := range []string{"user", "admin"} {
		t.Run(role, func(t *testing.T) {
			srv.Admin(adminToken, http.MethodPost, "/api/v1/users", map[string]string{"username": "k8s-operator", "password": persons, "role": role}, http.StatusCreated, nil)
			t.Cleanup(func() {
				srv.Admin(adminToken, http.MethodDelete, "/api/v1/users/k8s-operator", nil, http.StatusNoContent, nil)
			})
			accounts := dittofs.NewAccounts(dittofs.AccountOptions{})
			calls.reset()
			err := accounts.Do(ctx(t), target, func(token string) error {
				t.Errorf("the hook used a token of the person's account")
				return nil
			})
			var conflict *dittofs.AccountConflictError
			if !errors.As(err, &conflict) || conflict.Role != role {
				t.Fatalf("got %v, want an AccountConflictError for role %s", err, role)
			}
			if n := calls.get(reset); n != 0 {
				t.Errorf("the hook reset the person's password (%d calls)", n)
			}
			if code, _ := srv.Call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "k8s-operator", "password": persons}); code != http.StatusOK {
				t.Errorf("the person can no longer log in with their password: %d", code)
			}
			if err := accounts.DeleteOperator(ctx(t), target); !errors.As(err, &conflict) {
				t.Errorf("finalize: got %v, want an AccountConflictError", err)
			}
			if code, body := srv.Call(adminToken, http.MethodGet, "/api/v1/users/k8s-operator", nil); code != http.StatusOK || !strings.Contains(string(body), `"role":"`+role+`"`) {
				t.Errorf("finalize deleted or changed the person's account: %d %s", code, body)
			}
		})
	}
	t.Run("the hook's own account promoted to admin", func(t *testing.T) {
		accounts := dittofs.NewAccounts(dittofs.AccountOptions{})
		if err := accounts.Do(ctx(t), target, func(string) error { return nil }); err != nil {
			t.Fatal(err) // provisions the hook's account
		}
		srv.Admin(adminToken, http.MethodPut, "/api/v1/users/k8s-operator", map[string]string{"role": "admin"}, http.StatusOK, nil)
		accounts.Forget(target.Key)
		err := accounts.Do(ctx(t), target, func(string) error {
			t.Errorf("the hook used an admin's token")
			return nil
		})
		var conflict *dittofs.AccountConflictError
		if !errors.As(err, &conflict) || conflict.Role != "admin" {
			t.Fatalf("got %v, want an AccountConflictError for role admin", err)
		}
	})
}
