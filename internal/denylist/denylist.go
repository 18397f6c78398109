// Package denylist keeps what every gateway replica must refuse, the tokens
// of signed-out sessions and the users the sync found disabled or deleted in
// Descope, in the gateway's database so that all replicas (and a restarted
// gateway) refuse them too.
//
// Checks never touch the database: they read memory, which Run refreshes
// from the database every Interval. Writes go to memory at once and to the
// database as they happen; a write the database refuses is kept and retried
// by Run, so a database outage delays sharing but never un-refuses anything
// on the replica that made the change.
package denylist

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a List.
type Options struct {
	// DB is the gateway's database; nil keeps the list in this process only.
	DB *sql.DB
	// Dialect is "sqlite" or "postgres" (required with DB).
	Dialect string
	// Interval between refreshes from the database (default 2 s): how long
	// another replica may still accept a signed-out session.
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// List is a denylist. It is safe for concurrent use.
type List struct {
	opts Options

	mu     sync.RWMutex
	tokens map[[32]byte]time.Time // token hash → when the token expires anyway
	users  map[string]string      // blocked user ID → reason
	// userChanges counts Block and Unblock calls, so that a refresh that
	// read the table before one of them does not undo it.
	userChanges uint64
	// ntokens is len(tokens): a request checks it before hashing its token,
	// and the list is nearly always empty.
	ntokens atomic.Int64

	// wmu orders the database writes: a write waits behind older ones the
	// database refused, or a replayed Unblock could undo a newer Block.
	wmu sync.Mutex
	// pending are the writes the database has not taken yet, oldest first,
	// retried by Refresh (guarded by wmu; npending mirrors its length).
	pending     []func(ctx context.Context) error
	npending    atomic.Int64
	lastRefresh time.Time
	lastPrune   time.Time
	// afterRead, if set (tests), runs in load between reading the tables
	// and applying what was read.
	afterRead func()
}

// maxTokens bounds the signed-out tokens kept in memory; expired ones go
// first.
const maxTokens = 100000

// refreshOverlap is how far back each refresh reads signed-out tokens, by the
// writing replica's clock: it covers clock skew between replicas and inserts
// that commit late.
const refreshOverlap = time.Minute

// New returns a List and, with a database, creates its tables if needed and
// loads what is there.
func New(ctx context.Context, opts Options) (*List, error) {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &List{opts: opts, tokens: map[[32]byte]time.Time{}, users: map[string]string{}}
	if opts.DB == nil {
		return l, nil
	}
	if opts.Dialect != "sqlite" && opts.Dialect != "postgres" {
		return nil, fmt.Errorf("denylist: unknown dialect %q", opts.Dialect)
	}
	if err := l.createTables(ctx); err != nil {
		return nil, err
	}
	if err := l.load(ctx, time.Time{}); err != nil {
		return nil, err
	}
	return l, nil
}

// Memory returns a List kept in this process only.
func Memory() *List {
	l, _ := New(context.Background(), Options{})
	return l
}

// Shared reports whether the list is kept in a database.
func (l *List) Shared() bool { return l.opts.DB != nil }

func hashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// RevokeToken refuses token from now until until (when it would expire
// anyway). The error, if any, is the database's: the token is refused here
// regardless, and the write is retried.
func (l *List) RevokeToken(ctx context.Context, token string, until time.Time) error {
	if token == "" {
		return nil
	}
	key := hashToken(token)
	now := l.opts.Now()
	l.mu.Lock()
	if len(l.tokens) >= maxTokens {
		l.dropExpiredLocked(now)
	}
	l.tokens[key] = until
	l.ntokens.Store(int64(len(l.tokens)))
	l.mu.Unlock()
	if l.opts.DB == nil {
		return nil
	}
	write := func(ctx context.Context) error { return l.insertToken(ctx, key, until, now) }
	return l.write(ctx, "revoke token", write)
}

// TokenRevoked reports whether token was signed out and has not expired.
func (l *List) TokenRevoked(token string) bool {
	if token == "" || l.ntokens.Load() == 0 {
		return false
	}
	key := hashToken(token)
	l.mu.RLock()
	until, ok := l.tokens[key]
	l.mu.RUnlock()
	// Expired entries stay until dropExpiredLocked: checks only read.
	return ok && l.opts.Now().Before(until)
}

// Block refuses userID from now on; added is false if it already was.
func (l *List) Block(ctx context.Context, userID, reason string) (added bool, err error) {
	l.mu.Lock()
	_, already := l.users[userID]
	l.users[userID] = reason
	l.userChanges++
	l.mu.Unlock()
	if l.opts.DB != nil {
		now := l.opts.Now()
		err = l.write(ctx, "block user", func(ctx context.Context) error { return l.upsertUser(ctx, userID, reason, now) })
	}
	return !already, err
}

// Unblock lets userID in again; removed is false if it was not blocked.
func (l *List) Unblock(ctx context.Context, userID string) (removed bool, err error) {
	l.mu.Lock()
	_, was := l.users[userID]
	delete(l.users, userID)
	l.userChanges++
	l.mu.Unlock()
	if l.opts.DB != nil {
		err = l.write(ctx, "unblock user", func(ctx context.Context) error { return l.deleteUser(ctx, userID) })
	}
	return was, err
}

// Blocked reports whether userID is blocked.
func (l *List) Blocked(userID string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.users[userID]
	return ok
}

// BlockedUsers returns the blocked user IDs with their reasons.
func (l *List) BlockedUsers() map[string]string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]string, len(l.users))
	for k, v := range l.users {
		out[k] = v
	}
	return out
}

// maxPending bounds the writes kept for a retry during a database outage;
// past it a change is refused here only, not shared.
const maxPending = 100000

// write runs w against the database in order: behind writes still waiting
// for a retry it only queues; a write the database refuses is kept for one.
func (l *List) write(ctx context.Context, op string, w func(context.Context) error) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if len(l.pending) >= maxPending {
		return fmt.Errorf("denylist: %s: %d writes already wait for the database; not shared", op, len(l.pending))
	}
	if len(l.pending) > 0 {
		l.queue(w)
		return fmt.Errorf("denylist: %s: queued behind %d writes the database has not taken", op, len(l.pending)-1)
	}
	if err := w(ctx); err != nil {
		l.queue(w)
		return fmt.Errorf("denylist: %s: %w", op, err)
	}
	return nil
}

// queue keeps w for a retry; wmu held.
func (l *List) queue(w func(context.Context) error) {
	l.pending = append(l.pending, w)
	l.npending.Store(int64(len(l.pending)))
}

// Run refreshes the list from the database every Interval until ctx ends.
// Without a database it returns at once.
func (l *List) Run(ctx context.Context) error {
	if l.opts.DB == nil {
		return nil
	}
	t := time.NewTicker(l.opts.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := l.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			l.opts.Logger.Warn("denylist refresh failed; this replica keeps what it knows", "err", err)
			failing = true
		case err == nil && failing:
			l.opts.Logger.Info("denylist refresh works again")
			failing = false
		}
	}
}

// Refresh retries pending writes, then reads what other replicas added or
// removed, and now and then deletes expired tokens from the database.
func (l *List) Refresh(ctx context.Context) error {
	if l.opts.DB == nil {
		return nil
	}
	l.mu.RLock()
	since := l.lastRefresh
	l.mu.RUnlock()
	var errs []error
	l.wmu.Lock()
	for len(l.pending) > 0 {
		if err := l.pending[0](ctx); err != nil {
			errs = append(errs, fmt.Errorf("denylist: retry write: %w", err))
			break
		}
		l.pending[0] = nil
		l.pending = l.pending[1:]
	}
	l.npending.Store(int64(len(l.pending)))
	l.wmu.Unlock()
	if len(errs) == 0 {
		if err := l.load(ctx, since); err != nil {
			errs = append(errs, err)
		}
	}
	now := l.opts.Now()
	if now.Sub(l.lastPrune) > time.Minute && len(errs) == 0 {
		if err := l.prune(ctx, now.Add(-refreshOverlap)); err != nil {
			errs = append(errs, err)
		} else {
			l.lastPrune = now
		}
	}
	return errors.Join(errs...)
}

// load reads tokens written since since (minus the overlap) and the whole
// blocked-user table, which replaces the in-memory one.
func (l *List) load(ctx context.Context, since time.Time) error {
	now := l.opts.Now()
	l.mu.Lock()
	changes := l.userChanges
	l.mu.Unlock()
	from := int64(0)
	if !since.IsZero() {
		from = since.Add(-refreshOverlap).UnixMicro()
	}
	rows, err := l.opts.DB.QueryContext(ctx,
		`SELECT token_hash, expires_at FROM mda_signed_out_tokens WHERE created_at >= $1 AND expires_at > $2`,
		from, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("denylist: read tokens: %w", err)
	}
	fresh := map[[32]byte]time.Time{}
	for rows.Next() {
		var h string
		var exp int64
		if err := rows.Scan(&h, &exp); err != nil {
			rows.Close()
			return fmt.Errorf("denylist: read tokens: %w", err)
		}
		var key [32]byte
		if b, err := hex.DecodeString(h); err == nil && len(b) == len(key) {
			copy(key[:], b)
			fresh[key] = time.UnixMicro(exp)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("denylist: read tokens: %w", err)
	}
	urows, err := l.opts.DB.QueryContext(ctx, `SELECT user_id, reason FROM mda_blocked_users`)
	if err != nil {
		return fmt.Errorf("denylist: read blocked users: %w", err)
	}
	users := map[string]string{}
	for urows.Next() {
		var id, reason string
		if err := urows.Scan(&id, &reason); err != nil {
			urows.Close()
			return fmt.Errorf("denylist: read blocked users: %w", err)
		}
		users[id] = reason
	}
	urows.Close()
	if err := urows.Err(); err != nil {
		return fmt.Errorf("denylist: read blocked users: %w", err)
	}
	if l.afterRead != nil {
		l.afterRead()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tokens)+len(fresh) > maxTokens {
		l.dropExpiredLocked(now)
	}
	for k, v := range fresh {
		l.tokens[k] = v
	}
	l.ntokens.Store(int64(len(l.tokens)))
	// A block or unblock still waiting for the database, or made while
	// this refresh was reading, stays as this replica decided until the
	// next refresh; otherwise the database is the truth.
	if l.npending.Load() == 0 && l.userChanges == changes {
		l.users = users
	}
	l.lastRefresh = now
	return nil
}

func (l *List) dropExpiredLocked(now time.Time) {
	for k, exp := range l.tokens {
		if !now.Before(exp) {
			delete(l.tokens, k)
		}
	}
	l.ntokens.Store(int64(len(l.tokens)))
}
