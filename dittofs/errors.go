package dittofs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// APIError is an answer of the DittoFS API other than the expected success.
// DittoFS's handlers answer RFC 7807 problem+json, its auth and role
// middleware plain text: Message holds the server's words either way.
// Classify by Status, never by Message.
type APIError struct {
	// Op names the call ("login", "list adapters").
	Op string
	// Status is the HTTP status code.
	Status int
	// Message is the server's explanation (the problem's detail or title, or
	// the plain-text body), shortened. It never holds a request's secrets:
	// DittoFS does not echo them.
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, msg)
}

// newAPIError reads the server's explanation from a failed response body.
func newAPIError(op string, status int, contentType string, body []byte) *APIError {
	e := &APIError{Op: op, Status: status}
	if strings.HasPrefix(contentType, "application/problem+json") || strings.HasPrefix(contentType, "application/json") {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
			e.Message = p.Detail
			if e.Message == "" {
				e.Message = p.Title
			}
			return e
		}
	}
	e.Message = shorten(strings.TrimSpace(string(body)), 200)
	return e
}

func shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
	if errors.As(err, &malformed) {
		return false
	}
	return true
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
	switch {
	case err == nil:
		return ""
	case errors.As(err, &apiErr):
		return apiErr.Error()
	case errors.As(err, &malformed):
		return malformed.Error()
	case errors.As(err, &transport):
		return transport.Op + ": " + describeTransport(transport.Err)
	}
	return describeTransport(err)
}

func describeTransport(err error) string {
	var dnsErr *net.DNSError
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
