// Package gateway is the HTTP front door: the sign-in pages, the
// authentication chain, and the reverse proxy to MLflow.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ratelimit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// Verifier checks Descope JWTs.
type Verifier interface {
	Verify(ctx context.Context, raw string, kind descope.Kind) (*descope.Token, error)
}

// Descope is what the sign-in pages need from Descope's API.
type Descope interface {
	Me(ctx context.Context, refreshJWT string) (*descope.User, error)
	Logout(ctx context.Context, refreshJWT string) error
}

// KeyAuthenticator turns an access key into an identity (exchange, cache,
// owner lookup). Errors wrap descope.ErrRejected or descope.ErrUnavailable.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, key string, clientIP netip.Addr) (*accesskey.Identity, error)
}

// Provisioner makes sure the MLflow user behind an identity exists and
// carries the right admin flag and roles before a request is forwarded.
type Provisioner interface {
	Ensure(ctx context.Context, id *Identity) error
}

// Observer receives what happened: metrics and audit hang off it.
type Observer interface {
	Request(r *http.Request, info RequestInfo)
	SignIn(r *http.Request, id *Identity)
	SignOut(r *http.Request, id *Identity)
	Refresh(r *http.Request, id *Identity)
	AuthFailure(r *http.Request, method Method, reason string)
}

// RequestInfo describes a completed request for observers.
type RequestInfo struct {
	RequestID string
	Route     string // route family, or the gateway's own route name
	Pattern   string // MLflow's route pattern, e.g. /api/2.0/mlflow/runs/log-batch
	RPC       string
	Status    int
	Elapsed   time.Duration
	ClientIP  netip.Addr
	Identity  *Identity
	Reason    string
	Proxied   bool // the request reached MLflow
	// MLflowDenied: MLflow itself refused it (401/403 from upstream).
	MLflowDenied bool
	Method       string
	IDs          classify.Identifiers
}

// Options configures the gateway handler.
type Options struct {
	ProjectID       string
	FlowID          string
	AdminFlowID     string
	RedirectURL     string // default landing page after sign-in
	WebComponentURL string // script URL of <descope-wc>
	DescopeBaseURL  string // the Descope API origin the page talks to
	PublicURL       *url.URL
	// LocalOrigins are the origins a browser may use to reach the gateway
	// when PublicURL is not set (http://127.0.0.1:5000, http://localhost:5000
	// …). A request whose Host is none of them gets the first; the Host
	// header is never trusted beyond this list.
	LocalOrigins   []string
	StaticPrefix   string
	TrustedProxies []netip.Prefix
	AdminRoles     []string
	// IsAdmin decides whether a verified token makes its holder an MLflow
	// admin (and a gateway admin). nil: it holds one of AdminRoles at project
	// level. The CLI passes the role mapping's rule, so the gateway and
	// provisioning can never disagree.
	IsAdmin           func(tok *descope.Token) bool
	AdminUsername     string // reserved MLflow admin; no identity may map to it
	Upstream          *url.URL
	UpstreamTransport http.RoundTripper
	MaxJSONBodyBytes  int64
	// Limits rate-limit sign-ins and failed authentications; zero values get
	// defaults.
	Limits Limits
	// AllowUnknownRoutes lets non-admins reach API routes the classifier
	// does not know (default: refused).
	AllowUnknownRoutes bool

	Verifier    Verifier
	Descope     Descope
	Sessions    *session.Manager
	Keys        KeyAuthenticator // nil: access keys are not accepted
	Provisioner Provisioner
	// Blocked reports users that Descope has disabled or deleted since their
	// token was issued (from the sync job); their requests are refused.
	Blocked func(userID string) bool
	// WorkspaceAllowed reports whether an identity may act in the MLflow
	// workspace a request names (X-MLFLOW-WORKSPACE); nil: workspaces off.
	WorkspaceAllowed func(id *Identity, workspace string) bool
	Signer           *assertion.Signer
	Observer         Observer
	// Admin serves the gateway's admin pages under {prefix}/auth/admin/ to
	// authenticated gateway admins (see IdentityFrom); nil: no admin pages.
	Admin     http.Handler
	Ready     func(ctx context.Context) error // upstream readiness
	KeysReady func() bool                     // Descope's signing keys are loaded
	// MappingReady: the role mapping has been applied in MLflow; until it
	// has, /ready fails so a load balancer sends no one here. nil: always.
	MappingReady func() bool
	Logger       *slog.Logger
	Now          func() time.Time

	// SelfService serves {prefix}/auth/keys, {prefix}/auth/cli/… and
	// {prefix}/auth/device… with the identity, if any (see IdentityFrom,
	// OriginFrom); nil: those paths do not exist.
	SelfService http.Handler
}

// Limits are the gateway's abuse limits. Each limiter is keyed by client IP
// or by user ID and bounded in memory.
type Limits struct {
	SignInPerIP   *ratelimit.Limiter
	SignInPerUser *ratelimit.Limiter
	FailuresPerIP *ratelimit.Limiter
}

// DefaultLimits: 30 sign-ins per IP at once then one every 2 s; 10 per user
// then one every 6 s; 50 failed authentications per IP then one a second.
func DefaultLimits(now func() time.Time) Limits {
	return Limits{
		SignInPerIP:   ratelimit.New(30, 2*time.Second, 100000, now),
		SignInPerUser: ratelimit.New(10, 6*time.Second, 100000, now),
		FailuresPerIP: ratelimit.New(50, time.Second, 100000, now),
	}
}

type handler struct {
	opts     Options
	log      *slog.Logger
	ips      clientIPs
	proxy    *httputil.ReverseProxy
	pages    *template.Template
	classes  *classify.Classifier
	observer Observer
	profiles *profiles
	origin   string // configured public origin; empty: taken from each request
}

// New returns the gateway's root handler.
func New(opts Options) (http.Handler, error) {
	switch {
	case opts.Verifier == nil, opts.Descope == nil, opts.Sessions == nil, opts.Signer == nil:
		return nil, errors.New("gateway: verifier, descope client, sessions and signer are required")
	case opts.Upstream == nil:
		return nil, errors.New("gateway: upstream URL is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := DefaultLimits(opts.Now)
	if opts.Limits.SignInPerIP == nil {
		opts.Limits.SignInPerIP = def.SignInPerIP
	}
	if opts.Limits.SignInPerUser == nil {
		opts.Limits.SignInPerUser = def.SignInPerUser
	}
	if opts.Limits.FailuresPerIP == nil {
		opts.Limits.FailuresPerIP = def.FailuresPerIP
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Provisioner == nil {
		opts.Provisioner = nopProvisioner{}
	}
	if opts.IsAdmin == nil {
		roles := opts.AdminRoles
		opts.IsAdmin = func(tok *descope.Token) bool { return hasAny(tok.ProjectRoles(), roles) }
	}
	if opts.KeysReady == nil {
		opts.KeysReady = func() bool { return true }
	}
	if opts.MappingReady == nil {
		opts.MappingReady = func() bool { return true }
	}
	if opts.Ready == nil {
		opts.Ready = func(context.Context) error { return nil }
	}
	if opts.RedirectURL == "" {
		opts.RedirectURL = opts.StaticPrefix + "/"
	}
	if opts.MaxJSONBodyBytes <= 0 {
		opts.MaxJSONBodyBytes = 16 << 20
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{
		opts:     opts,
		log:      opts.Logger,
		ips:      clientIPs{trusted: opts.TrustedProxies},
		pages:    pages,
		observer: opts.Observer,
		profiles: newProfiles(50000),
		origin:   originOf(opts.PublicURL),
	}
	h.classes, err = classify.New(classify.Options{MaxJSONBody: opts.MaxJSONBodyBytes})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	h.proxy = h.newProxy()
	return h.routes(), nil
}

func originOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// originFor is the gateway's origin as the client sees it: the configured
// public URL or, without one, whichever of the local origins the request's
// Host names (the first one otherwise).
func (h *handler) originFor(r *http.Request) string {
	if h.origin != "" {
		return h.origin
	}
	o := "http://" + r.Host
	if slices.Contains(h.opts.LocalOrigins, o) {
		return o
	}
	if len(h.opts.LocalOrigins) > 0 {
		return h.opts.LocalOrigins[0]
	}
	return "http://localhost"
}

type nopObserver struct{}

func (nopObserver) Request(*http.Request, RequestInfo)        {}
func (nopObserver) SignIn(*http.Request, *Identity)           {}
func (nopObserver) SignOut(*http.Request, *Identity)          {}
func (nopObserver) Refresh(*http.Request, *Identity)          {}
func (nopObserver) AuthFailure(*http.Request, Method, string) {}

type nopProvisioner struct{}

func (nopProvisioner) Ensure(context.Context, *Identity) error { return nil }
