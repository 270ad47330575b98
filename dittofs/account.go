package dittofs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/cache"
)

// OperatorRole is the DittoFS role of the hook's account: it may list
// adapters and little else, so a leaked token exposes little.
const OperatorRole = "operator"

// Credentials of a DittoFS user. They print redacted, so that a stray log
// line or %v never shows a password.
type Credentials struct {
	Username string
	Password string
}

func (c Credentials) String() string { return c.Username + ":<redacted>" }

// LogValue keeps the password out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Stage names the step of obtaining a token that failed.
type Stage string

const (
	StageOperatorLogin Stage = "operator login"
	StageAdminLogin    Stage = "admin login"
	StageProvision     Stage = "operator provisioning"
)

// ErrNoAdminCredentials means the operator account needs repair but the hook
// has no administrator password to repair it with.
var ErrNoAdminCredentials = errors.New("no administrator credentials available")

// AccountConflictError means the operator account's user name is taken by
// an account whose role is not operator: a person's (role user or admin,
// their own password), or the hook's own, promoted since. The hook never
// logs in as, resets the password of, or deletes such an account: its
// owner's access (and an admin's privileges) must never become the hook's.
type AccountConflictError struct {
	// Username is the account's name.
	Username string
	// Role is the role DittoFS reports: user, admin, or "another role".
	Role string
}

func (e *AccountConflictError) Error() string {
	return fmt.Sprintf("DittoFS user %s has the role %s, not %s: the hook did not create it, and never uses, resets or deletes it", e.Username, e.Role, OperatorRole)
}

// checkRole refuses an account whose role is not operator. The role is
// DittoFS's word: anything but its three roles is named "another role".
func checkRole(username, role string) error {
	switch role {
	case OperatorRole:
		return nil
	case "user", "admin":
	default:
		role = "another role"
	}
	return &AccountConflictError{Username: username, Role: role}
}

// AuthError is a failure to obtain a token, with the step that failed.
type AuthError struct {
	Stage Stage
	Err   error
}

func (e *AuthError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// Target is one DittoServer's API and the credentials to use with it.
type Target struct {
	// Key identifies the DittoServer (its UID): tokens are cached per key.
	Key      string
	Client   *Client
	Operator Credentials
	// Admin is used only to create or repair the operator account; nil when
	// the hook has no administrator password.
	Admin *Credentials
	// Provisioned, when set, is called once the operator account has been
	// created (created true) or its password reset (false) during this call:
	// what this sync did to DittoFS, which the sync's Events report.
	Provisioned func(created bool)
}

// AccountMetrics receives login and refresh outcomes. Any field may be nil.
type AccountMetrics struct {
	// Login is called with the account ("operator", "admin") and "ok" or "error".
	Login func(account, result string)
	// Refresh is called with "ok" or "error".
	Refresh func(result string)
	// Provision is called when the operator account is created or repaired.
	Provision func(result string)
}

// Accounts hands out operator tokens, one cached session per DittoServer.
// The cache is memory only: a restart costs one login per DittoServer,
// nothing else. It is bounded, and drops sessions not used for a while
// (DittoServers deleted, or moved to another hook replica).
type Accounts struct {
	mu       sync.Mutex
	sessions *cache.LRUExpireCache
	idle     time.Duration
	now      func() time.Time
	metrics  AccountMetrics
}

// AccountOptions configures Accounts. Zero values take defaults.
type AccountOptions struct {
	// MaxSessions bounds the cache (default 10,000).
	MaxSessions int
	// Idle is how long an unused session is kept (default 1 h).
	Idle time.Duration
	// Now is the clock (default time.Now).
	Now     func() time.Time
	Metrics AccountMetrics
}

// NewAccounts returns an empty token cache.
func NewAccounts(o AccountOptions) *Accounts {
	if o.MaxSessions <= 0 {
		o.MaxSessions = 10000
	}
	if o.Idle <= 0 {
		o.Idle = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Accounts{sessions: cache.NewLRUExpireCacheWithClock(o.MaxSessions, clock(o.Now)), idle: o.Idle, now: o.Now, metrics: o.Metrics}
}

// clock adapts a time function to the cache's clock.
type clock func() time.Time

func (c clock) Now() time.Time { return c() }

// session is one DittoServer's tokens. Its mutex is held while logging in,
// so concurrent syncs of one DittoServer log in once.
type session struct {
	mu sync.Mutex
	// fingerprint of the API address and operator credentials the tokens
	// were obtained with: a new password or address starts over.
	fingerprint  [32]byte
	access       string
	refresh      string
	accessExpiry time.Time
	lifetime     time.Duration
}

func (a *Accounts) session(key string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s *session
	if v, ok := a.sessions.Get(key); ok {
		s = v.(*session)
	} else {
		s = &session{}
	}
	a.sessions.Add(key, s, a.idle) // slide the idle deadline
	return s
}

// Len is the number of cached sessions.
func (a *Accounts) Len() int { return len(a.sessions.Keys()) }

// Forget drops a DittoServer's session.
func (a *Accounts) Forget(key string) { a.sessions.Remove(key) }

// Do calls fn with an operator token. When fn fails with 401 (the token was
// revoked, or DittoFS restarted with a new signing key), it logs in again
// once and retries.
func (a *Accounts) Do(ctx context.Context, t Target, fn func(token string) error) error {
	s := a.session(t.Key)
	token, err := a.token(ctx, s, t)
	if err != nil {
		return err
	}
	err = fn(token)
	if StatusCode(err) != http.StatusUnauthorized {
		return err
	}
	s.mu.Lock()
	if s.access == token {
		s.access, s.refresh = "", ""
	}
	s.mu.Unlock()
	if token, err = a.token(ctx, s, t); err != nil {
		return err
	}
	return fn(token)
}

func (a *Accounts) token(ctx context.Context, s *session, t Target) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp := sha256.Sum256([]byte(t.Client.BaseURL() + "\x00" + t.Operator.Username + "\x00" + t.Operator.Password))
	if fp != s.fingerprint {
		s.fingerprint = fp
		s.access, s.refresh, s.accessExpiry, s.lifetime = "", "", time.Time{}, 0
	}
	now := a.now()
	if s.access != "" && now.Before(s.accessExpiry.Add(-refreshMargin(s.lifetime))) {
		return s.access, nil
	}
	if s.refresh != "" {
		tok, err := t.Client.Refresh(ctx, s.refresh)
		a.count(a.metrics.Refresh, err)
		if err == nil {
			// The role may have changed since the login (an admin promoted
			// the account): check it on every new token.
			if err := checkRole(t.Operator.Username, tok.User.Role); err != nil {
				s.access, s.refresh = "", ""
				return "", &AuthError{Stage: StageOperatorLogin, Err: err}
			}
			s.store(tok, now)
			return s.access, nil
		}
		if IsTransient(err) {
			return "", &AuthError{Stage: StageOperatorLogin, Err: err}
		}
		// The refresh token expired or was revoked: log in again.
	}
	s.access, s.refresh = "", ""
	tok, err := a.login(ctx, t)
	if err != nil {
		return "", err
	}
	s.store(tok, now)
	return s.access, nil
}

// login logs in as the operator, creating or repairing the account through
// the administrator when DittoFS refuses the operator's password. A token
// is kept only when DittoFS says the account has the operator role.
func (a *Accounts) login(ctx context.Context, t Target) (*Tokens, error) {
	tok, err := a.operatorLogin(ctx, t)
	if err == nil || StatusCode(err) != http.StatusUnauthorized {
		return tok, err
	}
	if err := a.provision(ctx, t); err != nil {
		return nil, err
	}
	return a.operatorLogin(ctx, t)
}

func (a *Accounts) operatorLogin(ctx context.Context, t Target) (*Tokens, error) {
	tok, err := t.Client.Login(ctx, t.Operator.Username, t.Operator.Password)
	a.countLogin("operator", err)
	if err == nil {
		err = checkRole(t.Operator.Username, tok.User.Role)
	}
	if err != nil {
		return nil, &AuthError{Stage: StageOperatorLogin, Err: err}
	}
	return tok, nil
}

// provision creates the operator account, or resets its password to the
// one the hook holds when it already exists with the operator role. An
// existing account of another role is not the hook's: it is left alone.
func (a *Accounts) provision(ctx context.Context, t Target) (err error) {
	defer func() { a.count(a.metrics.Provision, err) }()
	admin, err := a.adminToken(ctx, t)
	if err != nil {
		return err
	}
	err = t.Client.CreateUser(ctx, admin, t.Operator.Username, t.Operator.Password, OperatorRole)
	created := err == nil
	if StatusCode(err) == http.StatusConflict {
		var u *User
		if u, err = t.Client.GetUser(ctx, admin, t.Operator.Username); err == nil {
			if err = checkRole(t.Operator.Username, u.Role); err == nil {
				err = t.Client.ResetPassword(ctx, admin, t.Operator.Username, t.Operator.Password)
			}
		}
	}
	if err != nil {
		return &AuthError{Stage: StageProvision, Err: err}
	}
	if t.Provisioned != nil {
		t.Provisioned(created)
	}
	return nil
}

func (a *Accounts) adminToken(ctx context.Context, t Target) (string, error) {
	if t.Admin == nil {
		return "", &AuthError{Stage: StageAdminLogin, Err: ErrNoAdminCredentials}
	}
	tok, err := t.Client.Login(ctx, t.Admin.Username, t.Admin.Password)
	a.countLogin("admin", err)
	if err != nil {
		return "", &AuthError{Stage: StageAdminLogin, Err: err}
	}
	return tok.AccessToken, nil
}

// DeleteOperator removes the operator account (finalize). An account that
// is already gone counts as deleted; one whose role is not operator is not
// the hook's, and is left alone (an *AccountConflictError).
func (a *Accounts) DeleteOperator(ctx context.Context, t Target) error {
	admin, err := a.adminToken(ctx, t)
	if err != nil {
		return err
	}
	u, err := t.Client.GetUser(ctx, admin, t.Operator.Username)
	switch {
	case StatusCode(err) == http.StatusNotFound:
		a.Forget(t.Key)
		return nil
	case err != nil:
		return fmt.Errorf("look up the operator account: %w", err)
	}
	if err := checkRole(t.Operator.Username, u.Role); err != nil {
		a.Forget(t.Key)
		return err
	}
	err = t.Client.DeleteUser(ctx, admin, t.Operator.Username)
	if err != nil && StatusCode(err) != http.StatusNotFound {
		return fmt.Errorf("delete operator account: %w", err)
	}
	a.Forget(t.Key)
	return nil
}

func (s *session) store(t *Tokens, now time.Time) {
	s.access, s.refresh = t.AccessToken, t.RefreshToken
	s.lifetime = time.Duration(t.ExpiresIn) * time.Second
	s.accessExpiry = now.Add(s.lifetime)
}

// refreshMargin is how long before expiry a token is renewed: a tenth of
// its lifetime, between 1 s and 1 min.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(max(lifetime/10, time.Second), time.Minute)
}

func (a *Accounts) countLogin(account string, err error) {
	if a.metrics.Login != nil {
		a.metrics.Login(account, result(err))
	}
}

func (a *Accounts) count(f func(string), err error) {
	if f != nil {
		f(result(err))
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
