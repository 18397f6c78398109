package audit

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// migrations holds the schema, one directory per dialect. Files are applied
// in lexical order (0001_init.sql, 0002_...), each once, each in its own
// transaction, and recorded in audit_schema_migrations. The table name is
// prefixed because the gateway's other state may share the database.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrate applies the pending migrations in migrations/<dir>.
func migrate(ctx context.Context, db *sql.DB, d *dialect, dir string, now func() time.Time) error {
	names, err := fs.Glob(migrations, "migrations/"+dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("audit: migrate: %w", err)
	}
	sort.Strings(names)
	err = inMigrationTx(ctx, db, d, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
			version    TEXT PRIMARY KEY,
			applied_at TEXT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit: migrate: create audit_schema_migrations: %w", err)
	}
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("audit: migrate %s: %w", version, err)
		}
		err = inMigrationTx(ctx, db, d, func(tx *sql.Tx) error {
			var n int
			err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_schema_migrations WHERE version = $1", version).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO audit_schema_migrations (version, applied_at) VALUES ($1, $2)",
				version, now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return fmt.Errorf("audit: migrate %s: %w", version, err)
		}
	}
	return nil
}

// inMigrationTx runs fn in a transaction that first takes the dialect's
// migration lock, so that replicas starting together migrate one at a time.
func inMigrationTx(ctx context.Context, db *sql.DB, d *dialect, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.migrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
