package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLiteStore is a Store in one SQLite file, in WAL mode. Writers are
// serialized in-process by a mutex and across processes by BEGIN IMMEDIATE
// with a busy timeout, so several processes may share the file, but SQLite
// is meant for a single gateway; use PostgreSQL for replicas.
type SQLiteStore struct {
	db *sqlDB
}

var _ Store = (*SQLiteStore)(nil)

func sqliteDialect() *dialect {
	return &dialect{
		name:        "sqlite",
		placeholder: func(int) string { return "?" },
		forUpdate:   "", // the write transaction is BEGIN IMMEDIATE
		contains:    "instr(%s, %s) > 0",
		timeArg:     func(t time.Time) any { return t.UnixMicro() },
		readTx:      &sql.TxOptions{ReadOnly: true}, // a deferred BEGIN: a WAL snapshot
	}
}

// OpenSQLite opens the SQLite database at path, creating it with mode 0600
// if needed (the directory must exist), and applies pending migrations. Only opts.Now, opts.BusyTimeout and
// opts.MaxConns apply.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLiteStore, error) {
	opts = opts.withDefaults()
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("audit: open sqlite: need a file path, got %q", path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, errors.New("audit: open sqlite: path must not contain '?' or '#'")
	}
	// The log names users: create it readable by the owner only. SQLite
	// gives the -wal and -shm files the same permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("audit: open sqlite: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("audit: open sqlite: %w", err)
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 4
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: open sqlite: %w", err)
	}
	d := sqliteDialect()
	if err := migrate(ctx, db, d, "sqlite", opts.Now); err != nil {
		db.Close()
		return nil, err
	}
	return &SQLiteStore{db: &sqlDB{db: db, d: d, now: opts.Now}}, nil
}

// SQL implements SQLBacked.
func (s *SQLiteStore) SQL() (*sql.DB, string) { return s.db.db, "sqlite" }

// Append implements Store.
func (s *SQLiteStore) Append(ctx context.Context, events []Event) error {
	return s.db.Append(ctx, events)
}

// Query implements Store.
func (s *SQLiteStore) Query(ctx context.Context, f Filter) (Page, error) { return s.db.Query(ctx, f) }

// Verify implements Store.
func (s *SQLiteStore) Verify(ctx context.Context) (VerifyResult, error) { return s.db.Verify(ctx) }

// Prune implements Store.
func (s *SQLiteStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	return s.db.Prune(ctx, before)
}

// Close implements Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }
