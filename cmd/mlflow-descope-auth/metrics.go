package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
)

// newAdminPages builds the admin pages over the audit store. Explain and
// the sync status are added by the components that provide them.
func newAdminPages(cfg *config.Config, t *telemetry, log *slog.Logger, explain admin.ExplainFunc, syncStatus func() any, keys admin.KeyManager) (http.Handler, error) {
	return admin.New(admin.Options{
		Audit:      t.store,
		Prefix:     cfg.StaticPrefix,
		Explain:    explain,
		SyncStatus: syncStatus,
		Keys:       keys,
		Logger:     log.With("component", "admin"),
	})
}

// runBackground starts, under g, what telemetry runs beside the gateway:
// the metrics listener (unless MLFLOW_DESCOPE_METRICS_ADDR is empty) and
// audit retention (unless MLFLOW_DESCOPE_AUDIT_RETENTION is 0).
func (t *telemetry) runBackground(ctx context.Context, g *errgroup.Group, cfg *config.Config) error {
	if cfg.AuditRetention > 0 {
		p, err := audit.NewPruner(t.store, audit.PrunerOptions{MaxAge: cfg.AuditRetention, Logger: t.log})
		if err != nil {
			return err
		}
		g.Go(func() error { return p.Run(ctx) })
	}
	if cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsAddr, err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		t.log.Warn("metrics listener is not on loopback; keep it off the public network", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(t.log.Handler(), slog.LevelWarn)}
	t.log.Info("metrics listening", "addr", ln.Addr().String())
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return nil
}
