package dittofs

import (
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
}

// maxTypeLength bounds an adapter type: it ends up in Service names,
// labels, the status and condition messages. DittoFS's types are "nfs" and
// "smb".
const maxTypeLength = 63

// DecodeAdapters parses the adapter list strictly: a JSON array whose every
// element has a type (printable, at most maxTypeLength bytes), a port in
// range (0 only for a type with a default port) and the two flags. A body
// of another shape is refused, never read as "no adapters" (which would
// delete every adapter Service).
func DecodeAdapters(body []byte) ([]Adapter, error) {
	// Pointers tell a missing field from its zero value. (The type's name
	// shows in the error of a body of another shape.)
	type wireAdapter struct {
		ID        string    `json:"id"`
		Type      *string   `json:"type"`
		Enabled   *bool     `json:"enabled"`
		Running   *bool     `json:"running"`
		Port      *int64    `json:"port"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	var wire []wireAdapter
	if err := json.Unmarshal(body, &wire); err != nil {
		// Not the decoder's words: they name Go types, not what DittoFS sent.
		return nil, errors.New("adapter list is not a JSON array of adapter objects")
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
		a := Adapter{ID: w.ID, Type: *w.Type, Enabled: *w.Enabled, Running: *w.Running, Port: int32(*w.Port), CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
		if a.Port == 0 {
			if a.Port = DefaultPort(a.Type); a.Port == 0 {
				return nil, fmt.Errorf("adapter %q reports port 0 and its type has no default port", a.Type)
			}
		}
		out = append(out, a)
	}
	return out, nil
}
