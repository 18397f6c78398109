package app

import (
	"context"
	"log/slog"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
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
