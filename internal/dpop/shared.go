package dpop

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// Shared remembers accepted proofs in the gateway's database, so that a
// proof one replica accepted is refused by every other one for as long as
// it could pass the iat check (RFC 9449 §11.1). The Checker's own memory
// still refuses replays to the same replica without a database round trip.
//
// Proofs are kept as the SHA-256 of key thumbprint and jti, never the jti
// itself. Times are Unix microseconds.
type Shared struct {
	db        *sql.DB
	lastSweep atomic.Int64 // Unix microseconds of the last delete of expired rows
}

// sweepEvery is how often expired rows are deleted, at most.
const sweepEvery = time.Minute

// sharedSchema serves both dialects (SQLite gives BIGINT INTEGER affinity).
const sharedSchema = `CREATE TABLE IF NOT EXISTS mda_dpop_proofs (
	proof_key TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL)`

// NewShared creates the table if needed. dialect is "sqlite" or "postgres".
func NewShared(ctx context.Context, db *sql.DB, dialect string) (*Shared, error) {
	if db == nil || (dialect != "sqlite" && dialect != "postgres") {
		return nil, fmt.Errorf("dpop: shared replay cache: no database or unknown dialect %q", dialect)
	}
	if err := sqlschema.Create(ctx, db, dialect, sharedSchema); err != nil {
		return nil, fmt.Errorf("dpop: shared replay cache: %w", err)
	}
	return &Shared{db: db}, nil
}

// Remember records key until it expires and reports whether it was new: a
// key already there and not yet expired is a replay. One statement, atomic
// in both databases: an expired row is taken over, a live one left alone.
func (s *Shared) Remember(ctx context.Context, key [32]byte, until, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO mda_dpop_proofs (proof_key, expires_at) VALUES ($1, $2)
		 ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
		 WHERE mda_dpop_proofs.expires_at <= $3`,
		hex.EncodeToString(key[:]), until.UnixMicro(), now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("dpop: shared replay cache: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("dpop: shared replay cache: %w", err)
	}
	s.sweep(ctx, now)
	return n == 1, nil
}

// sweep deletes expired rows, at most once per sweepEvery per process. A
// failure only leaves rows for the next sweep.
func (s *Shared) sweep(ctx context.Context, now time.Time) {
	last := s.lastSweep.Load()
	if now.UnixMicro()-last < sweepEvery.Microseconds() || !s.lastSweep.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	_, _ = s.db.ExecContext(ctx, `DELETE FROM mda_dpop_proofs WHERE expires_at <= $1`, now.UnixMicro())
}
