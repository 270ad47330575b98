package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// serveConfig is what the serve flags say.
type serveConfig struct {
	listen, metricsListen  string
	urlTemplate            string
	timeout, shutdownGrace time.Duration
	logLevel, logFormat    string
	authTokenFile          string
	tlsCert, tlsKey        string
	clientCert, clientKey  string
	maxSyncs, maxConns     int
	maxSyncsPerNamespace   int
	resyncPacing           bool
	maxSyncBytes           int64
	memoryLimit            string
	events                 bool
	kubeconfig             string
	proxyFromEnv           bool
	ceiling                hook.Ceiling
}

// serve runs the hook's HTTP service until SIGTERM, then lets the calls in
// flight finish.
func serve(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stdout)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	if err := setMemoryLimit(cfg.memoryLimit, log); err != nil {
		return err
	}
	reg := newRegistry()
	srv, recorder, err := newService(cfg, reg, log)
	if err != nil {
		return err
	}
	hookSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A sync may take the DittoFS deadline plus encoding.
		WriteTimeout:   cfg.timeout + 30*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	if cfg.tlsCert != "" {
		kp, err := dittofs.NewKeyPairFiles(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert-file, --tls-key-file: %w", err)
		}
		hookSrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.Certificate() }}
	}
	ln, err := listen(cfg.listen, cfg.maxConns, hookSrv)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 2)
	if cfg.metricsListen != "" {
		msrv, mln, err := metricsServer(cfg, reg, srv)
		if err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		defer msrv.Close()
		go func() { errc <- msrv.Serve(mln) }()
	}
	log.Info("serving", "version", version, "addr", ln.Addr().String(), "tls", cfg.tlsCert != "", "auth", cfg.authTokenFile != "", "dittofsURLTemplate", cfg.urlTemplate, "dittofsTimeout", cfg.timeout.String(),
		"dittofsClientCertificate", cfg.clientCert != "", "dittofsProxyFromEnvironment", cfg.proxyFromEnv, "podSecurityCeiling", cfg.ceiling.Level,
		"maxConcurrentSyncs", cfg.maxSyncs, "maxSyncsPerNamespace", cfg.maxSyncsPerNamespace, "maxSyncBytes", cfg.maxSyncBytes, "maxConnections", cfg.maxConns, "events", cfg.events)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		if hookSrv.TLSConfig != nil {
			errc <- hookSrv.ServeTLS(ln, "", "")
		} else {
			errc <- hookSrv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	srv.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownGrace)
	defer cancel()
	err = hookSrv.Shutdown(sctx)
	if recorder != nil {
		// The Events of the last answers, within what is left of the grace.
		recorder.Close(sctx)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// parseServeFlags reads and checks the serve flags (and their
// DITTOFS_HOOK_<FLAG> variables).
func parseServeFlags(args []string, stdout io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.listen, "listen", ":8080", "address to serve the hook, /healthz and /readyz on (and /metrics, unless --metrics-listen)")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "", "separate address for /metrics (and /healthz, /readyz), so a NetworkPolicy can admit monitoring to metrics only")
	fs.StringVar(&cfg.urlTemplate, "dittofs-url-template", server.DefaultURLTemplate, "Go template over .Name, .Namespace and .Port giving a DittoServer's API base URL")
	fs.DurationVar(&cfg.timeout, "dittofs-timeout", 3*time.Second, "deadline for all DittoFS calls of one sync (Metacontroller waits 10s for the hook)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "json", "json or text")
	fs.StringVar(&cfg.authTokenFile, "auth-token-file", "", "file holding the bearer token Metacontroller must send (re-read when it changes); none when empty")
	fs.StringVar(&cfg.tlsCert, "tls-cert-file", "", "serve TLS with this certificate (re-read when it changes)")
	fs.StringVar(&cfg.tlsKey, "tls-key-file", "", "private key of --tls-cert-file")
	fs.StringVar(&cfg.clientCert, "dittofs-client-cert-file", "", "client certificate presented to DittoServers that require one (spec.controlPlane.clientCASecretName); re-read when it changes")
	fs.StringVar(&cfg.clientKey, "dittofs-client-key-file", "", "private key of --dittofs-client-cert-file")
	fs.DurationVar(&cfg.shutdownGrace, "shutdown-timeout", 15*time.Second, "time to finish in-flight hook calls on SIGTERM")
	fs.IntVar(&cfg.maxSyncs, "max-concurrent-syncs", server.DefaultMaxConcurrentSyncs, "hook calls answered at once; more are answered 429 with Retry-After (Metacontroller retries, changing nothing)")
	maxSyncBytes := fs.String("max-sync-bytes", resource.NewQuantity(server.DefaultMaxSyncBytes, resource.BinarySI).String(), "sum of the request bodies of the hook calls answered at once (a quantity: 16Mi); more are answered 429 with Retry-After")
	fs.IntVar(&cfg.maxSyncsPerNamespace, "max-syncs-per-namespace", server.DefaultMaxSyncsPerNamespace, "hook calls of one namespace waiting for DittoFS at once; more are answered 429 with Retry-After, so that one tenant's hanging APIs hold at most this many of --max-concurrent-syncs")
	fs.BoolVar(&cfg.resyncPacing, "resync-pacing", true, "ask Metacontroller for each resync early by how late it has been calling (measured, at most a fifth of the polling interval), so that DittoFS is polled at the interval; false asks for the interval as it is")
	fs.IntVar(&cfg.maxConns, "max-connections", 256, "open connections per listener; at the bound idle keep-alive connections are closed first")
	fs.BoolVar(&cfg.events, "events", true, "record Kubernetes Events on DittoServers (needs create on events.k8s.io events: in-cluster, or --kubeconfig); false needs no API access")
	fs.StringVar(&cfg.kubeconfig, "kubeconfig", "", "kubeconfig file for --events, to run outside a cluster; in-cluster configuration when empty")
	fs.BoolVar(&cfg.proxyFromEnv, "dittofs-proxy-from-environment", false, "let the DittoFS clients use HTTP_PROXY, HTTPS_PROXY and NO_PROXY (off: they never use a proxy; a proxy would see the DittoFS passwords and tokens)")
	ceiling := ceilingFlags(fs)
	fs.StringVar(&cfg.memoryLimit, "memory-limit", "", "the container's memory limit (bytes or a quantity; the manifests pass limits.memory through the downward API): the Go runtime's soft memory limit is set to 90% of it, unless GOMEMLIMIT is set")
	if err := parseFlags(fs, args, stdout, "Usage: hook serve [flags]\n\nServes /sync, /customize and /finalize to Metacontroller, /healthz, /readyz and /metrics.\nEvery flag can also be set as DITTOFS_HOOK_<FLAG> (upper case, dashes as underscores),\ne.g. DITTOFS_HOOK_LOG_LEVEL=debug; a flag on the command line wins.", true); err != nil {
		return cfg, err
	}
	if err := checkLogger(cfg.logLevel, cfg.logFormat); err != nil {
		return cfg, err
	}
	var err error
	if cfg.ceiling, err = ceiling(); err != nil {
		return cfg, err
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if (cfg.clientCert == "") != (cfg.clientKey == "") {
		return cfg, errors.New("--dittofs-client-cert-file and --dittofs-client-key-file go together")
	}
	syncBytes, err := resource.ParseQuantity(*maxSyncBytes)
	if err != nil || syncBytes.Value() < 1 || cfg.maxSyncs < 1 || cfg.maxConns < 1 || cfg.maxSyncsPerNamespace < 1 {
		return cfg, errors.New("--max-concurrent-syncs, --max-syncs-per-namespace, --max-sync-bytes and --max-connections must be positive")
	}
	cfg.maxSyncBytes = syncBytes.Value()
	return cfg, nil
}

// newRegistry is the registry hook serve exports, with what it holds
// before newService adds the hook's own metrics: the Go runtime's, the
// process's and dittofs_hook_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), server.NewBuildInfo(version))
	return reg
}

// newService builds the hook's HTTP handler: its metrics in reg, the
// DittoFS token cache, the secret source and the bearer token.
func newService(cfg serveConfig, reg *prometheus.Registry, log *slog.Logger) (*server.Server, *server.Recorder, error) {
	var accounts *dittofs.Accounts
	metrics := server.NewMetrics(reg, func() int { return accounts.Len() })
	accounts = dittofs.NewAccounts(dittofs.AccountOptions{Metrics: dittofs.AccountMetrics{
		Login: metrics.Login, Refresh: metrics.Refresh, Provision: metrics.Provision,
	}})
	secrets := hook.NewSecretSource(rand.Reader)
	var err error
	opts := server.Options{
		URLTemplate: cfg.urlTemplate,
		Timeout:     cfg.timeout,
		Accounts:    accounts,
		Secrets:     secrets,
		Logger:      log,
		Metrics:     metrics,

		MaxConcurrentSyncs:   cfg.maxSyncs,
		MaxSyncBytes:         cfg.maxSyncBytes,
		MaxSyncsPerNamespace: cfg.maxSyncsPerNamespace,
		NoResyncPacing:       !cfg.resyncPacing,
		ProxyFromEnvironment: cfg.proxyFromEnv,
		Ceiling:              cfg.ceiling,
	}
	if cfg.metricsListen == "" {
		opts.Gatherer = reg
	}
	if cfg.clientCert != "" {
		if opts.ClientIdentity, err = dittofs.ClientIdentityFromFiles(cfg.clientCert, cfg.clientKey); err != nil {
			return nil, nil, fmt.Errorf("--dittofs-client-cert-file, --dittofs-client-key-file: %w", err)
		}
	}
	if cfg.authTokenFile == "" {
		log.Warn("serving hook calls without authentication: anyone who can reach --listen may call /sync; the installs set --auth-token-file (docs/install.md: Protecting the hook's endpoint)")
	}
	if cfg.authTokenFile != "" {
		// Fail closed: a missing or empty token file stops the hook here,
		// rather than serving calls it cannot authenticate.
		token := &dittofs.ReloadingFile{Path: cfg.authTokenFile}
		b, err := token.Read()
		if err != nil {
			return nil, nil, fmt.Errorf("--auth-token-file: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil, fmt.Errorf("--auth-token-file %s is empty: put the token Metacontroller sends there", cfg.authTokenFile)
		}
		opts.AuthToken = func() string {
			b, err := token.Read()
			if err != nil {
				log.Error("read --auth-token-file; refusing hook calls", "err", err)
				return ""
			}
			return strings.TrimSpace(string(b))
		}
	}
	var recorder *server.Recorder
	if cfg.events {
		if recorder, err = newRecorder(cfg, metrics, log); err != nil {
			return nil, nil, err
		}
		opts.Events = recorder
	}
	srv, err := server.New(opts)
	return srv, recorder, err
}

// listen opens a listener of at most maxConns connections for srv.
func listen(addr string, maxConns int, srv *http.Server) (*connLimiter, error) {
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln := limitConnections(tcp, maxConns)
	srv.ConnState = ln.track
	return ln, nil
}

// metricsServer is the separate listener of --metrics-listen: /metrics,
// /healthz and /readyz only. The kubelet probes it and monitoring scrapes
// it: every answer is small and quick, so every phase is bounded tightly.
func metricsServer(cfg serveConfig, reg *prometheus.Registry, srv *server.Server) (*http.Server, *connLimiter, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", srv)
	mux.Handle("GET /readyz", srv)
	msrv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := listen(cfg.metricsListen, cfg.maxConns, msrv)
	return msrv, ln, err
}

// setMemoryLimit sets the Go runtime's soft memory limit to 90% of the
// container's limit, leaving room for what the runtime does not count
// (stacks of the OS threads, the binary's pages). GOMEMLIMIT, when set,
// wins: the runtime has read it already.
func setMemoryLimit(limit string, log *slog.Logger) error {
	if limit == "" {
		return nil
	}
	q, err := resource.ParseQuantity(limit)
	if err != nil || q.Value() < 1 {
		return fmt.Errorf("--memory-limit %q: want a positive number of bytes or a quantity such as 256Mi", limit)
	}
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("memory limit", "GOMEMLIMIT", env, "containerLimit", q.Value())
		return nil
	}
	soft := q.Value() / 10 * 9
	debug.SetMemoryLimit(soft)
	log.Info("memory limit", "soft", soft, "containerLimit", q.Value())
	return nil
}
