// Package sqlschema creates the gateway's own tables in its database, one
// replica at a time.
//
// Replicas starting together on PostgreSQL would race on CREATE ... IF NOT
// EXISTS (PostgreSQL can fail with a unique violation in pg_type), so the
// statements run in one transaction under an advisory lock. One key for
// every package: creating tables is rare and short, and a single key cannot
// collide with another package's by accident.
package sqlschema

import (
	"context"
	"database/sql"
	"fmt"
)

// lockKey is the advisory lock that serializes table creation ("mda-sch").
const lockKey int64 = 0x6d64612d736368

// Create runs stmts in one transaction; on PostgreSQL (dialect "postgres")
// under the advisory lock. The statements must be idempotent (IF NOT
// EXISTS): every replica runs them at every start.
func Create(ctx context.Context, db *sql.DB, dialect string, stmts ...string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if dialect == "postgres" {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}
