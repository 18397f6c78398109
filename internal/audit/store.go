package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is the append-only, hash-chained audit log.
//
// Implementations: *SQLiteStore and *PostgresStore. Both pass the same
// conformance suite (package audit/storetest).
type Store interface {
	// Append stores events in order as one transaction. It validates each
	// event (ErrInvalidEvent), assigns IDs that continue the chain, and sets
	// ID, Hash and (if zero) Time on the elements of events. Concurrent
	// callers, in this process or another one sharing the database, are
	// serialized so that the records form one chain.
	Append(ctx context.Context, events []Event) error
	// Query returns one page of events matching f, newest first unless
	// f.Ascending. A malformed f.Cursor yields ErrBadCursor.
	Query(ctx context.Context, f Filter) (Page, error)
	// Verify recomputes the whole chain from the prune anchor to the chain
	// head. A tampered log is not an error: it is reported in VerifyResult.
	Verify(ctx context.Context) (VerifyResult, error)
	// Prune deletes the oldest records with a time before before, keeping
	// the chain verifiable, and returns how many it deleted. Only a prefix of
	// the chain is ever deleted: a record older than before that follows a
	// newer one is kept. When it deletes anything it appends an audit_prune
	// event.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Close releases the database.
	Close() error
}

// Filter selects events. Zero fields match everything.
type Filter struct {
	// UserContains matches a case-insensitive substring of the actor's
	// username, user id or login id (ASCII case folding on SQLite).
	UserContains string
	Action       Action
	Outcome      Outcome
	// Resource matches events naming this exact resource value under any
	// kind, e.g. an experiment id or a registered model name.
	Resource string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// Cursor continues from Page.NextCursor of the previous call with the
	// same filter. It is opaque.
	Cursor    string
	Ascending bool // oldest first
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of query results.
type Page struct {
	Events []Event
	// NextCursor is empty on the last page.
	NextCursor string
}

// VerifyResult is the outcome of Store.Verify. The chain is intact when
// Problem is empty.
type VerifyResult struct {
	Checked    int    // records verified before the first problem
	FirstBadID int64  // the first record found missing, modified or out of place; 0 if none
	Problem    string // human-readable description; empty when the chain is intact
	AnchorID   int64  // the last pruned record; verification started after it
	HeadID     int64  // the last record according to the chain head
	HeadHash   string // the chain head hash: record it elsewhere to detect rollback
}

// OK reports whether the chain verified.
func (r VerifyResult) OK() bool { return r.Problem == "" }

// ErrBadCursor is returned by Query for a cursor it did not produce.
var ErrBadCursor = errors.New("audit: bad cursor")

// Options configure a store. The zero value is usable.
type Options struct {
	// Now is the clock used for events without a Time and for prune
	// records. Default time.Now.
	Now func() time.Time
	// BusyTimeout is how long a SQLite writer waits for another process's
	// lock. Default 10s.
	BusyTimeout time.Duration
	// Schema is the PostgreSQL schema that holds the tables; it is created
	// if missing. Default: the connection's search_path (normally public).
	Schema string
	// MaxConns bounds the connection pool. Default 4 (SQLite) or 8
	// (PostgreSQL).
	MaxConns int
}

// SQLBacked is a Store in a SQL database that other parts of the gateway's
// own state may share (see internal/denylist).
type SQLBacked interface {
	// SQL returns the database handle and its dialect, "sqlite" or
	// "postgres". The handle belongs to the store: do not close it.
	SQL() (*sql.DB, string)
}

var (
	_ SQLBacked = (*SQLiteStore)(nil)
	_ SQLBacked = (*PostgresStore)(nil)
)

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	return o
}

// Open opens the store named by uri:
//
//	sqlite:///audit.db         SQLite, relative path (as MLflow's store URIs)
//	sqlite:////var/lib/a.db    SQLite, absolute path
//	/var/lib/audit.db          SQLite, a plain path
//	postgres://... postgresql://...  PostgreSQL (a libpq-style URL)
func Open(ctx context.Context, uri string, opts Options) (Store, error) {
	switch {
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		return OpenPostgres(ctx, uri, opts)
	case strings.HasPrefix(uri, "sqlite:///"):
		return OpenSQLite(ctx, strings.TrimPrefix(uri, "sqlite:///"), opts)
	case strings.HasPrefix(uri, "sqlite:"):
		return nil, fmt.Errorf("audit: open: sqlite uri must start with sqlite:/// (got %q)", redactURI(uri))
	case strings.Contains(uri, "://"):
		return nil, fmt.Errorf("audit: open: unsupported scheme in %q", redactURI(uri))
	case uri == "":
		return nil, errors.New("audit: open: empty uri")
	default:
		return OpenSQLite(ctx, uri, opts)
	}
}

// redactURI drops everything after the scheme so that a password in a DSN
// never reaches an error message.
func redactURI(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		return uri[:i+3] + "..."
	}
	return uri
}
