package app

import (
	"context"
	"log/slog"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
)

// openDenylist keeps signed-out tokens and blocked users in the audit
// store's database, so that replicas sharing it (PostgreSQL) refuse them
// alike and a restarted gateway still does.
func openDenylist(ctx context.Context, store audit.Store, log *slog.Logger) (*denylist.List, error) {
	sb, ok := store.(audit.SQLBacked)
	if !ok {
		return denylist.Memory(), nil
	}
	db, dialect := sb.SQL()
	return denylist.New(ctx, denylist.Options{DB: db, Dialect: dialect, Logger: log.With("component", "denylist")})
}

// openDPoP remembers accepted DPoP proofs in this process and, when replicas
// can share the gateway database (PostgreSQL), there too, so that no replica
// accepts a proof another one already did. With SQLite the gateway is one
// process and its memory is the whole cache: a synchronous SQLite commit per
// proof would only add a disk flush.
func openDPoP(ctx context.Context, store audit.Store) (*dpop.Checker, error) {
	sb, ok := store.(audit.SQLBacked)
	if !ok {
		return dpop.New(dpop.Options{}), nil
	}
	db, dialect := sb.SQL()
	if dialect != "postgres" {
		return dpop.New(dpop.Options{}), nil
	}
	shared, err := dpop.NewShared(ctx, db, dialect)
	if err != nil {
		return nil, err
	}
	return dpop.New(dpop.Options{Shared: shared}), nil
}
