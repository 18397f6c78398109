// Package lease makes a job run on one gateway replica at a time: the
// replicas sharing a PostgreSQL database compete for a lease row, and only
// the holder runs the job. The holder renews the row every TTL/4; a replica
// that dies or loses the database stops renewing, and another takes over
// once the row has expired (within TTL×5/4 of the last renewal). The holder
// itself stops the job when it has not renewed for TTL×3/4 by its own
// clock, before anyone else can take the row: two replicas never run the
// job at once. Expiry is judged by the database's clock alone, so the
// replicas' clocks need not agree.
//
// Without a shared database (SQLite: a single replica) the lease is always
// held.
package lease

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Lease.
type Options struct {
	// DB is the gateway's database; a lease row is used on PostgreSQL
	// only. nil or SQLite: the lease is always held here.
	DB *sql.DB
	// Dialect is "sqlite" or "postgres" (with DB).
	Dialect string
	// Name of the lease (required), e.g. "usersync".
	Name string
	// Holder names this replica (default: Holder()).
	Holder string
	// TTL is how long a lease lasts without renewal (default 15 s).
	TTL    time.Duration
	Logger *slog.Logger
}

// Lease is one named lease as this replica sees it.
type Lease struct {
	opts Options
	held atomic.Bool

	mu     sync.Mutex
	status Status
}

// Status is what the replica last saw of the lease.
type Status struct {
	// Shared is false without a shared database: the job runs here.
	Shared bool `json:"shared"`
	// Self is this replica's name.
	Self string `json:"this_replica"`
	// Holder is the replica holding the lease ("" if none), as of Checked.
	Holder string `json:"holder"`
	// Here is true while this replica holds the lease.
	Here bool `json:"held_here"`
	// Since is when the holder took the lease (database clock).
	Since time.Time `json:"holder_since,omitzero"`
	// Expires is when the lease ends unless renewed (database clock).
	Expires time.Time `json:"expires,omitzero"`
	// Checked is when this replica last read the row (its own clock).
	Checked time.Time `json:"checked,omitzero"`
	// Error is the last failure to reach the database, if the last
	// attempt failed.
	Error string `json:"error,omitempty"`
}

// Holder returns a name for this replica: the host name (a pod's name in
// Kubernetes) and a random suffix, unique even among containers sharing a
// host name.
func Holder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gateway"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// New returns a Lease and, on PostgreSQL, creates its table if needed.
func New(ctx context.Context, opts Options) (*Lease, error) {
	if opts.Name == "" {
		return nil, errors.New("lease: a name is required")
	}
	if opts.Holder == "" {
		opts.Holder = Holder()
	}
	if opts.TTL <= 0 {
		opts.TTL = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DB != nil && opts.Dialect != "postgres" && opts.Dialect != "sqlite" {
		return nil, fmt.Errorf("lease: unknown dialect %q", opts.Dialect)
	}
	if opts.Dialect != "postgres" {
		opts.DB = nil
	}
	l := &Lease{opts: opts, status: Status{Shared: opts.DB != nil, Self: opts.Holder}}
	if opts.DB != nil {
		if err := createTable(ctx, opts.DB); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Held reports whether this replica holds the lease now.
func (l *Lease) Held() bool { return l.held.Load() }

// Status returns what this replica last saw of the lease.
func (l *Lease) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.Here = l.held.Load()
	return st
}

// Run runs job while this replica holds the lease, until ctx ends: it
// waits for the lease, calls job with a context that is cancelled if the
// lease is lost, and competes again once job has returned. A job that
// returns an error while holding the lease ends Run with that error; one
// that returns nil gives the lease up until the next attempt. Run releases
// the lease when ctx ends and returns nil.
func (l *Lease) Run(ctx context.Context, job func(context.Context) error) error {
	if l.opts.DB == nil {
		l.held.Store(true)
		defer l.held.Store(false)
		return job(ctx)
	}
	period := l.opts.TTL / 4
	for {
		t0 := time.Now()
		if ok, _ := l.acquire(ctx); ok {
			if err := l.hold(ctx, t0, job); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(period):
		}
	}
}

// hold runs job while renewing the lease, taken at t0 (this replica's
// clock, before the request that took it was sent).
func (l *Lease) hold(ctx context.Context, t0 time.Time, job func(context.Context) error) error {
	l.held.Store(true)
	l.opts.Logger.Info("lease taken", "lease", l.opts.Name, "holder", l.opts.Holder)
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- job(jctx) }()
	stop := func(why string) {
		cancel()
		<-done
		l.held.Store(false)
		l.opts.Logger.Info("lease given up", "lease", l.opts.Name, "holder", l.opts.Holder, "why", why)
	}
	// The row lasts TTL from when the database took the renewal, which is
	// after t0: stopping by t0 + TTL×3/4 leaves a quarter of TTL for the
	// job to stop and for clocks to drift.
	valid := t0.Add(l.opts.TTL * 3 / 4)
	expiry := time.NewTimer(time.Until(valid))
	defer expiry.Stop()
	tick := time.NewTicker(l.opts.TTL / 4)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			l.held.Store(false)
			l.release()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("lease %s: %w", l.opts.Name, err)
			}
			return nil
		case <-ctx.Done():
			stop("shutting down")
			l.release()
			return nil
		case <-expiry.C:
			stop("not renewed in time")
			return nil
		case <-tick.C:
			t := time.Now()
			rctx, rcancel := context.WithDeadline(ctx, valid)
			ok, holder := l.acquire(rctx)
			rcancel()
			switch {
			case ok:
				valid = t.Add(l.opts.TTL * 3 / 4)
				expiry.Reset(time.Until(valid))
			case holder != "":
				// The database says another replica has it (its clock
				// jumped, or the row was deleted by hand).
				stop("another replica holds it")
				return nil
			}
			// A failed renewal is retried at the next tick, until valid.
		}
	}
}

// acquire takes or renews the lease and records what it saw. It returns
// whether this replica holds the lease and, if the database answered that
// another one does, its name.
func (l *Lease) acquire(ctx context.Context) (held bool, other string) {
	row, held, err := tryAcquire(ctx, l.opts.DB, l.opts.Name, l.opts.Holder, l.opts.TTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.Checked = time.Now()
	if err != nil {
		if l.status.Error == "" && ctx.Err() == nil {
			l.opts.Logger.Warn("lease: database unavailable", "lease", l.opts.Name, "err", err)
		}
		l.status.Error = err.Error()
		return false, ""
	}
	l.status.Error = ""
	l.status.Holder, l.status.Since, l.status.Expires = row.holder, row.since, row.expires
	if !held && row.holder != l.opts.Holder {
		other = row.holder
	}
	return held, other
}

// release gives the lease up at once, so that another replica need not
// wait for it to expire.
func (l *Lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := release(ctx, l.opts.DB, l.opts.Name, l.opts.Holder); err != nil {
		l.opts.Logger.Warn("lease: release failed; it expires by itself", "lease", l.opts.Name, "err", err)
		return
	}
	l.mu.Lock()
	l.status.Holder, l.status.Since, l.status.Expires = "", time.Time{}, time.Time{}
	l.mu.Unlock()
}
