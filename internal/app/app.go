// Package app builds the whole gateway from its configuration — the Descope
// client and signing keys, sessions, access keys, the policy and
// provisioning, MLflow (supervised or external), audit, the block list,
// metrics, self-service keys, the admin pages and the HTTP server — in one
// place, New, and runs it. The command (internal/cli) and every test harness
// use it, so each test runs production's rules.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/routepolicy"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ui"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// Deps are what the App takes from its surroundings rather than from the
// configuration. The zero value is production's; the fields marked "tests"
// exist so that test harnesses build the same App.
type Deps struct {
	// Environ is the process environment the supervised MLflow inherits
	// (internal/mlflow drops what it must not see).
	Environ []string
	// Stdout receives the "listening" line and, with
	// MLFLOW_DESCOPE_AUDIT_STDOUT, the audit events as JSON lines. nil:
	// discarded.
	Stdout io.Writer
	// Logger is the gateway's log; nil: discarded.
	Logger *slog.Logger
	// Version is logged and recorded in the audit trail's start event.
	Version string

	// Listener, if set, is where Run serves instead of cfg.ListenAddr()
	// (tests: a free port).
	Listener net.Listener
	// MLflowTransport, if set, carries every request to MLflow: proxied
	// ones, the admin API and health checks (tests: a fake in-process).
	MLflowTransport http.RoundTripper
	// Events, if set, also receives every event record (tests watch).
	Events event.Sink
	// Limits replace the gateway's abuse limits; nil fields get defaults.
	Limits gateway.Limits
	// ExchangeLimit, if set, replaces the per-address limit on exchanges of
	// unknown access keys (accesskey.DefaultExchangeLimits).
	ExchangeLimit func(clientIP netip.Addr) (bool, time.Duration)
	// KeysForcedInterval, if set, replaces the least time between two
	// fetches of Descope's keys forced by an unknown key ID (tests: ~0).
	KeysForcedInterval time.Duration
	// AdminOptions, if set, may change the admin pages' options before they
	// are built (tests: a seeded store, stand-in explain and sync status).
	AdminOptions func(*admin.Options)
	// SelfServiceOptions, if set, may change the self-service options
	// before the service is built (tests: a clock, limits, a Descope that
	// misbehaves).
	SelfServiceOptions func(*selfservice.Options)
}

// App is a built gateway: Handler serves it, Run runs it and its
// background work, Close releases what New opened.
type App struct {
	cfg     *config.Config
	deps    Deps
	log     *slog.Logger
	ln      net.Listener
	handler http.Handler

	tel      *telemetry
	deny     *denylist.List
	keys     *descope.Keys
	keyAuth  *accesskey.Authenticator
	up       *mlflowUpstream
	ui       *ui.Files // nil: MLflow serves its UI files
	policy   *provision.Policy
	names    *naming.Store
	syncer   *usersync.Syncer // nil without a management key or interval
	self     *selfservice.Service
	stopping []func() // undone by Close, last first
}

// assertionTTL only has to cover the hop from the gateway to MLflow.
const assertionTTL = 60 * time.Second

// New builds every part of the gateway in order, from cfg (validated by
// config.Load). On error, whatever it opened is closed again.
func New(ctx context.Context, cfg *config.Config, deps Deps) (_ *App, err error) {
	if deps.Stdout == nil {
		deps.Stdout = io.Discard
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	log := deps.Logger
	a := &App{cfg: cfg, deps: deps, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	// Audit and metrics first: everything after reports to them.
	a.tel, err = openTelemetry(ctx, cfg, deps, log)
	if err != nil {
		return nil, err
	}
	a.stopping = append(a.stopping, a.tel.close)
	a.deny, err = openDenylist(ctx, a.tel.store, log)
	if err != nil {
		return nil, err
	}
	dpopChecker, err := openDPoP(ctx, a.tel.store)
	if err != nil {
		return nil, err
	}

	baseURL := descope.BaseURL(cfg.ProjectID, cfg.BaseURI)
	cookieNames := descope.CookieNames{Session: cfg.SessionCookieName, Refresh: cfg.RefreshCookieName}
	dc, err := descope.New(descope.Options{
		BaseURL:       baseURL,
		ProjectID:     cfg.ProjectID,
		ManagementKey: descope.Secret(cfg.ManagementKey.Reveal()),
		HTTPClient:    a.tel.descopeHTTPClient(),
		Logger:        log.With("component", "descope"),
		CookieNames:   cookieNames,
	})
	if err != nil {
		return nil, err
	}
	a.keys, err = descope.NewKeys(dc, descope.KeysOptions{Logger: log.With("component", "jwks"), ForcedInterval: deps.KeysForcedInterval})
	if err != nil {
		return nil, err
	}
	verifier, err := descope.NewVerifier(a.keys, descope.VerifierOptions{Audiences: cfg.Audiences, CookieNames: cookieNames})
	if err != nil {
		return nil, err
	}

	secret := []byte(cfg.AssertionSecret.Reveal())
	if len(secret) == 0 {
		if secret, err = randomSecret(); err != nil {
			return nil, err
		}
	}
	signer, err := assertion.NewSigner(secret, assertionTTL, nil)
	if err != nil {
		return nil, err
	}

	a.up, err = startUpstream(cfg, secret, deps, log)
	if err != nil {
		return nil, err
	}
	mlflowAdmin, err := newMLflowAdmin(cfg, a.up.url, signer, a.up.transport)
	if err != nil {
		return nil, err
	}
	prov, err := newPolicy(ctx, cfg, mlflowAdmin, dc, a.tel.store, a.deny, a.tel.sink, a.up, log)
	if err != nil {
		return nil, err
	}
	a.policy, a.names = prov.policy, prov.names
	if dc.HasManagementKey() && cfg.SyncInterval > 0 {
		syncLease, err := newSyncLease(ctx, a.tel.store, cfg.SyncInterval, a.tel.metrics, log)
		if err != nil {
			return nil, err
		}
		a.syncer, err = usersync.New(usersync.Options{
			Descope:       dc,
			MLflow:        mlflowAdmin,
			Provisioner:   prov.provisioner,
			AdminUsername: cfg.AdminUsername,
			Interval:      cfg.SyncInterval,
			Blocklist:     a.deny,
			Names:         prov.names,
			Lease:         syncLease,
			Events:        a.tel.sink,
			Logger:        log.With("component", "usersync"),
		})
		if err != nil {
			return nil, err
		}
	}
	exchangeLimit := deps.ExchangeLimit
	if exchangeLimit == nil {
		exchangeLimit = accesskey.DefaultExchangeLimits(nil)
	}
	a.keyAuth, err = accesskey.New(accesskey.Options{
		Descope: dc, Verifier: verifier, Events: a.tel.sink, Logger: log.With("component", "accesskey"),
		AllowExchange: exchangeLimit,
		SameAsUser:    a.policy.SameAsUser,
	})
	if err != nil {
		return nil, err
	}
	sessOpts := session.Options{
		Verifier:  verifier,
		Refresher: dc,
		Cookies:   session.Cookies{Secure: cfg.SecureCookies()},
		Logger:    log.With("component", "session"),
		SignedOut: a.deny,
	}
	refreshes, err := openHandoff(ctx, cfg, a.tel.store, a.tel.metrics, log)
	if err != nil {
		return nil, err
	}
	if refreshes != nil {
		sessOpts.Handoff = refreshes
	}
	sessions, err := session.NewManager(sessOpts)
	if err != nil {
		return nil, err
	}
	if err := a.tel.addCaches(verifier, a.keyAuth, prov.provisioner, a.up); err != nil {
		return nil, err
	}
	a.ui, err = openUI(ctx, cfg, a.up, deps.Environ, log)
	if err != nil {
		return nil, err
	}
	a.self, err = a.newSelfService(ctx, dc)
	if err != nil {
		return nil, err
	}
	adminPages, err := a.newAdminPages()
	if err != nil {
		return nil, err
	}

	a.ln = deps.Listener
	if a.ln == nil {
		if a.ln, err = net.Listen("tcp", cfg.ListenAddr()); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
		}
	}
	a.stopping = append(a.stopping, func() { _ = a.ln.Close() })
	componentURL := cfg.WebComponentURL
	if componentURL == "" {
		componentURL = "https://descopecdn.com/npm/@descope/web-component@" + cfg.WebComponentVersion + "/dist/index.js"
	}
	redirect := cfg.RedirectURL
	if cfg.StaticPrefix != "" && redirect == "/" {
		redirect = cfg.StaticPrefix + "/"
	}
	routes, err := routepolicy.New(routepolicy.Options{AssistantSetup: cfg.AssistantSetup})
	if err != nil {
		return nil, err
	}
	a.handler, err = gateway.New(gateway.Options{
		LocalOrigins:    localOrigins(a.ln.Addr()),
		ProjectID:       cfg.ProjectID,
		FlowID:          cfg.FlowID,
		AdminFlowID:     cfg.AdminFlowID,
		RedirectURL:     redirect,
		WebComponentURL: componentURL,
		DescopeBaseURL:  baseURL,
		BaseStaticURL:   cfg.BaseStaticURL,
		BaseCDNURL:      cfg.BaseCDNURL,
		LoginCSPExtras:  cfg.LoginCSPExtras,
		LoginTitle:      cfg.LoginTitle,
		DescopeCookies:  cookieNames,
		DPoP:            dpopChecker,
		PublicURL:       cfg.PublicURL,
		StaticPrefix:    cfg.StaticPrefix,
		TrustedProxies:  cfg.TrustedProxies,
		// MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow lets non-admins reach API
		// routes the classifier does not know.
		AllowUnknownRoutes: cfg.UnknownRoutes == "allow",
		AdminOnly:          routes.AdminOnly,
		AdminUsername:      cfg.AdminUsername,
		RestrictUserList:   cfg.UserDirectory == "admins",
		Upstream:           a.up.url,
		UpstreamTransport:  a.up.transport,
		MaxJSONBodyBytes:   cfg.MaxJSONBodyBytes,
		Limits:             deps.Limits,
		Verifier:           verifier,
		Descope:            dc,
		Sessions:           sessions,
		Keys:               a.keyAuth,
		Policy:             a.policy,
		Signer:             signer,
		Events:             a.tel.sink,
		Admin:              adminPages,
		UI:                 uiFiles(a.ui),
		SelfService:        a.self.Handler(),
		Ready:              a.up.ready,
		KeysReady:          a.keys.Ready,
		MappingReady:       a.policy.MappingApplied,
		Logger:             log.With("component", "gateway"),
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Handler is the gateway's root handler (what Run serves).
func (a *App) Handler() http.Handler { return a.handler }

// Addr is the address Run serves on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Run serves the gateway and runs its background work — Descope's keys,
// the block list, revocations of self-service keys on other replicas, the
// role mapping and the sync job, the metrics listener,
// audit retention, and the supervised MLflow — under one errgroup until ctx
// is cancelled; then it drains requests (30 s at most) and stops MLflow.
// It returns nil after a clean shutdown. Call Close afterwards.
func (a *App) Run(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	log.Info("starting", "version", a.deps.Version, "listen", a.ln.Addr().String(), "external_mlflow", cfg.ExternalMLflow())
	srv := newServer(ctx, a.handler, log, serverLimits{})
	fmt.Fprintf(a.deps.Stdout, "mlflow-descope-auth listening on http://%s\n", a.ln.Addr())

	g, gctx := errgroup.WithContext(ctx)
	if err := a.tel.runBackground(gctx, g, cfg); err != nil {
		return err
	}
	a.tel.started(cfg, a.deps.Version)
	g.Go(func() error { return a.keys.Run(gctx) })
	g.Go(func() error { return a.deny.Run(gctx) })
	g.Go(func() error { return a.self.Run(gctx) })
	g.Go(func() error {
		if err := a.policy.ApplyMapping(gctx); err != nil || a.syncer == nil || gctx.Err() != nil {
			return err
		}
		return a.syncer.Run(gctx)
	})
	// MLflow outlives the HTTP server's drain: requests in flight at SIGTERM
	// still reach it. It stops once the server has shut down.
	mlctx, stopMLflow := context.WithCancel(context.WithoutCancel(gctx))
	defer stopMLflow()
	if a.up.run != nil {
		g.Go(func() error { return a.up.run(mlctx) })
	}
	if a.ui != nil {
		// Until a file's compressed copies are ready it is sent as it is.
		g.Go(func() error { _ = a.ui.Compress(gctx); return nil })
	}
	g.Go(func() error {
		if err := srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		stopMLflow()
		return err
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// Close stores every accepted audit event and closes what New opened. Call
// it after Run has returned (the HTTP server has drained, so nothing
// accepted is lost).
func (a *App) Close() {
	for i := len(a.stopping) - 1; i >= 0; i-- {
		a.stopping[i]()
	}
	a.stopping = nil
}

// Denylist is the list of signed-out tokens and blocked users the App
// refuses (shared with replicas through the audit database).
func (a *App) Denylist() *denylist.List { return a.deny }

// Names is the App's mapping from Descope user ID to MLflow username.
func (a *App) Names() *naming.Store { return a.names }

// AccessKeys is the App's access-key authenticator.
func (a *App) AccessKeys() *accesskey.Authenticator { return a.keyAuth }

// SelfService is the App's self-service keys and sign-in from code (what
// the gateway mounts and the admin page's key list uses).
func (a *App) SelfService() *selfservice.Service { return a.self }

// Metrics serves the App's metrics in the Prometheus text format (what the
// metrics listener serves).
func (a *App) Metrics() http.Handler { return a.tel.metrics.Handler() }

// newAdminPages builds the admin pages over the audit store, with what a
// user maps to in MLflow (the policy's explanation) and the sync status.
func (a *App) newAdminPages() (http.Handler, error) {
	o := admin.Options{
		Audit:      a.tel.store,
		Prefix:     a.cfg.StaticPrefix,
		Explain:    a.policy.Explain,
		SyncStatus: func() any { return usersync.Status(a.syncer, a.deny) },
		Names:      a.names.Find,
		Keys:       a.self,
		Logger:     a.log.With("component", "admin"),
	}
	if a.deps.AdminOptions != nil {
		a.deps.AdminOptions(&o)
	}
	return admin.New(o)
}

// uiFiles keeps a nil *ui.Files a nil interface.
func uiFiles(f *ui.Files) gateway.UIFiles {
	if f == nil {
		return nil
	}
	return f
}

func randomSecret() ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	return []byte(hex.EncodeToString(b[:])), nil
}
