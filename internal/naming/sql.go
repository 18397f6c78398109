package naming

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// The mapping lives next to the audit log and the block list, in the same
// database (and, on PostgreSQL, the same schema), so every replica sees the
// same names. user_id and username are each unique: the database itself
// refuses a second name for one user and one name for two users, whatever
// replicas do at the same moment. skeleton (Skeleton of the username) is
// indexed, not unique: names seeded from MLflow may look alike, and new
// names are checked against it under the creation lock. Times are Unix
// microseconds.
//
// One text for both dialects: SQLite gives BIGINT columns INTEGER affinity.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS mda_usernames (
		user_id        TEXT PRIMARY KEY,
		username       TEXT NOT NULL UNIQUE,
		skeleton       TEXT NOT NULL,
		login_id       TEXT NOT NULL DEFAULT '',
		email          TEXT NOT NULL DEFAULT '',
		first_login_id TEXT NOT NULL DEFAULT '',
		source         TEXT NOT NULL,
		reason         TEXT NOT NULL DEFAULT '',
		created_at     BIGINT NOT NULL,
		updated_at     BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS mda_usernames_skeleton ON mda_usernames (skeleton)`,
	`CREATE INDEX IF NOT EXISTS mda_usernames_login_id ON mda_usernames (login_id)`,
	`CREATE TABLE IF NOT EXISTS mda_state (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL)`,
}

// assignLockKey is the advisory lock (PostgreSQL) held while a new name is
// chosen and inserted, so that two replicas cannot each decide that two
// look-alike names are free ("name1").
const assignLockKey = 0x6e616d6531

// seededState names the mda_state row written once the seed from MLflow's
// users has run.
const seededState = "usernames_seeded"

const columns = `user_id, username, login_id, email, first_login_id, source, reason, created_at, updated_at`

func (s *Store) createTables(ctx context.Context) error {
	if err := sqlschema.Create(ctx, s.opts.DB, s.opts.Dialect, schema...); err != nil {
		return fmt.Errorf("naming: create tables: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (Record, error) {
	var r Record
	var created, updated int64
	err := row.Scan(&r.UserID, &r.Username, &r.LoginID, &r.Email, &r.FirstLoginID, &r.Source, &r.Reason, &created, &updated)
	r.Created, r.Updated = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return r, err
}

// load reads userID's mapping; found is false when there is none.
func (s *Store) load(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, userID string) (Record, bool, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+columns+` FROM mda_usernames WHERE user_id = $1`, userID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("%w: load %q: %w", ErrUnavailable, userID, err)
	}
	return r, true, nil
}

// holder returns the user ID whose name is name, or whose name looks like
// it (same skeleton); "" if none.
func (s *Store) holder(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, name string) (userID, username string, err error) {
	err = q.QueryRowContext(ctx,
		`SELECT user_id, username FROM mda_usernames WHERE username = $1 OR skeleton = $2 ORDER BY username = $1 DESC LIMIT 1`,
		name, Skeleton(name)).Scan(&userID, &username)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: look up %q: %w", ErrUnavailable, name, err)
	}
	return userID, username, nil
}

// insert adds r unless its user ID or username is taken; it reports whether
// the row was added.
func (s *Store) insert(ctx context.Context, q interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, r Record) (bool, error) {
	res, err := q.ExecContext(ctx,
		`INSERT INTO mda_usernames (user_id, username, skeleton, login_id, email, first_login_id, source, reason, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		r.UserID, r.Username, Skeleton(r.Username), r.LoginID, r.Email, r.FirstLoginID, r.Source, r.Reason,
		r.Created.UnixMicro(), r.Updated.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("%w: insert %q: %w", ErrUnavailable, r.Username, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%w: insert %q: %w", ErrUnavailable, r.Username, err)
	}
	return n == 1, nil
}

// lockAssign takes the creation lock in tx (PostgreSQL; SQLite's write
// transactions are exclusive already: the gateway's database is opened
// with _txlock=immediate).
func (s *Store) lockAssign(ctx context.Context, tx *sql.Tx) error {
	if s.opts.Dialect != "postgres" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(assignLockKey)); err != nil {
		return fmt.Errorf("%w: lock: %w", ErrUnavailable, err)
	}
	return nil
}
