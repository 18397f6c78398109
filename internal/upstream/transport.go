// Package upstream is how the gateway reaches MLflow: a transport tuned for
// a private MLflow on loopback, and a Balancer that spreads requests over
// several MLflow processes by least outstanding requests, so that no
// kept-alive connection is pinned to a busy worker and a dead worker is
// passed over.
package upstream

import (
	"net"
	"net/http"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/quickack"
)

// NewTransport returns the transport for requests to MLflow: generous idle
// pools (every concurrent request keeps its connection), no compression (the
// client's encoding passes through untouched), never an environment proxy,
// and TCP_QUICKACK on (uvicorn with several workers leaves Nagle's algorithm
// on; see internal/quickack).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 10 * time.Minute // long searches and artifact listings
	t.MaxIdleConnsPerHost = 256
	t.MaxIdleConns = 512
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true
	t.Proxy = nil
	t.DialContext = checkPeer(quickack.Dial(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}))
	return t
}
