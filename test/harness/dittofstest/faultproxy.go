package dittofstest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Fault is what the FaultProxy does to a call instead of passing it on.
type Fault struct {
	// Kind: "" (pass), "refuse" (the port stops listening), "reset" (the
	// connection is reset before an answer), "reset-mid-body" (headers and
	// half a body, then a reset), "hang" (no answer until the client gives
	// up), "status" (Status with Body), "body" (200 with Body), "delay"
	// (passed on after Delay, or when the client gives up).
	Kind string
	// Delay of a "delay" fault.
	Delay time.Duration
	// Exact limits the fault to calls whose path is Path exactly.
	Exact  bool
	Status int
	Body   string
	// ContentType of a "status" or "body" answer (default application/json).
	ContentType string
	// Location of a "status" answer (a redirect's target).
	Location string
	// Path limits the fault to calls whose path starts with it (all when empty).
	Path string
}

// FaultProxy sits between the hook and a real DittoFS server and injects
// faults on demand.
type FaultProxy struct {
	URL  string
	Port int

	t      harness.T
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu     sync.Mutex
	record func(path string, body []byte)
	fault  Fault
	ln     net.Listener
	srv    *http.Server
	calls  map[string]int
	hungCh chan struct{}
}

// StartFaultProxy proxies to target (a DittoFS URL, or "" to set later with
// SetTarget) on a free loopback port.
func StartFaultProxy(t harness.T, target string) *FaultProxy {
	t.Helper()
	p := &FaultProxy{t: t, calls: map[string]int{}, hungCh: make(chan struct{})}
	if target != "" {
		p.SetTarget(target)
	}
	p.Port = harness.FreePort(t)
	p.URL = fmt.Sprintf("http://127.0.0.1:%d", p.Port)
	p.listen()
	t.Cleanup(func() {
		p.mu.Lock()
		close(p.hungCh)
		srv := p.srv
		p.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})
	return p
}

func (p *FaultProxy) listen() {
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; wait out a TIME_WAIT race
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("fault proxy: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 5 * time.Second}
	p.ln, p.srv = ln, srv
	go func() { _ = srv.Serve(ln) }()
}

// SetTarget points the proxy at a DittoFS URL.
func (p *FaultProxy) SetTarget(target string) {
	u, err := url.Parse(target)
	if err != nil {
		p.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		rec := p.record
		p.mu.Unlock()
		if rec == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		rec(resp.Request.URL.Path, body)
		return err
	}
	// A stopped backend looks to the hook as it would in a cluster (a
	// Service without ready endpoints): the connection fails, no 502.
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { resetConn(w) }
	p.mu.Lock()
	p.target, p.proxy = u, rp
	p.mu.Unlock()
}

// Record passes every answer DittoFS gives through the proxy to f.
func (p *FaultProxy) Record(f func(path string, body []byte)) {
	p.mu.Lock()
	p.record = f
	p.mu.Unlock()
}

// Set changes the fault; Fault{} passes calls on again.
func (p *FaultProxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasRefusing := p.fault.Kind == "refuse"
	p.fault = f
	switch {
	case f.Kind == "refuse" && !wasRefusing:
		_ = p.srv.Close() // closes the listener: connections are refused
		p.srv = nil
	case f.Kind != "refuse" && wasRefusing:
		p.listen()
	}
}

// Calls returns how many calls reached the proxy for a path prefix.
func (p *FaultProxy) Calls(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for path, c := range p.calls {
		if strings.HasPrefix(path, prefix) {
			n += c
		}
	}
	return n
}

// ResetCalls zeroes the call counts.
func (p *FaultProxy) ResetCalls() {
	p.mu.Lock()
	p.calls = map[string]int{}
	p.mu.Unlock()
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	f := p.fault
	p.calls[r.Method+" "+r.URL.Path]++
	hung := p.hungCh
	proxy := p.proxy
	p.mu.Unlock()
	if f.Kind == "delay" && (f.Path == "" || r.URL.Path == f.Path || !f.Exact && strings.HasPrefix(r.URL.Path, f.Path)) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(f.Delay):
		}
		f.Kind = ""
	}
	if f.Kind == "" || (f.Path != "" && !strings.HasPrefix(r.URL.Path, f.Path)) || (f.Exact && r.URL.Path != f.Path) {
		if proxy == nil {
			http.Error(w, "fault proxy: no target yet", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
		return
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	switch f.Kind {
	case "status", "body":
		code := f.Status
		if f.Kind == "body" || code == 0 {
			code = http.StatusOK
		}
		w.Header().Set("Content-Type", ct)
		if f.Location != "" {
			w.Header().Set("Location", f.Location)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(f.Body))
	case "hang":
		select {
		case <-r.Context().Done():
		case <-hung:
		}
	case "reset":
		resetConn(w)
	case "reset-mid-body":
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		body := `[{"id":"x","type":"nfs","enabled":true,"running":true,"port":12049},{"id":"y","ty`
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)*2, body)
		_ = buf.Flush()
		reset(conn)
	}
}

// resetConn closes the client's connection with a TCP reset, no answer.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		reset(conn)
	}
}

func reset(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // close with RST
	}
	_ = conn.Close()
}
