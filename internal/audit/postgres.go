package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresStore is a Store in PostgreSQL. Any number of gateway replicas may
// append at once: each append locks the single chain-head row with
// SELECT ... FOR UPDATE, so the records form one chain.
type PostgresStore struct {
	db *sqlDB
}

var _ Store = (*PostgresStore)(nil)

// migrationLockKey is the pg_advisory_xact_lock key that serializes
// migrations ("audit" in ASCII).
const migrationLockKey = 0x6175646974

func postgresDialect() *dialect {
	return &dialect{
		name:          "postgres",
		placeholder:   func(n int) string { return "$" + strconv.Itoa(n) },
		forUpdate:     " FOR UPDATE",
		contains:      "strpos(%s, %s) > 0",
		timeArg:       func(t time.Time) any { return t },
		readTx:        &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		migrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
	}
}

// OpenPostgres connects to dsn (a postgres:// URL or a libpq key=value
// string) and applies pending migrations. With opts.Schema set, the schema
// is created if needed and used as the search_path of every connection.
// Only opts.Now, opts.Schema and opts.MaxConns apply.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*PostgresStore, error) {
	opts = opts.withDefaults()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx errors may quote the DSN, password included.
		return nil, fmt.Errorf("audit: open postgres: cannot parse dsn %s", redactURI(dsn))
	}
	if opts.Schema != "" {
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	db := stdlib.OpenDB(*cfg)
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 8
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	d := postgresDialect()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: open postgres: %w", err)
	}
	if opts.Schema != "" {
		err := inMigrationTx(ctx, db, d, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{opts.Schema}.Sanitize())
			return err
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("audit: open postgres: create schema: %w", err)
		}
	}
	if err := migrate(ctx, db, d, "postgres", opts.Now); err != nil {
		db.Close()
		return nil, err
	}
	return &PostgresStore{db: &sqlDB{db: db, d: d, now: opts.Now}}, nil
}

// SQL implements SQLBacked.
func (s *PostgresStore) SQL() (*sql.DB, string) { return s.db.db, "postgres" }

// Append implements Store.
func (s *PostgresStore) Append(ctx context.Context, events []Event) error {
	return s.db.Append(ctx, events)
}

// Query implements Store.
func (s *PostgresStore) Query(ctx context.Context, f Filter) (Page, error) { return s.db.Query(ctx, f) }

// Verify implements Store.
func (s *PostgresStore) Verify(ctx context.Context) (VerifyResult, error) { return s.db.Verify(ctx) }

// Prune implements Store.
func (s *PostgresStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	return s.db.Prune(ctx, before)
}

// Close implements Store.
func (s *PostgresStore) Close() error { return s.db.Close() }
