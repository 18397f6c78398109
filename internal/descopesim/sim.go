// Package descopesim is a local simulator of the Descope HTTP API.
//
// It is a real HTTP server on loopback that issues real ES384 and RS256 JWTs,
// serves a JWKS, refreshes and revokes sessions, exchanges access keys, answers
// the management calls the gateway uses, and serves a stand-in for the
// descope-wc web component. Tests start it in-process with New; `make demo` and
// browser tests run cmd/descope-sim and drive it over the /sim/ control API.
// It is for tests and demos only.
package descopesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default values used when Options leaves a field empty.
const (
	DefaultAddr          = "127.0.0.1:0"
	DefaultProjectID     = "P2SimProject000000000000000A"
	DefaultManagementKey = "sim-management-key"
	DefaultSessionTTL    = 10 * time.Minute
	DefaultRefreshTTL    = 4 * 7 * 24 * time.Hour
	DefaultAccessKeyTTL  = 10 * time.Minute
	// DefaultUIComponentsVersion is the @descope/web-components-ui version
	// @descope/web-component 4.3.2 was published with.
	DefaultUIComponentsVersion = "3.14.1"
)

// Sentinel errors returned by the Server methods.
var (
	// ErrNotFound is returned when a user or access key does not exist.
	ErrNotFound = errors.New("descopesim: not found")
	// ErrConflict is returned when creating a user or key whose ID exists.
	ErrConflict = errors.New("descopesim: already exists")
	// ErrInvalid is returned for malformed input (bad status, algorithm, …).
	ErrInvalid = errors.New("descopesim: invalid argument")
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// ProjectID is the Descope project ID; DefaultProjectID when empty.
	ProjectID string
	// Addr is the listen address; DefaultAddr when empty. Only loopback
	// addresses are accepted.
	Addr string
	// ManagementKey is the secret management calls must present;
	// DefaultManagementKey when empty.
	ManagementKey string
	// AutoSignUp makes /sim/flow/sign-in create unknown login IDs as new users.
	AutoSignUp bool
	// Now is the clock; time.Now when nil. Advance adds an offset to it.
	Now func() time.Time
	// Logger receives request and error logs; discarded when nil.
	Logger *slog.Logger
	// Delivery is how tokens are handed out (body by default); see
	// SetTokenDelivery.
	Delivery TokenDelivery
	// FlowSessionTTL is the lifetime of session JWTs from sign-ins through
	// a flow (and their refreshes); DefaultSessionTTL when zero.
	FlowSessionTTL time.Duration
	// UIComponentsVersion is the @descope/web-components-ui version the
	// flow's config.json names (DefaultUIComponentsVersion when empty): the
	// real web component loads that version from its base-cdn-url.
	UIComponentsVersion string
	// AccessKeySubject is what the sub of an exchanged access-key JWT holds
	// for a key bound to a user: SubjectKeyID (default) or SubjectBoundUser.
	AccessKeySubject string
	// ApprovedOrigins, if set, are the only origins the flow API accepts
	// calls from (see SetApprovedOrigins).
	ApprovedOrigins []string
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	projectID  string
	mgmtKey    string
	autoSignUp bool
	clock      func() time.Time
	log        *slog.Logger

	ln      net.Listener
	srv     *http.Server
	url     string
	done    chan struct{}
	cancel  context.CancelFunc
	closeMu sync.Once

	mu         sync.Mutex
	offset     time.Duration
	keys       []*signingKey
	users      map[string]*User
	roles      map[string]Role
	tenants    map[string]Tenant
	refresh    map[string]*refreshState
	accessKeys map[string]*accessKey
	faults     []*faultState
	counts     map[string]int
	rotation   bool
	seq        int
	delivery   TokenDelivery
	keySubject string

	flowSessionTTL time.Duration
	uiVersion      string
	executions     map[string]*execution

	approvedOrigins []string // empty: any origin
}

// New validates opts, generates signing keys and starts serving. Call Close
// when done.
func New(opts Options) (*Server, error) {
	if opts.ProjectID == "" {
		opts.ProjectID = DefaultProjectID
	}
	if strings.ContainsAny(opts.ProjectID, ":/ ") {
		return nil, fmt.Errorf("descopesim: project id %q: %w", opts.ProjectID, ErrInvalid)
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.ManagementKey == "" {
		opts.ManagementKey = DefaultManagementKey
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Delivery = opts.Delivery.withDefaults()
	if err := opts.Delivery.validate(); err != nil {
		return nil, err
	}
	if err := validKeySubject(opts.AccessKeySubject); err != nil {
		return nil, err
	}
	keys, err := newKeySet()
	if err != nil {
		return nil, err
	}
	s := &Server{
		projectID:  opts.ProjectID,
		mgmtKey:    opts.ManagementKey,
		autoSignUp: opts.AutoSignUp,
		clock:      opts.Now,
		log:        opts.Logger.With("component", "descopesim"),
		done:       make(chan struct{}),
		keys:       keys,
		users:      map[string]*User{},
		roles:      map[string]Role{},
		tenants:    map[string]Tenant{},
		refresh:    map[string]*refreshState{},
		accessKeys: map[string]*accessKey{},
		counts:     map[string]int{},
		delivery:   opts.Delivery,
		keySubject: opts.AccessKeySubject,

		flowSessionTTL: opts.FlowSessionTTL,
		uiVersion:      opts.UIComponentsVersion,
		executions:     map[string]*execution{},
	}
	if s.flowSessionTTL == 0 {
		s.flowSessionTTL = DefaultSessionTTL
	}
	if s.uiVersion == "" {
		s.uiVersion = DefaultUIComponentsVersion
	}
	s.SetApprovedOrigins(opts.ApprovedOrigins...)
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("descopesim: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	baseCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go s.serve()
	return s, nil
}

func (s *Server) serve() {
	defer close(s.done)
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("serve failed", "error", err)
	}
}

// checkLoopback refuses listen addresses that are not on loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("descopesim: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("descopesim: listen address %q is not loopback: %w", addr, ErrInvalid)
	}
	return nil
}

// URL is the base URL, e.g. "http://127.0.0.1:41234" (no trailing slash).
// Point DESCOPE_BASE_URI, and the web component's CDN base, at it.
func (s *Server) URL() string { return s.url }

// ProjectID is the project ID the simulator serves.
func (s *Server) ProjectID() string { return s.projectID }

// ManagementKey is the management key management calls must present.
func (s *Server) ManagementKey() string { return s.mgmtKey }

// Issuer is the iss claim of every token: URL() + "/" + ProjectID().
func (s *Server) Issuer() string { return s.url + "/" + s.projectID }

// Close stops the server, aborting requests in flight (including delayed
// ones), and waits for the serve goroutine to end. It is safe to call twice.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.cancel()
		err = s.srv.Close()
		<-s.done
	})
	if err != nil {
		return fmt.Errorf("descopesim: close: %w", err)
	}
	return nil
}

// now is the simulator clock: Options.Now plus whatever Advance added.
func (s *Server) now() time.Time {
	s.mu.Lock()
	off := s.offset
	s.mu.Unlock()
	return s.clock().Add(off)
}

// Advance moves the simulator clock forward by d, so tokens expire without
// waiting. Tokens are still checked against the real clock by clients.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// SetRefreshRotation turns refresh-token rotation on or off. With rotation
// on, /v1/auth/refresh returns a new refreshJwt and revokes the one used.
func (s *Server) SetRefreshRotation(on bool) {
	s.mu.Lock()
	s.rotation = on
	s.mu.Unlock()
}

// Counts returns how many requests each API path received (control paths
// under /sim/ are not counted, except /sim/flow/).
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Count returns how many requests the exact path received.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// ResetCounts zeroes all counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.mu.Unlock()
}

// nextID returns a unique, Descope-looking ID with the given prefix.
// Callers hold s.mu.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s2%s%06d", prefix, randomString(18), s.seq)
}
