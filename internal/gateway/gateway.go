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
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ratelimit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// Verifier checks Descope JWTs; *descope.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, raw string, kind descope.Kind) (*descope.Token, error)
	// Cached reports whether raw was verified before and is still trusted
	// from cache (it costs no verification work).
	Cached(raw string, kind descope.Kind) bool
}

// Descope is what the sign-in pages need from Descope's API.
type Descope interface {
	Me(ctx context.Context, refreshJWT string) (*descope.User, error)
	Logout(ctx context.Context, refreshJWT string) error
}

// KeyAuthenticator turns an access key into an identity (exchange, cache,
// owner lookup). Errors wrap descope.ErrRejected or descope.ErrUnavailable;
// *accesskey.Authenticator implements it.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, key string, clientIP netip.Addr) (*accesskey.Identity, error)
	// Cached reports whether key is answered from memory (a key exchanged
	// before and still valid).
	Cached(key string) bool
}

// Policy decides who a caller is in MLflow; *provision.Policy implements
// it. Its rules and provisioning's are the same by construction.
type Policy interface {
	// Admin reports whether a verified token makes its holder an MLflow
	// admin, and so a gateway admin (admin pages, unknown routes).
	Admin(tok *descope.Token) bool
	// Blocked reports users Descope has disabled or deleted since their
	// tokens were issued (found by the sync job); they are refused.
	Blocked(userID string) bool
	// WorkspaceAllowed reports whether the holder of tok may act in the
	// MLflow workspace a request names (X-MLFLOW-WORKSPACE; "" names none).
	WorkspaceAllowed(tok *descope.Token, workspace string) bool
	// Ensure makes sure MLflow user username exists with the admin flag
	// and roles tok implies, before a request is forwarded.
	Ensure(ctx context.Context, username string, tok *descope.Token) error
	// Username is the MLflow username of Descope user userID, decided at
	// the user's first use and kept since. known is what the gateway
	// learned of the person from Descope (/me at sign-in, a bound key's
	// user record); tok is the verified token. Errors wrap
	// naming.ErrNoProfile (no name yet, and nothing says what it should
	// be), naming.ErrUnavailable or descope.ErrUnavailable.
	Username(ctx context.Context, userID string, known naming.Profile, tok *descope.Token) (string, error)
	// NoteProfile records the login ID and email Descope has just given for
	// a user (/me at sign-in); the MLflow username does not change.
	NoteProfile(ctx context.Context, userID string, p naming.Profile)
}

// UIFiles serves MLflow's web UI files; *ui.Files implements it.
type UIFiles interface {
	// Serve answers a GET or HEAD for name, a path under MLflow's UI
	// build directory, and reports true; false: it wrote nothing (MLflow
	// answers instead).
	Serve(w http.ResponseWriter, r *http.Request, name string) bool
}

// Options configures the gateway handler. internal/app fills it from the
// configuration; every field without a default is required.
type Options struct {
	// The sign-in page: the Descope project, the flow (and, for the admin
	// pages, a flow that asks for MFA), the component's script and the
	// Descope API origin the page talks to.
	ProjectID       string
	FlowID          string
	AdminFlowID     string
	WebComponentURL string
	DescopeBaseURL  string
	// RedirectURL is the default landing page after sign-in (default
	// StaticPrefix + "/").
	RedirectURL string
	// BaseStaticURL and BaseCDNURL are the component's base-static-url and
	// base-cdn-url (self-hosted flow files and UI library); empty: its
	// defaults. LoginCSPExtras are third parties a flow uses (recaptcha,
	// hcaptcha, google-one-tap). All three shape the login page's CSP.
	BaseStaticURL  string
	BaseCDNURL     string
	LoginCSPExtras []string
	// LoginTitle is the sign-in page's title and heading (default "Sign in
	// to MLflow").
	LoginTitle string
	// DescopeCookies are Descope's cookie names: at sign-in, tokens the
	// component's success event does not carry are read from these cookies
	// (cookie mode on a custom domain). Zero: DS and DSR.
	DescopeCookies descope.CookieNames
	// DPoP verifies proofs for DPoP-bound tokens (cnf.jkt); nil refuses
	// every such token.
	DPoP *dpop.Checker
	// PublicURL is the gateway's public origin; nil: LocalOrigins.
	PublicURL *url.URL
	// LocalOrigins are the origins a browser may use to reach the gateway
	// when PublicURL is not set (http://127.0.0.1:5000, http://localhost:5000
	// …). A request whose Host is none of them gets the first; the Host
	// header is never trusted beyond this list.
	LocalOrigins []string
	// StaticPrefix is MLflow's --static-prefix ("" or "/mlflow"); the
	// gateway's own pages live under it too.
	StaticPrefix string
	// TrustedProxies may set X-Forwarded-For and X-Request-Id.
	TrustedProxies []netip.Prefix
	// AdminUsername is MLflow's bootstrap admin; no identity may map to it.
	AdminUsername string
	// RestrictUserList refuses MLflow's users/list (every username and
	// admin flag) to callers who are not gateway admins
	// (MLFLOW_DESCOPE_USER_DIRECTORY=admins).
	RestrictUserList bool
	// Upstream is MLflow; UpstreamTransport, if set, carries the proxied
	// requests (default: a tuned clone of http.DefaultTransport).
	Upstream          *url.URL
	UpstreamTransport http.RoundTripper
	// MaxJSONBodyBytes bounds a JSON body the gateway reads (default 16 MiB).
	MaxJSONBodyBytes int64
	// Limits rate-limit sign-ins and failed authentications; nil fields get
	// defaults.
	Limits Limits
	// AllowUnknownRoutes lets non-admins reach API routes the classifier
	// does not know (default: refused).
	AllowUnknownRoutes bool
	// AdminOnly names routes reserved to admins beyond MLflow's RBAC (see
	// internal/routepolicy): a non-empty reason refuses a non-admin with 403.
	// path is the raw path without StaticPrefix. nil: none.
	AdminOnly func(rt classify.Route, path string) event.Reason

	// Who callers are: Descope tokens, the Descope API for sign-in and
	// sign-out, browser sessions, access keys (nil: not accepted), and the
	// policy that decides what an identity is in MLflow.
	Verifier Verifier
	Descope  Descope
	Sessions *session.Manager
	Keys     KeyAuthenticator
	Policy   Policy
	// Signer signs the identity assertion MLflow trusts.
	Signer *assertion.Signer
	// Events receives one event.Record per completed request (health
	// probes excepted); nil: none are kept.
	Events event.Sink
	// UI, if set, serves MLflow's UI files — the page at the root and
	// everything under /static-files/ — after the same authentication as
	// any request to MLflow; nil: MLflow serves them.
	UI UIFiles
	// Admin serves the gateway's admin pages under {prefix}/auth/admin/ to
	// authenticated gateway admins (see IdentityFrom); nil: no admin pages.
	Admin http.Handler
	// SelfService serves {prefix}/auth/keys, {prefix}/auth/cli/… and
	// {prefix}/auth/device… with the identity, if any (see IdentityFrom,
	// OriginFrom, ClientIPFrom, RecordEvent); nil: those paths do not
	// exist.
	SelfService http.Handler
	// Readiness for /ready: MLflow answers, Descope's signing keys are
	// loaded, the role mapping has been applied in MLflow (until it has, a
	// load balancer sends no one here). nil: always.
	Ready        func(ctx context.Context) error
	KeysReady    func() bool
	MappingReady func() bool
	Logger       *slog.Logger
	Now          func() time.Time
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
	profiles *profiles
	origin   string // configured public origin; empty: taken from each request
}

// New returns the gateway's root handler.
func New(opts Options) (http.Handler, error) {
	switch {
	case opts.Verifier == nil, opts.Descope == nil, opts.Sessions == nil, opts.Signer == nil, opts.Policy == nil:
		return nil, errors.New("gateway: verifier, descope client, sessions, signer and policy are required")
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
	if opts.KeysReady == nil {
		opts.KeysReady = func() bool { return true }
	}
	if opts.MappingReady == nil {
		opts.MappingReady = func() bool { return true }
	}
	if opts.Ready == nil {
		opts.Ready = func(context.Context) error { return nil }
	}
	if opts.LoginTitle == "" {
		opts.LoginTitle = "Sign in to MLflow"
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

func (h *handler) now() time.Time { return h.opts.Now() }
