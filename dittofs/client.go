// Package dittofs is the hook's client of the DittoFS control-plane REST API
// (DittoFS v0.29.0): calls, errors, the token cache and the provisioning of
// the hook's own operator account.
package dittofs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxBody bounds what the hook reads of any answer: a list of adapters is a
// few hundred bytes per adapter.
const maxBody = 4 << 20

// Tokens is a login or refresh answer.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	User      struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	} `json:"user"`
}

// Observer learns of every call, for metrics. endpoint is a fixed route
// name (never a URL with a user name in it); code is the HTTP status, or 0
// when no answer came.
type Observer func(endpoint string, code int)

// Client calls one DittoFS server. It holds no credentials: every call that
// needs a token takes it. Safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	observe Observer
}

// NewClient returns a client of the API at baseURL (scheme://host:port).
// hc carries no timeout of its own: every call is bounded by its context.
//
// The client never follows a redirect, whatever hc's CheckRedirect says:
// the server at a DittoServer's API address is whatever image its owner
// runs, and following its redirect would send the operator's bearer token,
// or re-post its password (307), to an address of the owner's choosing. A
// 3xx answer is an *APIError (IsRedirect).
func NewClient(baseURL string, hc *http.Client, observe Observer) (*Client, error) {
	u, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	noRedirects := *hc
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc = &noRedirects
	if observe == nil {
		observe = func(string, int) {}
	}
	return &Client{base: u.String(), http: hc, observe: observe}, nil
}

// ParseBaseURL checks an API base URL: http or https, a host, an optional
// port, and nothing else — no user information (which would be sent as
// credentials), path, query or fragment (which could turn the address into
// another one). It returns the URL without a trailing slash.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("DittoFS URL %q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("DittoFS URL %q: the scheme must be http or https", s)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("DittoFS URL %q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("DittoFS URL %q carries user information", s)
	case (u.Path != "" && u.Path != "/") || u.RawPath != "":
		return nil, fmt.Errorf("DittoFS URL %q has a path; want scheme://host:port", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return nil, fmt.Errorf("DittoFS URL %q has a query or fragment; want scheme://host:port", s)
	}
	u.Path = ""
	return u, nil
}

// BaseURL is the API address this client calls.
func (c *Client) BaseURL() string { return c.base }

// Login exchanges a user name and password for tokens.
func (c *Client) Login(ctx context.Context, username, password string) (*Tokens, error) {
	var t Tokens
	err := c.do(ctx, "login", http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"username": username, "password": password}, http.StatusOK, &t)
	if err != nil {
		return nil, err
	}
	return &t, checkTokens("login", &t)
}

// Refresh exchanges a refresh token for a new pair.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	var t Tokens
	err := c.do(ctx, "refresh", http.MethodPost, "/api/v1/auth/refresh", "",
		map[string]string{"refresh_token": refreshToken}, http.StatusOK, &t)
	if err != nil {
		return nil, err
	}
	return &t, checkTokens("refresh", &t)
}

func checkTokens(op string, t *Tokens) error {
	if t.AccessToken == "" || t.ExpiresIn <= 0 {
		return &MalformedError{Op: op, Err: errors.New("no access token or lifetime")}
	}
	return nil
}

// ListAdapters returns the protocol adapters, in DittoFS's order. A body that
// is not the documented list is a *MalformedError, never an empty list.
func (c *Client) ListAdapters(ctx context.Context, token string) ([]Adapter, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "list adapters", http.MethodGet, "/api/v1/adapters", token, nil, http.StatusOK, &raw); err != nil {
		return nil, err
	}
	adapters, err := DecodeAdapters(raw)
	if err != nil {
		return nil, &MalformedError{Op: "list adapters", Err: err}
	}
	return adapters, nil
}

// ListAdapterPorts returns the adapters as GET /api/v1/adapters/ports
// (DittoFS v0.28.0 and later) reports them: type, port, enabled and running
// only, without id, updated_at or health. That route runs no health check,
// so it answers when the full list waits on one (see Poll). Decoded as the
// list is.
func (c *Client) ListAdapterPorts(ctx context.Context, token string) ([]Adapter, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "list adapter ports", http.MethodGet, "/api/v1/adapters/ports", token, nil, http.StatusOK, &raw); err != nil {
		return nil, err
	}
	adapters, err := DecodeAdapters(raw)
	if err != nil {
		return nil, &MalformedError{Op: "list adapter ports", Err: err}
	}
	return adapters, nil
}

// CreateUser creates a user with a role (admin token).
func (c *Client) CreateUser(ctx context.Context, token, username, password, role string) error {
	return c.do(ctx, "create user", http.MethodPost, "/api/v1/users", token,
		map[string]string{"username": username, "password": password, "role": role}, http.StatusCreated, nil)
}

// User is a DittoFS account as GET /api/v1/users/{name} reports it.
type User struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

// GetUser looks a user up (admin token). A missing user is a 404 APIError.
func (c *Client) GetUser(ctx context.Context, token, username string) (*User, error) {
	var u User
	if err := c.do(ctx, "get user", http.MethodGet, "/api/v1/users/"+url.PathEscape(username), token, nil, http.StatusOK, &u); err != nil {
		return nil, err
	}
	if u.Role == "" {
		return nil, &MalformedError{Op: "get user", Err: errors.New("no role")}
	}
	return &u, nil
}

// ResetPassword sets a user's password (admin token).
func (c *Client) ResetPassword(ctx context.Context, token, username, password string) error {
	return c.do(ctx, "reset password", http.MethodPost, "/api/v1/users/"+url.PathEscape(username)+"/password", token,
		map[string]string{"new_password": password}, http.StatusNoContent, nil)
}

// DeleteUser deletes a user (admin token).
func (c *Client) DeleteUser(ctx context.Context, token, username string) error {
	return c.do(ctx, "delete user", http.MethodDelete, "/api/v1/users/"+url.PathEscape(username), token, nil, http.StatusNoContent, nil)
}

// Health checks that the API answers (unauthenticated).
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "health", http.MethodGet, "/health", "", nil, http.StatusOK, nil)
}

// do performs one call. The request body may hold a password: it is never
// logged and never part of an error.
func (c *Client) do(ctx context.Context, op, method, path, token string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(op, 0)
		return &TransportError{Op: op, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		c.observe(op, 0)
		return &TransportError{Op: op, Err: stripURL(err)}
	}
	c.observe(op, resp.StatusCode)
	if len(data) > maxBody {
		return &MalformedError{Op: op, Err: fmt.Errorf("answer larger than %d bytes", maxBody)}
	}
	if resp.StatusCode != want {
		return newAPIError(op, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &MalformedError{Op: op, Err: errors.New("body is not the expected JSON")}
	}
	return nil
}

// stripURL removes the *url.Error wrapper, whose text repeats the URL (the
// caller already knows it) and would differ per user for user routes.
func stripURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
