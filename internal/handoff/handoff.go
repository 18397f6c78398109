// Package handoff lets gateway replicas share the outcome of a session
// refresh, so that two replicas receiving the same expired session at the
// same moment do not both spend its refresh token. With refresh-token
// rotation Descope accepts a refresh token once: the replica that came
// second used to be refused, and its user had to sign in again.
//
// The first replica to ask for a refresh token takes a row lock on it in
// the gateway's PostgreSQL database (one row per refresh token, keyed by
// its SHA-256 hash), refreshes at Descope while holding the lock, stores
// the new tokens in the row and commits. A replica asking for the same
// token meanwhile waits on the lock, then reads the stored tokens instead
// of refreshing. If the first replica fails or dies, its transaction ends
// (PostgreSQL ends one idle for HoldTimeout) and the next waiter refreshes.
//
// The stored tokens are sealed with AES-256-GCM under a key derived (HKDF)
// from a secret every replica shares and from the old refresh token itself:
// the database alone, or the database and the shared secret, open nothing;
// only someone already holding the old refresh token and the secret can.
// Rows are handed out for TTL (30 s, as long as a replica remembers a
// refresh itself), then deleted.
package handoff

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

// Tokens are what a refresh produced.
type Tokens struct {
	Session string
	// Refresh is the refresh token to keep: the rotated one, or the one
	// presented when Descope did not rotate it.
	Refresh string
	// Until is when Session expires; the result is not handed out after.
	Until time.Time
}

// Options configures a Store.
type Options struct {
	// DB is the gateway's PostgreSQL database (required).
	DB *sql.DB
	// Secret is shared by every replica (at least 32 bytes); results sealed
	// under another secret cannot be opened.
	Secret []byte
	// TTL is how long a result is handed out to other replicas (default
	// 30 s).
	TTL time.Duration
	// HoldTimeout bounds how long a replica may hold a refresh token's lock
	// without talking to the database (default 20 s): PostgreSQL then ends
	// its transaction, so a replica that died or lost the network mid-refresh
	// delays the others by at most this much. It must exceed the time a
	// refresh at Descope may take.
	HoldTimeout time.Duration
	// MaxConcurrent bounds the transactions open at once (default 4): each
	// holds a connection of the pool the audit log shares.
	MaxConcurrent int
	Logger        *slog.Logger
	Now           func() time.Time
}

// Store shares refresh outcomes through the database. It is safe for
// concurrent use.
type Store struct {
	opts   Options
	master []byte
	slots  chan struct{}

	mu        sync.Mutex
	lastPrune time.Time

	refreshed atomic.Uint64
	shared    atomic.Uint64
	fallbacks atomic.Uint64
}

// Stats count Do's outcomes since start.
type Stats struct {
	// Refreshed: this replica refreshed at Descope and stored the result.
	Refreshed uint64
	// Shared: another replica's stored result was used.
	Shared uint64
	// Fallbacks: the database could not be used; refreshed without sharing.
	Fallbacks uint64
}

// New returns a Store and creates its table if needed.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("handoff: a database is required")
	}
	if len(opts.Secret) < 32 {
		return nil, errors.New("handoff: the shared secret must be at least 32 bytes")
	}
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.HoldTimeout <= 0 {
		opts.HoldTimeout = 20 * time.Second
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	master, err := deriveMaster(opts.Secret)
	if err != nil {
		return nil, err
	}
	s := &Store{opts: opts, master: master, slots: make(chan struct{}, opts.MaxConcurrent)}
	if err := s.createTable(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Stats returns the outcome counts.
func (s *Store) Stats() Stats {
	return Stats{Refreshed: s.refreshed.Load(), Shared: s.shared.Load(), Fallbacks: s.fallbacks.Load()}
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Do returns the tokens that replace refreshJWT: those another replica
// stored for it within TTL, or else those refresh returns, which it stores
// for the others. Only one replica at a time runs refresh for one token;
// the others wait for its result. Errors from refresh are returned as they
// are (nothing is stored, and the next replica asking refreshes itself).
// When the database cannot be used, Do logs it and calls refresh without
// sharing, as a single replica would.
func (s *Store) Do(ctx context.Context, refreshJWT string, refresh func(context.Context) (Tokens, error)) (Tokens, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return Tokens{}, fmt.Errorf("handoff: %w", ctx.Err())
	}
	defer func() { <-s.slots }()
	key := hashToken(refreshJWT)
	tx, row, err := s.lock(ctx, key)
	if err != nil {
		s.fallbacks.Add(1)
		s.opts.Logger.Warn("refresh not shared with other replicas: database unavailable", "err", err)
		return refresh(ctx)
	}
	defer tx.Rollback() // a no-op after Commit; otherwise lets the next waiter refresh
	now := s.opts.Now()
	if row.sealed != nil && now.Before(row.expires) {
		t, err := s.open(refreshJWT, key, row.sealed)
		if err == nil {
			if err := tx.Commit(); err != nil {
				s.opts.Logger.Debug("handoff: commit after read", "err", err)
			}
			s.shared.Add(1)
			return t, nil
		}
		// Sealed under another secret (replicas configured differently)
		// or damaged: refreshing is all that is left.
		s.opts.Logger.Warn("cannot open another replica's refresh result; refreshing here", "err", err)
	}
	t, err := refresh(ctx)
	if err != nil {
		return Tokens{}, err
	}
	s.refreshed.Add(1)
	if err := s.store(ctx, tx, key, refreshJWT, t, now); err != nil {
		// This request has its tokens; other replicas refresh themselves.
		s.opts.Logger.Warn("refresh result not shared with other replicas", "err", err)
		return t, nil
	}
	s.prune(ctx, now)
	return t, nil
}

// Forget deletes every stored result for the given tokens, whether they
// were the tokens presented or the tokens handed out: at sign-out, old
// cookies must not fetch the signed-out tokens from another replica.
func (s *Store) Forget(ctx context.Context, tokens ...string) error {
	var errs []error
	for _, t := range tokens {
		if t == "" {
			continue
		}
		if err := s.forget(ctx, hashToken(t)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// prune deletes expired rows, at most once a minute per replica.
func (s *Store) prune(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastPrune) >= time.Minute
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if err := s.deleteExpired(ctx, now); err != nil {
		s.opts.Logger.Warn("handoff: prune", "err", err)
	}
}
