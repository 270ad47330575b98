package dittofs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// APIError is an answer of the DittoFS API other than the expected success.
// Classify by Status, never by Message.
type APIError struct {
	// Op names the call ("login", "list adapters").
	Op string
	// Status is the HTTP status code.
	Status int
	// Message is what DittoFS said, when it said it in one of its own
	// shapes: the title or detail of an RFC 7807 problem+json answer (its
	// handlers), or one of the fixed plain-text sentences of its auth and
	// role middleware; one line, at most maxMessage characters. Empty for
	// anything else: a body of another shape is not DittoFS's (an error page
	// of a proxy, or of whatever image answers at the API address) and is
	// never repeated. It never holds a request's secrets: DittoFS does not
	// echo them.
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	switch {
	case msg != "":
	case e.Status >= 300 && e.Status < 400:
		msg = "redirect refused (the hook never follows redirects)"
	case http.StatusText(e.Status) != "":
		msg = http.StatusText(e.Status)
	default:
		msg = "unexpected status"
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, msg)
}

// maxMessage bounds what of a server's words an error carries.
const maxMessage = 200

// middlewareMessages are the plain-text answers of DittoFS v0.29.0's auth
// and role middleware (internal/controlplane/api/middleware/auth.go).
var middlewareMessages = map[string]bool{
	"Authorization header required": true,
	"Authentication required":       true,
	"Invalid or expired token":      true,
	"Admin access required":         true,
	"Insufficient permissions":      true,
}

// passwordChangeRequired is the middleware's answer to an account that must
// change its password, said without the account name it quotes.
const passwordChangeRequired = "the account must set a new password before performing other operations"

// newAPIError keeps what DittoFS said in a failed answer, when it said it in
// one of its own shapes (see APIError.Message).
func newAPIError(op string, status int, contentType string, body []byte) *APIError {
	e := &APIError{Op: op, Status: status}
	if status >= 300 && status < 400 {
		// The Location and the body are the redirecting server's: neither
		// is repeated, not even in a log line.
		return e
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/problem+json":
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil {
			e.Message = cmp.Or(OneLine(p.Detail, maxMessage), OneLine(p.Title, maxMessage))
		}
	case "text/plain":
		text := strings.TrimSpace(string(body))
		switch {
		case middlewareMessages[text]:
			e.Message = text
		case strings.HasPrefix(text, `account "`) && strings.Contains(text, "must set a new password before performing other operations"):
			e.Message = passwordChangeRequired
		}
	}
	return e
}

// OneLine turns s into one line (runs of white space and control characters
// become one space) of at most n characters, for text that goes into a
// condition or a log line: what DittoFS says, and messages that quote it.
func OneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// StatusCode returns the HTTP status of an APIError in err's chain, or 0.
func StatusCode(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsTransient says whether retrying later may succeed without anyone acting:
// network errors, timeouts and 5xx answers. 4xx answers are permanent until a
// person (or the hook's account repair) changes something.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if code := StatusCode(err); code != 0 {
		return code >= 500 || code == http.StatusTooManyRequests
	}
	var malformed *MalformedError
	return !errors.As(err, &malformed)
}

// MalformedError is a 2xx answer whose body is not what the API documents.
type MalformedError struct {
	Op  string
	Err error
}

func (e *MalformedError) Error() string { return e.Op + ": unexpected response: " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// TransportError is a call that got no complete HTTP answer: refused,
// reset, timed out, or cut off mid-body.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Describe explains a failed call in words that depend only on the kind of
// failure, never on ephemeral details such as local port numbers: the hook
// puts it in a condition message, which must not change while the same
// failure goes on.
func Describe(err error) string {
	var apiErr *APIError
	var malformed *MalformedError
	var transport *TransportError
	var conflict *AccountConflictError
	var policies *SnapshotPoliciesError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &policies):
		// Before its causes, which it unwraps to: it names each share's.
		return policies.Error()
	case errors.As(err, &conflict):
		return conflict.Error()
	case errors.As(err, &apiErr):
		return apiErr.Error()
	case errors.As(err, &malformed):
		return malformed.Error()
	case errors.As(err, &transport):
		return transport.Op + ": " + describeTransport(transport.Err)
	}
	return describeTransport(err)
}

// DescribeCause explains a failure to reach DittoFS by its cause alone
// ("connection refused", "timed out"), without the call that met it: which
// call that is (a login, a refresh, the adapter list) depends on what one
// replica's token cache holds, and a condition message must read the same
// whichever replica answers.
func DescribeCause(err error) string {
	var transport *TransportError
	if errors.As(err, &transport) {
		return describeTransport(transport.Err)
	}
	return Describe(err)
}

func describeTransport(err error) string {
	var dnsErr *net.DNSError
	if text, ok := describeTLS(err); ok { // tls_failure.go
		return text
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host " + dnsErr.Name + " not found"
		}
		return "DNS lookup of " + dnsErr.Name + " failed"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case strings.Contains(err.Error(), "EOF"):
		return "connection closed before a complete answer"
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return "TLS handshake failed"
	}
	return "network error"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// IsRedirect says whether err is a 3xx answer.
func IsRedirect(err error) bool {
	code := StatusCode(err)
	return code >= 300 && code < 400
}
