// Package server is the hook's HTTP service, the shell around the pure core
// (package hook): it reads Metacontroller's calls, calls DittoFS as the
// core's plan says, and writes the core's answers, with the bounds,
// authentication, metrics and logs a service needs.
package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
)

// DefaultURLTemplate locates a DittoServer's API: its <name>-api Service,
// by its fully qualified name (the trailing dot), so that no search domain
// the node's resolver configuration adds can answer for it. The hook builds
// this address from its parts rather than through the template.
const DefaultURLTemplate = "http://{{.Name}}-api.{{.Namespace}}.svc.cluster.local.:{{.Port}}"

// maxLogMessage bounds what a log line repeats of a failure: one line, as
// a condition message is.
const maxLogMessage = 1024

// MaxBodyBytes bounds a hook request. A real sync with every child is
// 40–50 KB; the bound leaves room for hundreds of adapters.
const MaxBodyBytes = 8 << 20

// Options configure the hook's HTTP service.
type Options struct {
	// URLTemplate is a text/template over .Name, .Namespace and .Port that
	// gives a DittoServer's API base URL. It is the only place the address is
	// decided: a DittoServer cannot point the hook anywhere else.
	URLTemplate string
	// Timeout bounds all DittoFS calls of one sync (Metacontroller gives up
	// on the hook after 10 s).
	Timeout time.Duration
	// HTTPClient calls DittoFS over plain HTTP (default: a client on
	// NewDittoFSTransport(ProxyFromEnvironment)).
	HTTPClient *http.Client
	// ProxyFromEnvironment lets the default DittoFS clients use
	// HTTP_PROXY, HTTPS_PROXY and NO_PROXY. Off by default: see
	// NewDittoFSTransport.
	ProxyFromEnvironment bool
	// Transports hands out the clients of DittoServers served over TLS,
	// one per DittoServer (default: a new cache).
	Transports *dittofs.Transports
	// ClientIdentity is the client certificate presented to DittoServers
	// that require one (controlPlane.clientCASecretName); nil: none.
	ClientIdentity *dittofs.ClientIdentity
	Accounts       *dittofs.Accounts
	Secrets        *hook.SecretSource
	Logger         *slog.Logger
	Metrics        *Metrics
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// AuthToken, when set, is the bearer token Metacontroller must present.
	// A function, so that a rotated token file is picked up.
	AuthToken func() string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxConcurrentSyncs and MaxSyncBytes bound the hook calls answered at
	// once: their number and the sum of their request bodies. A call beyond
	// them is answered 429 with Retry-After before its body is read.
	// Defaults: DefaultMaxConcurrentSyncs, DefaultMaxSyncBytes.
	MaxConcurrentSyncs int
	MaxSyncBytes       int64
	// MaxSyncsPerNamespace bounds the calls of one namespace waiting for
	// DittoFS at once (default DefaultMaxSyncsPerNamespace): beyond it,
	// 429 with Retry-After, so that one tenant's hanging APIs hold at most
	// that many of the sync slots.
	MaxSyncsPerNamespace int
	// NoResyncPacing answers each DittoServer's polling interval as it is
	// (hook serve --resync-pacing=false): Metacontroller's lateness is
	// still measured (dittofs_hook_resync_lag_seconds), not subtracted.
	NoResyncPacing bool
	// Ceiling is what the cluster's administrator lets a DittoServer ask
	// of its pod (the zero value: the restricted standard).
	Ceiling hook.Ceiling
	// Events, when set, takes each answered sync's Kubernetes Events
	// (hook.Sync.Events) after the answer is written.
	Events EventSink
}

// NewDittoFSTransport is the transport of the hook's DittoFS clients (the
// base of every TLS one too): Go's defaults, without a proxy unless
// proxyFromEnv. The calls carry the operator's and the administrator's
// passwords and tokens to an address inside the cluster; a proxy named by
// the environment (set for the Events' way out, or inherited) would see
// them all, and Go's NO_PROXY suffix match misses the API's fully
// qualified name (its trailing dot), so excluding the cluster's domain
// there does not help.
func NewDittoFSTransport(proxyFromEnv bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if proxyFromEnv {
		tr.Proxy = http.ProxyFromEnvironment
	}
	return tr
}

// Server is the hook's HTTP service.
type Server struct {
	opts    Options
	urlTmpl *template.Template
	ready   atomic.Bool
	handler http.Handler
	limiter *syncLimiter
	tenants *tenantLimiter
	pacer   *pacer
}

// New checks the options and builds the routes.
func New(o Options) (*Server, error) {
	if o.URLTemplate == "" {
		o.URLTemplate = DefaultURLTemplate
	}
	var tmpl *template.Template
	if o.URLTemplate != DefaultURLTemplate {
		var err error
		if tmpl, err = template.New("url").Option("missingkey=error").Parse(o.URLTemplate); err != nil {
			return nil, fmt.Errorf("parse --dittofs-url-template: %w", err)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	base := NewDittoFSTransport(o.ProxyFromEnvironment)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: base}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Secrets == nil {
		return nil, errors.New("server: Options.Secrets is required")
	}
	if o.Accounts == nil {
		o.Accounts = dittofs.NewAccounts(dittofs.AccountOptions{})
	}
	if o.Transports == nil {
		o.Transports = dittofs.NewTransports(dittofs.TransportOptions{Base: base})
	}
	if o.MaxConcurrentSyncs <= 0 {
		o.MaxConcurrentSyncs = DefaultMaxConcurrentSyncs
	}
	if o.MaxSyncBytes <= 0 {
		o.MaxSyncBytes = DefaultMaxSyncBytes
	}
	if o.MaxSyncsPerNamespace <= 0 {
		o.MaxSyncsPerNamespace = DefaultMaxSyncsPerNamespace
	}
	s := &Server{opts: o, urlTmpl: tmpl, limiter: &syncLimiter{maxCalls: o.MaxConcurrentSyncs, maxBytes: o.MaxSyncBytes},
		tenants: &tenantLimiter{inflight: map[string]int{}, max: o.MaxSyncsPerNamespace}, pacer: newPacer()}
	// A template that cannot give a plain http(s)://host:port is refused
	// now rather than on every sync.
	if _, err := s.baseURL(hook.Plan{Name: "example", Namespace: "default", Port: 8080}); err != nil {
		return nil, err
	}
	r := mux.NewRouter()
	hooks := r.NewRoute().Subrouter()
	hooks.Use(s.authenticate, s.limit)
	hooks.HandleFunc("/sync", s.handleSync("sync")).Methods(http.MethodPost)
	hooks.HandleFunc("/finalize", s.handleSync("finalize")).Methods(http.MethodPost)
	hooks.HandleFunc("/customize", s.handleCustomize).Methods(http.MethodPost)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.handleReady).Methods(http.MethodGet)
	if o.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
	s.handler = r
	s.ready.Store(true)
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetReady flips /readyz (false while shutting down).
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// authenticate checks the bearer token, in constant time, when one is set,
// before anything else: a call without it is refused with 401 before a byte
// of its body is read and before it takes a sync slot, so an anonymous
// caller costs the hook a header parse. The connection is closed after the
// answer (what the client still sends is never read).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AuthToken != nil && !bearer(r.Header.Get("Authorization"), s.opts.AuthToken()) {
			s.opts.Metrics.request(strings.TrimPrefix(r.URL.Path, "/"), "unauthorized", 0)
			w.Header().Set("WWW-Authenticate", `Bearer realm="dittofs-hook"`)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token: Metacontroller sends it when each webhook of the CompositeController has authorization.secretRef naming the hook's token Secret")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer says whether an Authorization header carries the token, in
// constant time. The scheme is case-insensitive (RFC 9110); an empty token
// (a file emptied since the start) admits no one.
func bearer(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	return ok && token != "" && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// readBody reads a JSON request body within the size limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: the hook accepts application/json", ct)
		}
	}
	// Sized from Content-Length when it is given: io.ReadAll alone would
	// grow its buffer by copying, holding up to twice the body at once.
	// (ReadFrom keeps bytes.MinRead free before each read, hence the margin.)
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), MaxBodyBytes)+bytes.MinRead))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", MaxBodyBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	return body, 0, nil
}

func (s *Server) handleSync(call string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := s.opts.Logger.With("hook", call)
		body, code, err := readBody(w, r)
		if err != nil {
			s.refuse(w, log, call, code, err, start)
			return
		}
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			s.refuse(w, log, call, http.StatusBadRequest, err, start)
			return
		}
		log = log.With("namespace", req.Parent.Metadata.Namespace, "name", req.Parent.Metadata.Name)
		sync, err := hook.Prepare(req, s.opts.Ceiling)
		if err != nil {
			s.refuse(w, log, call, http.StatusBadRequest, err, start)
			return
		}
		uid := string(req.Parent.Metadata.UID)
		var lag time.Duration
		if !sync.Finalizing() {
			lag = s.pacer.arrived(uid, s.opts.Now())
			s.opts.Metrics.resyncLag(lag)
		}
		if sync.Plan().Contact {
			// Only the calls that wait for DittoFS are slow: those of one
			// namespace hold at most MaxSyncsPerNamespace slots.
			ns := req.Parent.Metadata.Namespace
			if !s.tenants.acquire(ns) {
				s.opts.Metrics.throttled(call, "throttled_namespace")
				tooMany(w, "the hook is answering as many calls of namespace "+ns+" as it may at once")
				return
			}
			defer s.tenants.release(ns)
		}
		if ignored := sync.Ignored(); len(ignored) > 0 {
			log.Warn("ignored objects of other namespaces than the DittoServer's", "count", len(ignored), "first", ignored[:min(len(ignored), 3)])
		}
		obs := s.observe(r.Context(), sync, log)
		now := s.opts.Now()
		resp := sync.Desired(obs, now, s.opts.Secrets)
		if !sync.Finalizing() {
			if !s.opts.NoResyncPacing {
				sync.Paced(resp, lag)
			}
			s.pacer.answered(uid, now, resp.ResyncAfterSeconds)
		}
		out, err := json.Marshal(resp)
		if err != nil {
			// Never a 200 that could drop children: a non-200 makes
			// Metacontroller change nothing and retry.
			log.Error("encode response", "err", err)
			s.opts.Metrics.request(call, "error", time.Since(start).Seconds())
			writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
			return
		}
		events := s.events(sync, obs, resp, log)
		s.opts.Metrics.poll(obs)
		if obs.Poll().State == hook.Failed {
			if n, ok := sync.FailingIntervals(resp, now); ok {
				s.opts.Metrics.failing(n)
			}
		}
		s.logOutcome(log, req, resp, time.Since(start))
		s.opts.Metrics.request(call, "ok", time.Since(start).Seconds())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		// Sent after the answer, never waited for (EventSink.Record does
		// not block): Events cannot slow or change an answer.
		if len(events) > 0 {
			s.opts.Events.Record(events)
		}
	}
}

// events derives a sync's Events, once its answer is encoded. A failure
// here (a bug) costs the Events, never the answer.
func (s *Server) events(sync *hook.Sync, obs hook.Observation, resp *hook.SyncResponse, log *slog.Logger) (events []hook.Event) {
	if s.opts.Events == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("deriving the sync's events failed; none recorded", "panic", fmt.Sprint(p))
			events = nil
		}
	}()
	return sync.Events(obs, resp)
}

func (s *Server) refuse(w http.ResponseWriter, log *slog.Logger, call string, code int, err error, start time.Time) {
	log.Warn("refused hook request", "status", code, "err", dittofs.OneLine(err.Error(), maxLogMessage))
	s.opts.Metrics.request(call, "bad_request", time.Since(start).Seconds())
	writeError(w, code, err.Error())
}

// logOutcome logs a sync at debug level, and at info or warn level when the
// Ready condition changes: the log says what changed, not that time passed.
func (s *Server) logOutcome(log *slog.Logger, req *hook.SyncRequest, resp *hook.SyncResponse, took time.Duration) {
	var before, after string
	for _, c := range req.Parent.Status.Conditions {
		if c.Type == hook.CondReady {
			before = string(c.Status) + "/" + c.Reason
		}
	}
	var msg string
	for _, c := range resp.Status.Conditions {
		if c.Type == hook.CondReady {
			after = string(c.Status) + "/" + c.Reason
			msg = c.Message
		}
	}
	attrs := []any{"ready", after, "children", len(resp.Children), "resyncAfterSeconds", resp.ResyncAfterSeconds, "duration", took.Round(time.Microsecond)}
	switch {
	case before == after:
		log.Debug("synced", attrs...)
	case strings.HasPrefix(after, "True"):
		log.Info("ready", append(attrs, "message", msg)...)
	default:
		log.Warn("not ready", append(attrs, "message", msg)...)
	}
}

// observe talks to DittoFS as the plan says, within one deadline.
func (s *Server) observe(ctx context.Context, sync *hook.Sync, log *slog.Logger) hook.Observation {
	plan := sync.Plan()
	if !plan.Contact {
		return hook.Observation{}
	}
	api, err := s.baseURL(plan)
	if err != nil {
		return sync.ObserveUnreachable(err.Error())
	}
	hc := s.opts.HTTPClient
	if plan.TLS != nil {
		target := dittofs.TLSTarget{CA: plan.TLS.CA, ServerName: plan.TLS.ServerName}
		if plan.TLS.Mutual {
			target.Client = s.opts.ClientIdentity // nil: the hook refuses the handshake, saying why
		}
		if hc, err = s.opts.Transports.Client(plan.Key, target); err != nil {
			return sync.ObserveCA(err)
		}
	}
	client, err := dittofs.NewClient(api, hc, s.opts.Metrics.ObserveDittoFS)
	if err != nil {
		return sync.ObserveUnreachable("the hook's --dittofs-url-template gives an invalid URL: " + err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if plan.Probe && !sync.Finalizing() {
		// DittoFS did not answer the last poll: ask /health first, within
		// a third of the budget, and give up at once when nothing
		// answers. A hanging API then costs a sync a third of
		// --dittofs-timeout; one that answers (slow, or back) gets the
		// whole budget for the poll.
		pctx, pcancel := context.WithTimeout(ctx, s.opts.Timeout/3)
		err := client.Health(pctx)
		pcancel()
		var transport *dittofs.TransportError
		if errors.As(err, &transport) {
			obs := sync.ObservePoll(nil, err, api)
			log.Warn("adapter poll failed", "reason", obs.Poll().Reason, "message", dittofs.OneLine(obs.Poll().Message, maxLogMessage), "probe", true)
			return obs
		}
	}
	provision := hook.NotProvisioned
	target := dittofs.Target{Key: plan.Key, Client: client, Operator: plan.Operator, Admin: plan.Admin, Provisioned: func(created bool) {
		provision = hook.PasswordReset
		if created {
			provision = hook.AccountCreated
		}
	}}
	if sync.Finalizing() {
		err := s.opts.Accounts.DeleteOperator(ctx, target)
		if err != nil {
			log.Warn("could not delete the operator account", "api", api, "err", dittofs.OneLine(dittofs.Describe(err), maxLogMessage))
		} else {
			s.opts.Transports.Forget(plan.Key)
		}
		return sync.ObserveFinalize(err, api)
	}
	var adapters []dittofs.Adapter
	var viaPorts bool
	err = s.opts.Accounts.Do(ctx, target, func(token string) error {
		var err error
		adapters, viaPorts, err = listAdapters(ctx, client, token)
		return err
	})
	var obs hook.Observation
	if viaPorts && err == nil {
		log.Info("adapter list too slow; polled /api/v1/adapters/ports", "budget", s.opts.Timeout)
		obs = sync.ObservePortsPoll(adapters, api).WithProvision(provision)
	} else {
		obs = sync.ObservePoll(adapters, err, api).WithProvision(provision)
	}
	if p := obs.Poll(); p.State == hook.Failed {
		log.Warn("adapter poll failed", "reason", p.Reason, "message", dittofs.OneLine(p.Message, maxLogMessage))
		return obs
	}
	if snap := plan.Snapshots; snap != nil && snap.Due(s.opts.Now()) {
		// Only when the spec's policies differ from those the status
		// records as applied, and a failed apply's retry time has come:
		// a steady DittoServer costs no admin login, a failing one a few.
		var res *dittofs.SnapshotPolicyResult
		err := s.opts.Accounts.AsAdmin(ctx, target, func(token string) error {
			var err error
			res, err = dittofs.ApplySnapshotPolicies(ctx, client, token, snap.Desired, snap.Managed)
			return err
		})
		obs = sync.ObserveSnapshots(obs, res, err)
		s.opts.Metrics.snapshots(obs)
		if o := obs.Snapshots(); o.State == hook.Failed {
			log.Warn("snapshot policies not applied", "reason", o.Reason, "message", dittofs.OneLine(o.Message, maxLogMessage))
		} else if res != nil {
			log.Info("snapshot policies applied", "created", len(res.Created), "updated", len(res.Updated), "deleted", len(res.Deleted),
				"shares", dittofs.OneLine(strings.Join(slices.Concat(res.Created, res.Updated, res.Deleted), " "), maxLogMessage))
		}
	}
	return obs
}

// listShare is the part of what is left of a sync's budget after which,
// the full adapter list not having answered, the hook also asks
// /api/v1/adapters/ports. DittoFS v0.29.0's list runs every adapter's health
// check within a 5 s budget of its own, which can exceed the hook's
// (BENCHMARKS.md, "The poll's time budget"); /ports runs none and answered in
// a millisecond, so a quarter of the budget is ample for it.
const listShare = 0.75

// listAdapters lists the adapters and, when the list has not answered
// within listShare of ctx's remaining time, asks /api/v1/adapters/ports as
// well, the list still running: the full list is used whenever it answers
// well, else /ports' answer (viaPorts), so that a slow health check in
// DittoFS never reads as an unreachable API and a slow list loses nothing
// of the time it had before. When neither answers well, the list's failure
// is returned as it is.
func listAdapters(ctx context.Context, client *dittofs.Client, token string) (adapters []dittofs.Adapter, viaPorts bool, err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		adapters, err = client.ListAdapters(ctx, token)
		return adapters, false, err
	}
	type result struct {
		adapters []dittofs.Adapter
		err      error
	}
	full, ports := make(chan result, 1), make(chan result, 1)
	go func() {
		a, err := client.ListAdapters(ctx, token)
		full <- result{a, err}
	}()
	wait := time.NewTimer(time.Duration(float64(time.Until(deadline)) * listShare))
	defer wait.Stop()
	select {
	case r := <-full:
		return r.adapters, false, r.err
	case <-wait.C:
	}
	go func() {
		a, err := client.ListAdapterPorts(ctx, token)
		ports <- result{a, err}
	}()
	var listed *result
	for {
		select {
		case r := <-full:
			if r.err == nil {
				return r.adapters, false, nil
			}
			listed = &r
			full = nil
		case r := <-ports:
			if r.err == nil {
				return r.adapters, true, nil
			}
			ports = nil
		}
		if full == nil && ports == nil {
			return nil, false, listed.err
		}
	}
}

// baseURL is the address of a DittoServer's API. The name and namespace
// are DNS labels by then (checkParent, parseServer), so they cannot change
// the URL's structure; the result is checked all the same.
//
// A DittoServer served over TLS is dialled over https whatever scheme the
// template says: its host and port are the template's, the name its
// certificate must carry the API Service's (hook.TLSPlan.ServerName).
func (s *Server) baseURL(p hook.Plan) (string, error) {
	if s.urlTmpl == nil {
		return p.Address(), nil
	}
	var b bytes.Buffer
	if err := s.urlTmpl.Execute(&b, struct {
		Name, Namespace string
		Port            int32
	}{p.Name, p.Namespace, p.Port}); err != nil {
		return "", fmt.Errorf("the hook's --dittofs-url-template failed: %w", err)
	}
	u, err := dittofs.ParseBaseURL(b.String())
	if err != nil {
		return "", fmt.Errorf("the hook's --dittofs-url-template: %w", err)
	}
	if p.TLS != nil {
		u.Scheme = "https"
	}
	return u.String(), nil
}

func (s *Server) handleCustomize(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	log := s.opts.Logger.With("hook", "customize")
	body, code, err := readBody(w, r)
	if err != nil {
		s.refuse(w, log, "customize", code, err, start)
		return
	}
	req, err := hook.DecodeCustomizeRequest(body)
	if err != nil {
		s.refuse(w, log, "customize", http.StatusBadRequest, err, start)
		return
	}
	out, _ := json.Marshal(hook.Customize(req))
	s.opts.Metrics.request("customize", "ok", time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// writeError answers a JSON error body that names the problem.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": code})
}
