package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrNoBackend is returned (inside a *net.OpError with Op "dial", so that
// callers treat it like a refused connection: retry later) when no backend
// is up.
var ErrNoBackend = errors.New("upstream: no MLflow worker is up")

// maxBackends bounds the backends of one Balancer (a bit set tracks the
// ones a request has tried).
const maxBackends = 64

// defaultCooldown is how long a backend that refused a connection is
// passed over, unless its supervisor reports it up again sooner or nothing
// else is up.
const defaultCooldown = time.Second

// BalancerOptions configure a Balancer.
type BalancerOptions struct {
	// Base carries the requests; nil: NewTransport().
	Base http.RoundTripper
	// Addr is the host:port requests are addressed to; requests to any
	// other host go to Base unchanged. The app uses the first worker's
	// address, so a request that somehow bypasses the Balancer still
	// reaches an MLflow.
	Addr string
	// Backends are the host:port of each MLflow process (1 to 64). They
	// start down: SetUp marks them up once they answer.
	Backends []string
	// Cooldown: how long a backend that refused a connection is passed
	// over; default 1 s.
	Cooldown time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Balancer is an http.RoundTripper that sends each request addressed to
// Addr to the backend with the fewest requests in flight (ties taken in
// turn), among those marked up. A request whose connection is refused — the
// worker died and its supervisor has not noticed yet — is sent to another
// backend when its body can be replayed (no body, or GetBody set): nothing
// of it reached the dead one. So is a GET, HEAD or OPTIONS request whose
// connection broke before an answer; other methods are not replayed once
// sent, since the worker may have acted on them before it died. A response
// counts as in flight until its body is closed, so a long download keeps
// its worker busy.
type Balancer struct {
	base     http.RoundTripper
	addr     string
	backends []*backend
	cooldown time.Duration
	now      func() time.Time
	next     atomic.Uint64
}

type backend struct {
	host      string
	up        atomic.Bool
	inFlight  atomic.Int64
	coolUntil atomic.Int64 // unix nanoseconds
	requests  atomic.Uint64
	failed    atomic.Uint64
}

// NewBalancer checks opts and returns a Balancer whose backends are all
// down.
func NewBalancer(opts BalancerOptions) (*Balancer, error) {
	switch {
	case opts.Addr == "":
		return nil, errors.New("upstream: balancer: Addr is required")
	case len(opts.Backends) == 0 || len(opts.Backends) > maxBackends:
		return nil, fmt.Errorf("upstream: balancer: %d backends (want 1 to %d)", len(opts.Backends), maxBackends)
	}
	if opts.Base == nil {
		opts.Base = NewTransport()
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = defaultCooldown
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Balancer{base: opts.Base, addr: opts.Addr, cooldown: opts.Cooldown, now: opts.Now}
	for _, h := range opts.Backends {
		if h == "" {
			return nil, errors.New("upstream: balancer: empty backend address")
		}
		b.backends = append(b.backends, &backend{host: h})
	}
	return b, nil
}

// SetUp marks backend i up (it answers) or down (its process died). Marking
// it up ends a cooldown.
func (b *Balancer) SetUp(i int, up bool) {
	if i < 0 || i >= len(b.backends) {
		return
	}
	be := b.backends[i]
	if up {
		be.coolUntil.Store(0)
	}
	be.up.Store(up)
}

// BackendStats describe one backend at one moment.
type BackendStats struct {
	Host     string
	Up       bool
	InFlight int64
	// Requests counts requests sent to it; Failed, connections to it that
	// were refused, or broke before an answer (it had died).
	Requests, Failed uint64
}

// Stats reports every backend, in the order given to NewBalancer.
func (b *Balancer) Stats() []BackendStats {
	out := make([]BackendStats, len(b.backends))
	for i, be := range b.backends {
		out[i] = BackendStats{Host: be.host, Up: be.up.Load(), InFlight: be.inFlight.Load(),
			Requests: be.requests.Load(), Failed: be.failed.Load()}
	}
	return out
}

// pick returns the index of the up backend, not in tried, with the fewest
// requests in flight, starting the scan at a rotating position so that ties
// are taken in turn. Backends cooling down after a refusal count only when
// nothing else is up. -1: none.
func (b *Balancer) pick(tried uint64) int {
	n := len(b.backends)
	start := int(b.next.Add(1) % uint64(n))
	now := b.now().UnixNano()
	best, bestLoad, cooling := -1, int64(0), -1
	for k := range n {
		i := (start + k) % n
		be := b.backends[i]
		if tried&(1<<i) != 0 || !be.up.Load() {
			continue
		}
		if be.coolUntil.Load() > now {
			if cooling < 0 {
				cooling = i
			}
			continue
		}
		if load := be.inFlight.Load(); best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	if best < 0 {
		return cooling
	}
	return best
}

// RoundTrip implements http.RoundTripper.
func (b *Balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != b.addr {
		return b.base.RoundTrip(req)
	}
	var tried uint64
	for attempt := 0; ; attempt++ {
		i := b.pick(tried)
		if i < 0 {
			if req.Body != nil {
				_ = req.Body.Close() // RoundTrip must close the body, even on errors
			}
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ErrNoBackend}
		}
		be := b.backends[i]
		out, err := b.retarget(req, be.host, attempt)
		if err != nil {
			return nil, err
		}
		be.inFlight.Add(1)
		be.requests.Add(1)
		resp, err := b.base.RoundTrip(out)
		if err == nil {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				// The body is the raw connection (the proxy needs it as an
				// io.ReadWriteCloser): not counted.
				be.inFlight.Add(-1)
				return resp, nil
			}
			resp.Body = &countedBody{ReadCloser: resp.Body, be: be}
			return resp, nil
		}
		be.inFlight.Add(-1)
		if !connectFailed(err) && !(safeMethod(req.Method) && connectionBroke(err)) {
			return nil, err
		}
		be.failed.Add(1)
		be.coolUntil.Store(b.now().Add(b.cooldown).UnixNano())
		tried |= 1 << i
		if !replayable(req) || req.Context().Err() != nil {
			return nil, err
		}
	}
}

// retarget is req addressed to host. A retry gets a fresh body.
func (b *Balancer) retarget(req *http.Request, host string, attempt int) (*http.Request, error) {
	out := req.WithContext(req.Context()) // a shallow copy: req itself is not changed
	u := *req.URL
	u.Host = host
	out.URL = &u
	if out.Host == "" || out.Host == b.addr {
		// MLflow checks Host against its --allowed-hosts: each worker knows
		// its own address.
		out.Host = host
	}
	if attempt > 0 && req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("upstream: replay body: %w", err)
		}
		out.Body = body
	}
	return out, nil
}

// connectFailed reports an error from connecting, before any byte of the
// request was sent.
func connectFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// connectionBroke reports a connection reset or closed before an answer:
// what a worker killed mid-request (or while it was being torn down, when
// its sockets still take data) leaves behind.
func connectionBroke(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// safeMethod: a request that may be sent again though a worker may have
// started on it. Other methods may have changed something before the
// worker died, so their failure is the answer.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// replayable reports whether a request may be sent again elsewhere.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// countedBody ends the backend's count of a request when the response body
// is closed.
type countedBody struct {
	io.ReadCloser
	be   *backend
	once sync.Once
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { c.be.inFlight.Add(-1) })
	return err
}
