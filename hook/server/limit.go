package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Defaults of the bounds on hook calls being answered at once.
const (
	// DefaultMaxConcurrentSyncs bounds their number: Metacontroller runs a
	// few workers per controller (5 by default), each waiting for its call.
	DefaultMaxConcurrentSyncs = 16
	// DefaultMaxSyncBytes bounds the sum of their request bodies. A call
	// holds a few times its body in memory while it is answered (the body,
	// the decoded objects, the answer), so this is what keeps the hook's
	// memory bounded; a typical sync is 40-50 KB, the largest accepted
	// MaxBodyBytes. A single call is always admitted when none is running.
	DefaultMaxSyncBytes = 16 << 20
	// retryAfterSeconds is what a call beyond the bounds is told to wait.
	retryAfterSeconds = 1
	// DefaultMaxSyncsPerNamespace bounds the calls of one namespace (a
	// tenant) that wait for DittoFS at once: a quarter of the default
	// sync slots, and as many as Metacontroller's workers (5) less one.
	DefaultMaxSyncsPerNamespace = 4
)

// tenantLimiter bounds the calls of one namespace that wait for DittoFS
// at once. Metacontroller never syncs one DittoServer twice at once, but a
// tenant with many DittoServers whose APIs hang would otherwise hold every
// sync slot (and every Metacontroller worker) for the DittoFS timeout: its
// calls beyond the bound are answered 429 at once, which frees the worker,
// and the other tenants' syncs go on.
type tenantLimiter struct {
	mu       sync.Mutex
	inflight map[string]int
	max      int
}

func (l *tenantLimiter) acquire(ns string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight[ns] >= l.max {
		return false
	}
	l.inflight[ns]++
	return true
}

func (l *tenantLimiter) release(ns string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight[ns]--; l.inflight[ns] <= 0 {
		delete(l.inflight, ns)
	}
}

// tooMany answers a call 429 with Retry-After: Metacontroller then changes
// nothing and calls again after that many seconds, without an error.
func tooMany(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeError(w, http.StatusTooManyRequests, why+"; retry after "+strconv.Itoa(retryAfterSeconds)+" s")
}

// syncLimiter admits a hook call before its body is read, or refuses it.
type syncLimiter struct {
	mu              sync.Mutex
	calls, maxCalls int
	bytes, maxBytes int64
}

// acquire admits a call whose body has size bytes; false means "not now".
func (l *syncLimiter) acquire(size int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls > 0 && (l.calls >= l.maxCalls || l.bytes+size > l.maxBytes) {
		return false
	}
	l.calls++
	l.bytes += size
	return true
}

func (l *syncLimiter) release(size int64) {
	l.mu.Lock()
	l.calls--
	l.bytes -= size
	l.mu.Unlock()
}

// limit admits a hook call within the bounds, before its body is read, and
// answers any other 429 with Retry-After: Metacontroller then changes
// nothing and calls again after that many seconds, without recording an
// error. /healthz, /readyz and /metrics never wait here.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := r.ContentLength
		if size < 0 || size > MaxBodyBytes {
			size = MaxBodyBytes // unknown (chunked) or refused later as too large
		}
		if !s.limiter.acquire(size) {
			// Read what the client sends, into nothing, so that it gets the
			// 429 rather than a connection reset mid-request.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodyBytes))
			s.opts.Metrics.throttled(strings.TrimPrefix(r.URL.Path, "/"), "throttled")
			tooMany(w, "the hook is answering as many calls as it may at once")
			return
		}
		defer s.limiter.release(size)
		next.ServeHTTP(w, r)
	})
}
