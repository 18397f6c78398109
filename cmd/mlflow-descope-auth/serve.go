package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/logbuf"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// assertionTTL only has to cover the hop from the gateway to MLflow.
const assertionTTL = 60 * time.Second

// serve builds every dependency in order and runs them under one errgroup
// until ctx is cancelled, then drains requests and stops MLflow.
func serve(ctx context.Context, cfg *config.Config, environ []string, stdout, stderr io.Writer) error {
	// One write(2) per access-log line was ~7 % of the gateway's CPU at
	// 9,000 requests/s; lines now go out in batches, at least every 100 ms,
	// and the rest when serve returns (deferred first, so it runs last).
	logOut := logbuf.New(stderr, 64<<10, 100*time.Millisecond)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	log.Info("starting", "version", version, "listen", cfg.ListenAddr(), "external_mlflow", cfg.ExternalMLflow())
	tel, err := openTelemetry(ctx, cfg, stdout, log)
	if err != nil {
		return err
	}
	defer tel.close() // after the HTTP server has drained: nothing accepted is lost
	deny, err := tel.openDenylist(ctx)
	if err != nil {
		return err
	}

	baseURL := descope.BaseURL(cfg.ProjectID, cfg.BaseURI)
	dc, err := descope.New(descope.Options{
		BaseURL:       baseURL,
		ProjectID:     cfg.ProjectID,
		ManagementKey: descope.Secret(cfg.ManagementKey.Reveal()),
		HTTPClient:    tel.descopeHTTPClient(),
		Logger:        log.With("component", "descope"),
	})
	if err != nil {
		return err
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{Logger: log.With("component", "jwks")})
	if err != nil {
		return err
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{Audiences: cfg.Audiences})
	if err != nil {
		return err
	}

	secret := []byte(cfg.AssertionSecret.Reveal())
	if len(secret) == 0 {
		secret, err = randomSecret()
		if err != nil {
			return err
		}
	}
	signer, err := assertion.NewSigner(secret, assertionTTL, nil)
	if err != nil {
		return err
	}

	up, err := startUpstream(cfg, secret, environ, log)
	if err != nil {
		return err
	}
	mlflowAdmin, err := newMLflowAdmin(cfg, up.url, signer)
	if err != nil {
		return err
	}
	prov, err := newProvisioner(cfg, mlflowAdmin, dc, deny, log, tel.hooks())
	if err != nil {
		return err
	}
	keyAuth, err := newKeyAuthenticator(cfg, dc, verifier, prov, log, tel.hooks())
	if err != nil {
		return err
	}

	sessions, err := session.NewManager(session.Options{
		Verifier:  verifier,
		Refresher: dc,
		Cookies:   session.Cookies{Secure: cfg.SecureCookies()},
		Logger:    log.With("component", "session"),
		SignedOut: deny,
	})
	if err != nil {
		return err
	}
	if err := tel.addCaches(verifier, keyAuth, prov, up); err != nil {
		return err
	}
	selfService, err := newSelfService(ctx, cfg, dc, keyAuth, tel, log)
	if err != nil {
		return err
	}
	adminPages, err := newAdminPages(cfg, tel, log, prov.explain, prov.syncStatus, selfService)
	if err != nil {
		return err
	}
	componentURL := cfg.WebComponentURL
	if componentURL == "" {
		componentURL = "https://descopecdn.com/npm/@descope/web-component@" + cfg.WebComponentVersion + "/dist/index.js"
	}
	redirect := cfg.RedirectURL
	if cfg.StaticPrefix != "" && redirect == "/" {
		redirect = cfg.StaticPrefix + "/"
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	handler, err := gateway.New(gateway.Options{
		LocalOrigins:    localOrigins(ln.Addr()),
		ProjectID:       cfg.ProjectID,
		FlowID:          cfg.FlowID,
		AdminFlowID:     cfg.AdminFlowID,
		RedirectURL:     redirect,
		WebComponentURL: componentURL,
		DescopeBaseURL:  baseURL,
		PublicURL:       cfg.PublicURL,
		StaticPrefix:    cfg.StaticPrefix,
		TrustedProxies:  cfg.TrustedProxies,
		AdminRoles:      cfg.AdminRoles,
		IsAdmin:         prov.isAdmin,
		// MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow lets non-admins reach API
		// routes the classifier does not know.
		AllowUnknownRoutes: cfg.UnknownRoutes == "allow",
		AdminUsername:      cfg.AdminUsername,
		Upstream:           up.url,
		MaxJSONBodyBytes:   cfg.MaxJSONBodyBytes,
		Verifier:           verifier,
		Descope:            dc,
		Sessions:           sessions,
		Keys:               keyAuth,
		Provisioner:        prov,
		Blocked:            prov.blocked,
		WorkspaceAllowed:   workspaceCheck(cfg, prov),
		Signer:             signer,
		Observer:           tel.observer(),
		Admin:              adminPages,
		Ready:              up.ready,
		KeysReady:          keys.Ready,
		MappingReady:       prov.mappingReady,
		Logger:             log.With("component", "gateway"),
		SelfService:        selfService.Handler(),
	})
	if err != nil {
		ln.Close()
		return err
	}

	srv := newServer(ctx, handler, log, serverLimits{})
	fmt.Fprintf(stdout, "mlflow-descope-auth listening on http://%s\n", ln.Addr())

	g, gctx := errgroup.WithContext(ctx)
	if err := tel.runBackground(gctx, g, cfg); err != nil {
		ln.Close()
		return err
	}
	tel.started(cfg)
	g.Go(func() error { return keys.Run(gctx) })
	g.Go(func() error { return deny.Run(gctx) })
	g.Go(func() error { return selfService.Run(gctx) })
	g.Go(func() error { return prov.run(gctx, up) })
	// MLflow outlives the HTTP server's drain: requests in flight at SIGTERM
	// still reach it. It stops once the server has shut down.
	mlctx, stopMLflow := context.WithCancel(context.WithoutCancel(gctx))
	defer stopMLflow()
	if up.run != nil {
		g.Go(func() error { return up.run(mlctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
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
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

func randomSecret() ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	return []byte(hex.EncodeToString(b[:])), nil
}

// upstream is where MLflow is and how to know it answers.
type upstream struct {
	url   *url.URL
	run   func(ctx context.Context) error // nil in external mode
	ready func(ctx context.Context) error
	sup   *mlflow.Supervisor // nil in external mode
}

// healthCheck asks MLflow's /health endpoint.
func healthCheck(base *url.URL, prefix string) func(ctx context.Context) error {
	client := &http.Client{Timeout: 3 * time.Second}
	target := base.JoinPath(prefix, "health").String()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("mlflow health: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("mlflow health: status %d", resp.StatusCode)
		}
		return nil
	}
}

// localOrigins are the origins a browser on this machine may use to reach a
// gateway listening on addr, when no public URL is configured.
func localOrigins(addr net.Addr) []string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := strconv.Itoa(tcp.Port)
	out := []string{"http://" + net.JoinHostPort(tcp.IP.String(), port)}
	if tcp.IP.IsLoopback() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			o := "http://" + net.JoinHostPort(h, port)
			if o != out[0] {
				out = append(out, o)
			}
		}
	}
	return out
}
