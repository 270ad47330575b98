package dittofs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SnapshotPolicy is one share's snapshot schedule as a DittoServer states it
// in spec.snapshotPolicies[] (the upstream operator's
// ShareSnapshotPolicySpec, v0.29.0).
type SnapshotPolicy struct {
	// Share is the share's name; DittoFS adds a leading slash ("archive"
	// and "/archive" are one share).
	Share string
	// Interval is a Go duration ("24h", "1h30m") or @hourly, @daily,
	// @weekly.
	Interval string
	// KeepLast keeps the newest N scheduled snapshots; nil or 0: no bound.
	KeepLast *int32
	// TTL prunes scheduled snapshots older than this Go duration; "" or
	// "0": no bound.
	TTL string
	// Enabled defaults to true.
	Enabled *bool
	// NamePrefix labels scheduled snapshots (DittoFS's default when
	// empty).
	NamePrefix string
}

// SnapshotPolicyState is a share's policy in DittoFS's own terms: what
// GET /api/v1/snapshot-policies reports and what a PUT stores. Normalising
// a SnapshotPolicy gives the state DittoFS would store, so equal states mean
// there is nothing to write.
type SnapshotPolicyState struct {
	Share      string `json:"share"`
	Enabled    bool   `json:"enabled"`
	Interval   string `json:"interval"`
	KeepLast   int    `json:"keep_last"`
	TTL        string `json:"ttl,omitempty"`
	NamePrefix string `json:"name_prefix,omitempty"`
}

// SnapshotPolicySpecError is a desired policy DittoFS would refuse, or a
// share listed twice: caught before any call, so that the user reads which
// entry and why instead of a 400 from DittoFS.
type SnapshotPolicySpecError struct {
	// Index in spec.snapshotPolicies.
	Index int
	// Reason names the field and what is wrong with it.
	Reason string
}

func (e *SnapshotPolicySpecError) Error() string {
	return fmt.Sprintf("spec.snapshotPolicies[%d]: %s", e.Index, e.Reason)
}

// namePrefixRE is DittoFS v0.29.0's rule for name_prefix
// (internal/controlplane/api/handlers/snapshot_policy.go).
var namePrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// intervalShorthands are the @-aliases DittoFS's schedule.ParseInterval
// accepts, case-insensitively.
var intervalShorthands = map[string]time.Duration{
	"@hourly": time.Hour,
	"@daily":  24 * time.Hour,
	"@weekly": 7 * 24 * time.Hour,
}

// NormalizeShareName is DittoFS's normalizeShareName: the name
// URL-unescaped, with exactly one leading slash. Every share route and the
// share creation apply it, so it is the name DittoFS stores and reports.
func NormalizeShareName(name string) string {
	if unescaped, err := url.PathUnescape(name); err == nil {
		name = unescaped
	}
	return "/" + strings.TrimLeft(name, "/")
}

// Normalize checks p as DittoFS's PUT handler does and returns the state
// DittoFS would store for it: interval and TTL as Go prints durations
// ("@daily" → "24h0m0s"), the defaults filled in.
func (p SnapshotPolicy) Normalize() (SnapshotPolicyState, error) {
	s := SnapshotPolicyState{Share: NormalizeShareName(p.Share), Enabled: true, NamePrefix: p.NamePrefix}
	if s.Share == "/" {
		return s, errors.New("share is empty")
	}
	interval, err := parseInterval(p.Interval)
	if err != nil {
		return s, err
	}
	s.Interval = interval.String()
	if p.TTL != "" && p.TTL != "0" {
		ttl, err := time.ParseDuration(p.TTL)
		if err != nil || ttl < 0 {
			return s, fmt.Errorf("ttl %q is not a Go duration of at least 0 (such as 720h)", p.TTL)
		}
		if ttl > 0 {
			s.TTL = ttl.String()
		}
	}
	if p.KeepLast != nil {
		if *p.KeepLast < 0 {
			return s, fmt.Errorf("keepLast %d is negative", *p.KeepLast)
		}
		s.KeepLast = int(*p.KeepLast)
	}
	if p.Enabled != nil {
		s.Enabled = *p.Enabled
	}
	if !namePrefixRE.MatchString(p.NamePrefix) {
		return s, fmt.Errorf("namePrefix %q must be at most 64 letters, digits, '-' or '_'", p.NamePrefix)
	}
	return s, nil
}

// parseInterval is DittoFS's schedule.ParseInterval.
func parseInterval(s string) (time.Duration, error) {
	trimmed := strings.TrimSpace(s)
	if d, ok := intervalShorthands[strings.ToLower(trimmed)]; ok {
		return d, nil
	}
	d, err := time.ParseDuration(trimmed)
	if trimmed == "" || strings.HasPrefix(trimmed, "@") || err != nil || d <= 0 {
		return 0, fmt.Errorf("interval %q is not a positive Go duration (such as 24h) or @hourly, @daily, @weekly", s)
	}
	return d, nil
}

// NormalizeSnapshotPolicies normalises every desired policy and returns them
// ordered by share. A policy DittoFS would refuse, or a share listed twice
// (after normalisation: "archive" and "/archive" are one), is a
// *SnapshotPolicySpecError.
func NormalizeSnapshotPolicies(policies []SnapshotPolicy) ([]SnapshotPolicyState, error) {
	out := make([]SnapshotPolicyState, 0, len(policies))
	seen := make(map[string]int, len(policies))
	for i, p := range policies {
		s, err := p.Normalize()
		if err != nil {
			return nil, &SnapshotPolicySpecError{Index: i, Reason: err.Error()}
		}
		if j, dup := seen[s.Share]; dup {
			return nil, &SnapshotPolicySpecError{Index: i, Reason: fmt.Sprintf("share %s is listed twice (also spec.snapshotPolicies[%d])", s.Share, j)}
		}
		seen[s.Share] = i
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b SnapshotPolicyState) int { return strings.Compare(a.Share, b.Share) })
	return out, nil
}

// SnapshotPoliciesHash is a stable digest of the desired policies for the
// DittoServer's status: the SHA-256 (hex) of the normalised policies as
// canonical JSON, ordered by share. Neither the order of the list nor a
// spelling DittoFS does not keep ("@daily" or "24h", "archive" or
// "/archive", an omitted or explicit enabled: true) changes it, so only a
// change DittoFS would see pushes again. No policies hash to "", the value
// of a status that records none: a DittoServer without policies never
// costs an administrator login.
func SnapshotPoliciesHash(policies []SnapshotPolicy) (string, error) {
	states, err := NormalizeSnapshotPolicies(policies)
	if err != nil || len(states) == 0 {
		return "", err
	}
	b, err := json.Marshal(states)
	if err != nil {
		return "", fmt.Errorf("encode snapshot policies: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ListSnapshotPolicies returns every share's policy (administrator token).
func (c *Client) ListSnapshotPolicies(ctx context.Context, token string) ([]SnapshotPolicyState, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "list snapshot policies", http.MethodGet, "/api/v1/snapshot-policies", token, nil, http.StatusOK, &raw); err != nil {
		return nil, err
	}
	var wire []struct {
		Share      *string `json:"share"`
		Enabled    *bool   `json:"enabled"`
		Interval   *string `json:"interval"`
		KeepLast   int     `json:"keep_last"`
		TTL        string  `json:"ttl"`
		NamePrefix string  `json:"name_prefix"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil || wire == nil {
		return nil, &MalformedError{Op: "list snapshot policies", Err: errors.New("not a JSON array of policies")}
	}
	out := make([]SnapshotPolicyState, 0, len(wire))
	for i, w := range wire {
		if w.Share == nil || w.Enabled == nil || w.Interval == nil {
			return nil, &MalformedError{Op: "list snapshot policies", Err: fmt.Errorf("policy %d lacks share, enabled or interval", i)}
		}
		out = append(out, SnapshotPolicyState{Share: *w.Share, Enabled: *w.Enabled, Interval: *w.Interval, KeepLast: w.KeepLast, TTL: w.TTL, NamePrefix: w.NamePrefix})
	}
	return out, nil
}

// PutSnapshotPolicy creates or replaces a share's policy (administrator
// token). A share DittoFS does not have is a 404 APIError ("share not
// found").
func (c *Client) PutSnapshotPolicy(ctx context.Context, token string, p SnapshotPolicyState) error {
	enabled := p.Enabled
	body := struct {
		Interval   string `json:"interval"`
		KeepLast   int    `json:"keep_last,omitempty"`
		TTL        string `json:"ttl,omitempty"`
		Enabled    *bool  `json:"enabled"`
		NamePrefix string `json:"name_prefix,omitempty"`
	}{p.Interval, p.KeepLast, p.TTL, &enabled, p.NamePrefix}
	return c.do(ctx, "put snapshot policy", http.MethodPut, sharePolicyPath(p.Share), token, body, http.StatusOK, nil)
}

// DeleteSnapshotPolicy removes a share's policy (administrator token).
func (c *Client) DeleteSnapshotPolicy(ctx context.Context, token, share string) error {
	return c.do(ctx, "delete snapshot policy", http.MethodDelete, sharePolicyPath(share), token, nil, http.StatusNoContent, nil)
}

// sharePolicyPath escapes the whole share name, leading slash included,
// into one path segment, as the upstream operator does
// ("/archive" → /api/v1/shares/%2Farchive/snapshot-policy).
func sharePolicyPath(share string) string {
	return "/api/v1/shares/" + url.PathEscape(NormalizeShareName(share)) + "/snapshot-policy"
}

// SnapshotPolicyResult is what ApplySnapshotPolicies did.
type SnapshotPolicyResult struct {
	// Created, Updated and Deleted list the shares written, by name.
	Created, Updated, Deleted []string
	// Managed are the shares whose policies the hook answers for from now
	// on, for the status: every desired share, and every formerly managed
	// share whose policy could not be deleted yet. The next apply deletes
	// the policies of managed shares that are no longer desired.
	Managed []string
}

// SnapshotPolicyFailure is one share whose policy could not be written.
type SnapshotPolicyFailure struct {
	Share string
	Err   error
}

// SnapshotPoliciesError lists the shares whose policies could not be
// written; the others were.
type SnapshotPoliciesError struct {
	Failures []SnapshotPolicyFailure
}

// Error names the first few failures, each share's name and cause bounded,
// and how many more there are: one line, however many shares failed.
func (e *SnapshotPoliciesError) Error() string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for i, f := range e.Failures {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Failures)-shown))
			break
		}
		parts = append(parts, "share "+OneLine(f.Share, 120)+": "+OneLine(Describe(f.Err), 300))
	}
	return "snapshot policies: " + strings.Join(parts, "; ")
}

// Unwrap is each share's cause: errors.Is and errors.As see them all.
func (e *SnapshotPoliciesError) Unwrap() []error {
	out := make([]error, 0, len(e.Failures))
	for _, f := range e.Failures {
		out = append(out, f.Err)
	}
	return out
}

// MissingShares are the shares DittoFS does not have (404 on the PUT): the
// user has not created them yet, and a later apply may succeed.
func (e *SnapshotPoliciesError) MissingShares() []string {
	var out []string
	for _, f := range e.Failures {
		if StatusCode(f.Err) == http.StatusNotFound {
			out = append(out, f.Share)
		}
	}
	return out
}

// ApplySnapshotPolicies makes DittoFS's policies match the desired ones,
// with an administrator token (DittoFS refuses every snapshot-policy route
// to the operator role). It reads every policy once, then writes only what
// differs: a PUT for each desired share whose policy is missing or
// different, a DELETE for each share in managed (the shares an earlier
// apply answered for, from the status) that is no longer desired. A policy
// on any other share, made by an administrator in DittoFS, is never
// changed or deleted. With nothing to change it makes no write at all.
//
// A desired policy DittoFS would refuse is a *SnapshotPolicySpecError
// before any call. A share DittoFS lacks does not stop the others: the
// result then comes with a *SnapshotPoliciesError. A transient failure
// (DittoFS down, 5xx) stops at once. The result is non-nil whenever the
// policies were read.
func ApplySnapshotPolicies(ctx context.Context, c *Client, token string, desired []SnapshotPolicy, managed []string) (*SnapshotPolicyResult, error) {
	want, err := NormalizeSnapshotPolicies(desired)
	if err != nil {
		return nil, err
	}
	have, err := c.ListSnapshotPolicies(ctx, token)
	if err != nil {
		return nil, err
	}
	current := make(map[string]SnapshotPolicyState, len(have))
	for _, p := range have {
		current[NormalizeShareName(p.Share)] = p
	}
	res := &SnapshotPolicyResult{}
	var failures []SnapshotPolicyFailure
	wanted := make(map[string]bool, len(want))
	for _, p := range want {
		wanted[p.Share] = true
	}
	keep := map[string]bool{} // managed shares not deleted (yet)
	for _, s := range managed {
		if s := NormalizeShareName(s); !wanted[s] {
			keep[s] = true
		}
	}
	stopped := false
	for _, p := range want {
		cur, exists := current[p.Share]
		if exists && cur == p {
			continue
		}
		if err := c.PutSnapshotPolicy(ctx, token, p); err != nil {
			failures = append(failures, SnapshotPolicyFailure{Share: p.Share, Err: err})
			if stopped = IsTransient(err); stopped {
				break
			}
			continue
		}
		if exists {
			res.Updated = append(res.Updated, p.Share)
		} else {
			res.Created = append(res.Created, p.Share)
		}
	}
	for _, s := range sortedKeys(keep) {
		if stopped {
			break
		}
		if _, exists := current[s]; !exists {
			delete(keep, s) // already gone
			continue
		}
		err := c.DeleteSnapshotPolicy(ctx, token, s)
		if err != nil && StatusCode(err) != http.StatusNotFound {
			failures = append(failures, SnapshotPolicyFailure{Share: s, Err: err})
			stopped = IsTransient(err)
			continue
		}
		delete(keep, s)
		res.Deleted = append(res.Deleted, s)
	}
	for s := range wanted {
		keep[s] = true
	}
	res.Managed = sortedKeys(keep)
	if len(failures) > 0 {
		return res, &SnapshotPoliciesError{Failures: failures}
	}
	return res, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
