package selfservice

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
)

// The grants of sign-ins from code (loopback codes and device codes) and the
// keys revoked through the pages live in the gateway's database, next to the
// audit log, so that every replica sharing it (PostgreSQL) sees the same
// state: a code issued by one replica can be redeemed at another, and a code
// is redeemed once however many replicas are asked at the same moment (each
// state change is a single conditional UPDATE). Codes are stored as SHA-256
// hashes only; the database never holds a usable code, and never a key.
// Times are Unix microseconds.
//
// One text for both dialects: SQLite gives BIGINT columns INTEGER affinity.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS mda_signin_grants (
		grant_hash TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		user_code_hash TEXT,
		challenge TEXT NOT NULL,
		redirect_uri TEXT NOT NULL,
		client_name TEXT NOT NULL,
		client_ip TEXT NOT NULL,
		user_id TEXT NOT NULL,
		status TEXT NOT NULL,
		expires_days INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		poll_interval BIGINT NOT NULL,
		last_poll_at BIGINT NOT NULL)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS mda_signin_grants_user_code ON mda_signin_grants (user_code_hash)`,
	`CREATE INDEX IF NOT EXISTS mda_signin_grants_expires ON mda_signin_grants (expires_at)`,
	`CREATE TABLE IF NOT EXISTS mda_revoked_keys (
		key_id TEXT PRIMARY KEY,
		revoked_at BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS mda_revoked_keys_at ON mda_revoked_keys (revoked_at)`,
}

// Grant kinds and statuses.
const (
	kindLoopback = "loopback"
	kindDevice   = "device"

	statusPending  = "pending"  // device: waiting for the user to approve
	statusApproved = "approved" // may be redeemed once
	statusDenied   = "denied"   // the user said no
	statusUsed     = "used"     // redeemed (or burnt by a failed redemption)
)

// errNoGrant: no grant has this code.
var errNoGrant = errors.New("selfservice: no such code")

// grant is one sign-in from code, as stored.
type grant struct {
	Kind         string
	Challenge    string // loopback: the PKCE S256 challenge
	RedirectURI  string // loopback
	ClientName   string // the machine, as the client named itself (sanitized)
	ClientIP     string // where the client asked from
	UserID       string // who approved
	Status       string
	ExpiresDays  int
	Created      time.Time
	Expires      time.Time
	PollInterval time.Duration // device
	LastPoll     time.Time     // device
}

// store keeps grants and revocations in the gateway's database.
type store struct {
	db      *sql.DB
	dialect string
}

func newStore(ctx context.Context, db *sql.DB, dialect string) (*store, error) {
	if db == nil {
		return nil, errors.New("selfservice: a database is required")
	}
	if dialect != "sqlite" && dialect != "postgres" {
		return nil, fmt.Errorf("selfservice: unknown dialect %q", dialect)
	}
	s := &store{db: db, dialect: dialect}
	if err := s.createTables(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) createTables(ctx context.Context) error {
	if err := sqlschema.Create(ctx, s.db, s.dialect, schema...); err != nil {
		return fmt.Errorf("selfservice: create tables: %w", err)
	}
	return nil
}

// insert stores a new grant. userCodeHash is "" for a loopback grant. A
// user code already taken is an error (the caller draws another).
func (s *store) insert(ctx context.Context, hash, userCodeHash string, g grant) error {
	var uc any
	if userCodeHash != "" {
		uc = userCodeHash
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO mda_signin_grants (grant_hash, kind, user_code_hash, challenge, redirect_uri,
		client_name, client_ip, user_id, status, expires_days, created_at, expires_at, poll_interval, last_poll_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		hash, g.Kind, uc, g.Challenge, g.RedirectURI, g.ClientName, g.ClientIP, g.UserID, g.Status, g.ExpiresDays,
		g.Created.UnixMicro(), g.Expires.UnixMicro(), int64(g.PollInterval/time.Second), micro(g.LastPoll))
	if err != nil {
		return fmt.Errorf("selfservice: store code: %w", err)
	}
	return nil
}

const grantColumns = `grant_hash, kind, challenge, redirect_uri, client_name, client_ip, user_id, status, expires_days,
	created_at, expires_at, poll_interval, last_poll_at`

func scanGrant(row interface{ Scan(...any) error }) (string, grant, error) {
	var g grant
	var hash string
	var created, expires, interval, lastPoll int64
	err := row.Scan(&hash, &g.Kind, &g.Challenge, &g.RedirectURI, &g.ClientName, &g.ClientIP, &g.UserID, &g.Status,
		&g.ExpiresDays, &created, &expires, &interval, &lastPoll)
	if errors.Is(err, sql.ErrNoRows) {
		return "", grant{}, errNoGrant
	}
	if err != nil {
		return "", grant{}, fmt.Errorf("selfservice: read code: %w", err)
	}
	g.Created, g.Expires = time.UnixMicro(created), time.UnixMicro(expires)
	g.PollInterval = time.Duration(interval) * time.Second
	if lastPoll > 0 {
		g.LastPoll = time.UnixMicro(lastPoll)
	}
	return hash, g, nil
}

// get loads a grant by its code's hash; errNoGrant if there is none.
func (s *store) get(ctx context.Context, hash string) (grant, error) {
	_, g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM mda_signin_grants WHERE grant_hash = $1`, hash))
	return g, err
}

// byUserCode loads a device grant by its user code's hash.
func (s *store) byUserCode(ctx context.Context, userCodeHash string) (string, grant, error) {
	return scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM mda_signin_grants
		WHERE user_code_hash = $1 AND kind = $2`, userCodeHash, kindDevice))
}

// claim turns an approved, unexpired grant of kind into a used one. Only
// one caller, on any replica, ever gets true for a grant.
func (s *store) claim(ctx context.Context, hash, kind string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE mda_signin_grants SET status = $1
		WHERE grant_hash = $2 AND kind = $3 AND status = $4 AND expires_at > $5`,
		statusUsed, hash, kind, statusApproved, now.UnixMicro())
	return affectedOne(res, err, "claim code")
}

// release gives a claimed grant back when the key could not be made for a
// reason that is not the client's (Descope unavailable), so the client can
// try again before the code expires.
func (s *store) release(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE mda_signin_grants SET status = $1 WHERE grant_hash = $2 AND status = $3`,
		statusApproved, hash, statusUsed)
	if err != nil {
		return fmt.Errorf("selfservice: release code: %w", err)
	}
	return nil
}

// decide approves (for userID) or denies a pending, unexpired device grant.
func (s *store) decide(ctx context.Context, hash, userID, status string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE mda_signin_grants SET status = $1, user_id = $2
		WHERE grant_hash = $3 AND kind = $4 AND status = $5 AND expires_at > $6`,
		status, userID, hash, kindDevice, statusPending, now.UnixMicro())
	return affectedOne(res, err, "decide code")
}

// poll records a poll of a device grant if the last accepted one is at
// least the grant's interval ago. When it is not, the interval grows by
// slowDownStep (up to maxPollInterval), as RFC 8628 asks of the client too,
// and poll returns false.
func (s *store) poll(ctx context.Context, hash string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE mda_signin_grants SET last_poll_at = $1
		WHERE grant_hash = $2 AND kind = $3 AND last_poll_at + poll_interval * 1000000 <= $1`,
		now.UnixMicro(), hash, kindDevice)
	ok, err := affectedOne(res, err, "poll code")
	if err != nil || ok {
		return ok, err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE mda_signin_grants SET poll_interval = poll_interval + $1
		WHERE grant_hash = $2 AND kind = $3 AND poll_interval < $4`,
		int64(slowDownStep/time.Second), hash, kindDevice, int64(maxPollInterval/time.Second))
	if err != nil {
		return false, fmt.Errorf("selfservice: slow down: %w", err)
	}
	return false, nil
}

// revokeKey records that a key was revoked here, for the other replicas.
func (s *store) revokeKey(ctx context.Context, keyID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO mda_revoked_keys (key_id, revoked_at) VALUES ($1, $2)
		ON CONFLICT (key_id) DO UPDATE SET revoked_at = excluded.revoked_at`, keyID, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("selfservice: record revocation: %w", err)
	}
	return nil
}

// revokedSince lists the keys revoked at or after since.
func (s *store) revokedSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key_id FROM mda_revoked_keys WHERE revoked_at >= $1`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("selfservice: read revocations: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("selfservice: read revocations: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("selfservice: read revocations: %w", err)
	}
	return ids, nil
}

// prune deletes grants that expired before before, and revocations older
// than it (by then every replica's caches have forgotten the key anyway).
func (s *store) prune(ctx context.Context, grantsBefore, revocationsBefore time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM mda_signin_grants WHERE expires_at < $1`, grantsBefore.UnixMicro()); err != nil {
		return fmt.Errorf("selfservice: prune codes: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM mda_revoked_keys WHERE revoked_at < $1`, revocationsBefore.UnixMicro()); err != nil {
		return fmt.Errorf("selfservice: prune revocations: %w", err)
	}
	return nil
}

func affectedOne(res sql.Result, err error, op string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("selfservice: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("selfservice: %s: %w", op, err)
	}
	return n == 1, nil
}

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// lockUser serializes creating keys for one user across replicas sharing a
// PostgreSQL database: a transaction-scoped advisory lock, held until
// unlock, keyed by the user ID's hash. Without it two replicas could both
// count a user one key under the limit and both create one. With SQLite the
// gateway is one process and Service.createMu is the whole lock (taking
// SQLite's write lock across a call to Descope would stall the audit log).
func (s *store) lockUser(ctx context.Context, userID string) (unlock func(), err error) {
	if s.dialect != "postgres" {
		return func() {}, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("selfservice: lock user: %w", err)
	}
	sum := sha256.Sum256([]byte("mda-keys\x00" + userID))
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(binary.BigEndian.Uint64(sum[:8]))); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("selfservice: lock user: %w", err)
	}
	return func() { tx.Rollback() }, nil
}
