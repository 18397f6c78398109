package handoff

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// The table lives next to the audit log's, in the same PostgreSQL database.
// A row exists while a refresh of token_hash runs (uncommitted, sealed NULL)
// and for TTL after it (sealed set). Tokens are never stored in clear:
// token_hash, session_hash and refresh_hash are SHA-256 hashes, sealed is
// AES-256-GCM. Times are Unix microseconds. The table stays small (rows live
// TTL, expired ones are pruned), so sign-out's lookup by the handed-out
// tokens' hashes needs no index.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS mda_refresh_handoffs (
		token_hash TEXT PRIMARY KEY,
		sealed BYTEA,
		session_hash TEXT,
		refresh_hash TEXT,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL)`,
}

func (s *Store) createTable(ctx context.Context) error {
	if err := sqlschema.Create(ctx, s.opts.DB, "postgres", schema...); err != nil {
		return fmt.Errorf("handoff: create table: %w", err)
	}
	return nil
}

type row struct {
	sealed  []byte
	expires time.Time
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// lock opens a transaction holding the row lock of key, creating the row if
// there is none. It waits while another replica holds it (refreshing), at
// most HoldTimeout + 5 s. The transaction is ended by PostgreSQL if this
// replica then leaves it idle for HoldTimeout.
func (s *Store) lock(ctx context.Context, key string) (*sql.Tx, row, error) {
	tx, err := s.opts.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, row{}, fmt.Errorf("handoff: begin: %w", err)
	}
	var r row
	err = func() error {
		if _, err := tx.ExecContext(ctx,
			`SELECT set_config('idle_in_transaction_session_timeout', $1, true), set_config('lock_timeout', $2, true)`,
			millis(s.opts.HoldTimeout), millis(s.opts.HoldTimeout+5*time.Second)); err != nil {
			return fmt.Errorf("handoff: set timeouts: %w", err)
		}
		// Waits while another replica's insert of the same row is
		// uncommitted; does nothing if the row exists.
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO mda_refresh_handoffs (token_hash, expires_at, created_at) VALUES ($1, 0, $2)
			 ON CONFLICT (token_hash) DO NOTHING`, key, s.opts.Now().UnixMicro()); err != nil {
			return fmt.Errorf("handoff: claim: %w", err)
		}
		var exp int64
		if err := tx.QueryRowContext(ctx,
			`SELECT sealed, expires_at FROM mda_refresh_handoffs WHERE token_hash = $1 FOR UPDATE`, key).
			Scan(&r.sealed, &exp); err != nil {
			return fmt.Errorf("handoff: lock: %w", err)
		}
		r.expires = time.UnixMicro(exp)
		return nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return nil, row{}, err
	}
	return tx, r, nil
}

// store seals t into key's row and commits, releasing the waiters.
func (s *Store) store(ctx context.Context, tx *sql.Tx, key, refreshJWT string, t Tokens, now time.Time) error {
	sealed, err := s.seal(refreshJWT, key, t)
	if err != nil {
		return err
	}
	expires := now.Add(s.opts.TTL)
	if !t.Until.IsZero() && t.Until.Before(expires) {
		expires = t.Until
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE mda_refresh_handoffs SET sealed = $2, session_hash = $3, refresh_hash = $4, expires_at = $5, created_at = $6
		 WHERE token_hash = $1`,
		key, sealed, hashToken(t.Session), hashToken(t.Refresh), expires.UnixMicro(), now.UnixMicro()); err != nil {
		return fmt.Errorf("handoff: store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("handoff: store: commit: %w", err)
	}
	return nil
}

// forget deletes the rows of a token presented (token_hash) or handed out
// (session_hash, refresh_hash). It waits for a refresh of that row running
// on another replica, so that its result is deleted too.
func (s *Store) forget(ctx context.Context, h string) error {
	if _, err := s.opts.DB.ExecContext(ctx,
		`DELETE FROM mda_refresh_handoffs WHERE token_hash = $1 OR session_hash = $1 OR refresh_hash = $1`, h); err != nil {
		return fmt.Errorf("handoff: forget: %w", err)
	}
	return nil
}

// deleteExpired deletes rows no longer handed out, skipping any a refresh
// holds (it updates them).
func (s *Store) deleteExpired(ctx context.Context, now time.Time) error {
	_, err := s.opts.DB.ExecContext(ctx,
		`DELETE FROM mda_refresh_handoffs WHERE token_hash IN (
			SELECT token_hash FROM mda_refresh_handoffs WHERE expires_at < $1 FOR UPDATE SKIP LOCKED)`,
		now.UnixMicro())
	if err != nil {
		return fmt.Errorf("handoff: prune: %w", err)
	}
	return nil
}
