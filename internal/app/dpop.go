package app

import (
	"context"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
)

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
