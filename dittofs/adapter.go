package dittofs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Default ports of the adapter types DittoFS knows, used when the API
// reports port 0.
const (
	DefaultNFSPort = 12049
	DefaultSMBPort = 12445
	// PortmapperPort is DittoFS's NFS portmapper.
	PortmapperPort = 10111
)

// DefaultPort returns the port an adapter of this type listens on when
// DittoFS reports 0, or 0 for a type without a known default.
func DefaultPort(typ string) int32 {
	switch typ {
	case "nfs":
		return DefaultNFSPort
	case "smb":
		return DefaultSMBPort
	}
	return 0
}

// Health values DittoFS v0.29.0 reports per adapter (status.status; its
// pkg/health). Its nfs and smb adapters report healthy once listening,
// unknown before (or when their listener failed to bind), unhealthy while
// shutting down, disabled when their config says so; degraded is reserved
// for adapters that track recent errors.
const (
	HealthHealthy   = "healthy"
	HealthDegraded  = "degraded"
	HealthUnhealthy = "unhealthy"
	HealthUnknown   = "unknown"
	HealthDisabled  = "disabled"
)

// Adapter is one protocol adapter as GET /api/v1/adapters reports it, and
// the one shape of an adapter in the hook: from this decode to the status.
type Adapter struct {
	ID      string
	Type    string
	Enabled bool
	Running bool
	// Port is where the adapter listens: DittoFS's 0 is decoded as the
	// type's default port.
	Port      int32
	CreatedAt time.Time
	// UpdatedAt changes whenever DittoFS changes the adapter (enabled,
	// port, config): with ID it names one state of the adapter, which the
	// hook's Events use to tell one change from the next.
	UpdatedAt time.Time
	// Health is DittoFS's own verdict on the adapter (one of the Health
	// constants); "" when DittoFS did not say (an older DittoFS, or
	// /api/v1/adapters/ports). Any other word is read as HealthUnknown:
	// the status schema holds only these.
	Health string
	// Problem, when set, says why the hook cannot expose this item: a
	// malformed element of an otherwise well-formed list, or a type with
	// no known default port reported on port 0. Only the item is refused
	// (its Type is kept when it is usable, else ""): one adapter's problem
	// never stops the others being applied.
	Problem string
}

// maxTypeLength bounds an adapter type: it ends up in Service names,
// labels, the status and condition messages. DittoFS's types are "nfs" and
// "smb".
const maxTypeLength = 63

// maxIDLength bounds an adapter id quoted in a Problem (DittoFS's are UUIDs).
const maxIDLength = 64

// DecodeAdapters parses the adapter list: a JSON array of objects. A body
// of another shape is refused, never read as "no adapters" (which would
// delete every adapter Service). Each element is then judged alone: one
// without a usable type (printable, at most maxTypeLength bytes), the two
// flags or a port in range (0 only for a type with a default port) comes
// back with its Problem set, the others as DittoFS reported them.
func DecodeAdapters(body []byte) ([]Adapter, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		// Not the decoder's words: they name Go types, not what DittoFS sent.
		return nil, errors.New("adapter list is not a JSON array of adapter objects")
	}
	if items == nil {
		return nil, fmt.Errorf("adapter list is null, not an array")
	}
	out := make([]Adapter, 0, len(items))
	for _, item := range items {
		out = append(out, decodeAdapter(item))
	}
	return out, nil
}

// decodeAdapter judges one element of the list; a problem is the item's
// alone (see Adapter.Problem).
func decodeAdapter(item json.RawMessage) Adapter {
	// Pointers tell a missing field from its zero value.
	type wireAdapter struct {
		ID        any     `json:"id"`
		Type      any     `json:"type"`
		Enabled   *bool   `json:"enabled"`
		Running   *bool   `json:"running"`
		Port      *int64  `json:"port"`
		CreatedAt *string `json:"created_at"`
		UpdatedAt *string `json:"updated_at"`
		Status    any     `json:"status"`
	}
	var w wireAdapter
	if err := json.Unmarshal(item, &w); err != nil || bytes.TrimSpace(item)[0] != '{' {
		var a Adapter
		// A best effort at naming the item: its id and type when they are strings.
		var named struct {
			ID   any `json:"id"`
			Type any `json:"type"`
		}
		_ = json.Unmarshal(item, &named)
		a.ID = usableID(named.ID)
		a.Type, _ = usableType(named.Type)
		a.Problem = "is not an adapter object with boolean enabled and running and a numeric port"
		return a
	}
	a := Adapter{ID: usableID(w.ID)}
	typ, ok := usableType(w.Type)
	a.Type = typ
	a.CreatedAt = parseTime(w.CreatedAt)
	a.UpdatedAt = parseTime(w.UpdatedAt)
	a.Health = health(w.Status)
	switch {
	case w.Type == nil || w.Type == "":
		a.Problem = "has no type"
		return a
	case !ok:
		a.Problem = fmt.Sprintf("has a type that is not 1 to %d bytes of printable characters", maxTypeLength)
		return a
	case w.Enabled == nil || w.Running == nil:
		a.Problem = "lacks enabled or running"
		return a
	case w.Port == nil:
		a.Problem = "has no port"
		return a
	case *w.Port < 0 || *w.Port > 65535:
		a.Problem = fmt.Sprintf("has port %d, outside 0-65535", *w.Port)
		return a
	}
	a.Enabled, a.Running, a.Port = *w.Enabled, *w.Running, int32(*w.Port)
	if a.Port == 0 {
		if a.Port = DefaultPort(a.Type); a.Port == 0 {
			a.Problem = "reports port 0 and the hook knows no default port for its type"
		}
	}
	return a
}

// usableType is the item's type when it is a string the hook can put in
// names, labels and messages.
func usableType(v any) (string, bool) {
	s, ok := v.(string)
	if !ok || s == "" || len(s) > maxTypeLength || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", false
	}
	return s, true
}

// usableID is the item's id when it is a short printable string, else "".
func usableID(v any) string {
	s, ok := v.(string)
	if !ok || len(s) > maxIDLength || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ""
	}
	return s
}

// parseTime reads an RFC 3339 time; anything else is the zero time (the
// times only order duplicates and name Events).
func parseTime(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// health reads the item's status.status: one of the words DittoFS v0.29.0
// uses, HealthUnknown for any other value, "" when absent.
func health(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	switch h := m["status"].(type) {
	case nil:
		return ""
	case string:
		switch h {
		case HealthHealthy, HealthDegraded, HealthUnhealthy, HealthUnknown, HealthDisabled:
			return h
		}
	}
	return HealthUnknown
}
