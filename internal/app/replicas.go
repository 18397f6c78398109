package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/handoff"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/lease"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
)

// What replicas sharing the gateway's PostgreSQL database coordinate
// besides the block list: who runs the sync job (a lease), and refreshes of
// one session arriving at two replicas at once (a handoff). On SQLite (one
// replica) neither needs the database.

// openHandoff shares session refreshes between the replicas on PostgreSQL.
// The results are sealed with a key derived from the assertion secret, so
// it needs the configured one every replica shares (a generated secret
// differs per process). nil: refreshes are shared within this process only.
func openHandoff(ctx context.Context, cfg *config.Config, store audit.Store, m *metrics.Metrics, log *slog.Logger) (*handoff.Store, error) {
	sb, ok := store.(audit.SQLBacked)
	if !ok {
		return nil, nil
	}
	db, dialect := sb.SQL()
	if dialect != "postgres" {
		return nil, nil
	}
	if cfg.AssertionSecret == "" {
		log.Warn("refreshes are not shared between replicas: set MLFLOW_DESCOPE_ASSERTION_SECRET, the same on every replica")
		return nil, nil
	}
	h, err := handoff.New(ctx, handoff.Options{
		DB:     db,
		Secret: []byte(cfg.AssertionSecret.Reveal()),
		Logger: log.With("component", "handoff"),
	})
	if err != nil {
		return nil, err
	}
	err = m.AddRefreshHandoffs(func() (uint64, uint64, uint64) {
		s := h.Stats()
		return s.Refreshed, s.Shared, s.Fallbacks
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// newSyncLease makes the sync job run on one replica of those sharing a
// PostgreSQL database; on SQLite it always runs here. The lease lasts the
// sync interval, between 3 s and 15 s: when its holder dies another replica
// takes over within 1.25 × that, under two intervals, while renewing it
// costs one short statement every TTL/4.
func newSyncLease(ctx context.Context, store audit.Store, interval time.Duration, m *metrics.Metrics, log *slog.Logger) (*lease.Lease, error) {
	opts := lease.Options{Name: "usersync", TTL: min(max(interval, 3*time.Second), 15*time.Second),
		Logger: log.With("component", "lease")}
	if sb, ok := store.(audit.SQLBacked); ok {
		opts.DB, opts.Dialect = sb.SQL()
	}
	l, err := lease.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := m.AddSyncLease(l.Held); err != nil {
		return nil, err
	}
	return l, nil
}
