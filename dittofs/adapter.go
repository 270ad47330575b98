package dittofs

import (
	"encoding/json"
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

// Adapter is one protocol adapter as GET /api/v1/adapters reports it.
type Adapter struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Enabled   bool      `json:"enabled"`
	Running   bool      `json:"running"`
	Port      int32     `json:"port"`
	CreatedAt time.Time `json:"created_at"`
}

// EffectivePort is the port the adapter listens on: its own, or its type's
// default when DittoFS says 0.
func (a Adapter) EffectivePort() int32 {
	if a.Port == 0 {
		return DefaultPort(a.Type)
	}
	return a.Port
}

// wireAdapter checks presence: a body of the wrong shape must be refused,
// not read as "no adapters" (which would delete every adapter Service).
type wireAdapter struct {
	ID        string    `json:"id"`
	Type      *string   `json:"type"`
	Enabled   *bool     `json:"enabled"`
	Running   *bool     `json:"running"`
	Port      *int64    `json:"port"`
	CreatedAt time.Time `json:"created_at"`
}

// maxTypeLength bounds an adapter type: it ends up in Service names,
// labels, the status and condition messages. DittoFS's types are "nfs" and
// "smb".
const maxTypeLength = 63

// DecodeAdapters parses the adapter list strictly: a JSON array whose every
// element has a type (printable, at most maxTypeLength bytes), a port in
// range and the two flags.
func DecodeAdapters(body []byte) ([]Adapter, error) {
	var wire []wireAdapter
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("adapter list is not a JSON array of adapters: %w", err)
	}
	if wire == nil {
		return nil, fmt.Errorf("adapter list is null, not an array")
	}
	out := make([]Adapter, 0, len(wire))
	for i, w := range wire {
		switch {
		case w.Type == nil || *w.Type == "":
			return nil, fmt.Errorf("adapter %d has no type", i)
		case len(*w.Type) > maxTypeLength || strings.IndexFunc(*w.Type, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(*w.Type):
			return nil, fmt.Errorf("adapter %d has a type that is not 1 to %d bytes of printable characters", i, maxTypeLength)
		case w.Enabled == nil || w.Running == nil:
			return nil, fmt.Errorf("adapter %q lacks enabled or running", *w.Type)
		case w.Port == nil:
			return nil, fmt.Errorf("adapter %q has no port", *w.Type)
		case *w.Port < 0 || *w.Port > 65535:
			return nil, fmt.Errorf("adapter %q has port %d, outside 0-65535", *w.Type, *w.Port)
		}
		a := Adapter{ID: w.ID, Type: *w.Type, Enabled: *w.Enabled, Running: *w.Running, Port: int32(*w.Port), CreatedAt: w.CreatedAt}
		if a.EffectivePort() == 0 {
			return nil, fmt.Errorf("adapter %q reports port 0 and its type has no default port", a.Type)
		}
		out = append(out, a)
	}
	return out, nil
}
