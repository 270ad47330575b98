package harness

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// RoundRobin serves, on loopback, one address in front of several hook
// replicas, sending each call to the next replica in turn, as a Service in
// front of a Deployment's pods may: consecutive syncs of one DittoServer,
// and Metacontroller's retries, reach different replicas. It returns the
// address (base URL).
func RoundRobin(t T, backends ...string) string {
	var proxies []*httputil.ReverseProxy
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, httputil.NewSingleHostReverseProxy(u))
	}
	var next atomic.Uint64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[(next.Add(1)-1)%uint64(len(proxies))].ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}
