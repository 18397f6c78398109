package lease

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// The table lives next to the audit log's, in the same PostgreSQL database:
// one row per lease, whoever holds it. Times are the database's.
const schema = `CREATE TABLE IF NOT EXISTS mda_leases (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	acquired_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL)`

func createTable(ctx context.Context, db *sql.DB) error {
	if err := sqlschema.Create(ctx, db, "postgres", schema); err != nil {
		return fmt.Errorf("lease: create table: %w", err)
	}
	return nil
}

type leaseRow struct {
	holder         string
	since, expires time.Time
}

// tryAcquire takes the lease if it is free or expired, renews it if holder
// has it, and otherwise leaves it; it returns the row as it is afterwards
// and whether holder has it. One statement, so two replicas cannot both
// take it: the row's lock orders them, and the second sees the first's
// unexpired lease.
func tryAcquire(ctx context.Context, db *sql.DB, name, holder string, ttl time.Duration) (leaseRow, bool, error) {
	var r leaseRow
	err := db.QueryRowContext(ctx,
		`INSERT INTO mda_leases AS l (name, holder, acquired_at, expires_at)
		 VALUES ($1, $2, now(), now() + $3::float8 * interval '1 millisecond')
		 ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder,
			expires_at = excluded.expires_at,
			acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE excluded.acquired_at END
		 WHERE l.holder = excluded.holder OR l.expires_at < now()
		 RETURNING holder, acquired_at, expires_at`,
		name, holder, ttl.Milliseconds()).Scan(&r.holder, &r.since, &r.expires)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return leaseRow{}, false, fmt.Errorf("lease: acquire %s: %w", name, err)
	}
	// Held by another replica.
	err = db.QueryRowContext(ctx, `SELECT holder, acquired_at, expires_at FROM mda_leases WHERE name = $1`, name).
		Scan(&r.holder, &r.since, &r.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return leaseRow{}, false, nil // released in between
	}
	if err != nil {
		return leaseRow{}, false, fmt.Errorf("lease: read %s: %w", name, err)
	}
	return r, false, nil
}

// release deletes the lease if holder has it.
func release(ctx context.Context, db *sql.DB, name, holder string) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM mda_leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("lease: release %s: %w", name, err)
	}
	return nil
}
