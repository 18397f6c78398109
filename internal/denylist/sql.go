package denylist

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// The tables live next to the audit log's, in the same database (and, on
// PostgreSQL, the same schema). Times are Unix microseconds. Tokens are kept
// as SHA-256 hashes: the database never holds a usable token.
var schema = map[string][]string{
	"sqlite": {
		`CREATE TABLE IF NOT EXISTS mda_signed_out_tokens (
			token_hash TEXT PRIMARY KEY,
			expires_at INTEGER NOT NULL,
			created_at INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS mda_signed_out_tokens_created ON mda_signed_out_tokens (created_at)`,
		`CREATE TABLE IF NOT EXISTS mda_blocked_users (
			user_id TEXT PRIMARY KEY,
			reason TEXT NOT NULL,
			since INTEGER NOT NULL)`,
	},
	"postgres": {
		`CREATE TABLE IF NOT EXISTS mda_signed_out_tokens (
			token_hash TEXT PRIMARY KEY,
			expires_at BIGINT NOT NULL,
			created_at BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS mda_signed_out_tokens_created ON mda_signed_out_tokens (created_at)`,
		`CREATE TABLE IF NOT EXISTS mda_blocked_users (
			user_id TEXT PRIMARY KEY,
			reason TEXT NOT NULL,
			since BIGINT NOT NULL)`,
	},
}

func (l *List) createTables(ctx context.Context) error {
	if err := sqlschema.Create(ctx, l.opts.DB, l.opts.Dialect, schema[l.opts.Dialect]...); err != nil {
		return fmt.Errorf("denylist: create tables: %w", err)
	}
	return nil
}

func (l *List) insertToken(ctx context.Context, key [32]byte, until, now time.Time) error {
	_, err := l.opts.DB.ExecContext(ctx,
		`INSERT INTO mda_signed_out_tokens (token_hash, expires_at, created_at) VALUES ($1, $2, $3)
		 ON CONFLICT (token_hash) DO NOTHING`,
		hex.EncodeToString(key[:]), until.UnixMicro(), now.UnixMicro())
	return err
}

func (l *List) upsertUser(ctx context.Context, userID, reason string, now time.Time) error {
	_, err := l.opts.DB.ExecContext(ctx,
		`INSERT INTO mda_blocked_users (user_id, reason, since) VALUES ($1, $2, $3)
		 ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason`,
		userID, reason, now.UnixMicro())
	return err
}

func (l *List) deleteUser(ctx context.Context, userID string) error {
	_, err := l.opts.DB.ExecContext(ctx, `DELETE FROM mda_blocked_users WHERE user_id = $1`, userID)
	return err
}

// prune deletes tokens that expired before before.
func (l *List) prune(ctx context.Context, before time.Time) error {
	if _, err := l.opts.DB.ExecContext(ctx, `DELETE FROM mda_signed_out_tokens WHERE expires_at < $1`, before.UnixMicro()); err != nil {
		return fmt.Errorf("denylist: prune: %w", err)
	}
	return nil
}
