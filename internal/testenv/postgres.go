package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresDSNEnv names the test PostgreSQL's DSN; scripts/test.sh starts a
// throwaway cluster and sets it.
const PostgresDSNEnv = "AUDIT_TEST_POSTGRES_DSN"

// PostgresDSN returns the test PostgreSQL's DSN, or "" when there is none
// (store tests then run on SQLite only).
func PostgresDSN() string { return os.Getenv(PostgresDSNEnv) }

// RequirePostgres returns the DSN, or skips tb without one (fails in CI).
func RequirePostgres(tb testing.TB) string {
	tb.Helper()
	dsn := PostgresDSN()
	if dsn == "" {
		missing(tb, "PostgreSQL ("+PostgresDSNEnv+")")
	}
	return dsn
}

// FreshSchema returns an unused schema name starting with prefix, dropped
// with everything in it when tb ends. Whoever opens the database with it
// creates it (the audit store does, with Options.Schema).
func FreshSchema(tb testing.TB, dsn, prefix string) string {
	tb.Helper()
	schema := prefix + randomSuffix()
	tb.Cleanup(func() { execAdmin(tb, dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	return schema
}

// FreshDatabase creates an empty database, dropped when tb ends, and returns
// its DSN: for tests that run whole gateways against PostgreSQL.
func FreshDatabase(tb testing.TB, dsn, prefix string) string {
	tb.Helper()
	name := prefix + randomSuffix()
	execAdmin(tb, dsn, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() { execAdmin(tb, dsn, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresDSNEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// execAdmin runs one statement on the server dsn names.
func execAdmin(tb testing.TB, dsn, stmt string) {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Errorf("parse %s: %v", PostgresDSNEnv, err)
		return
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		tb.Errorf("%s: %v", stmt, err)
	}
}

// OpenSchema opens a new connection pool on the server dsn names whose
// search_path is schema (created if missing; FreshSchema drops it): one
// replica's handle on a shared test database. Closed when tb ends.
func OpenSchema(tb testing.TB, dsn, schema string) *sql.DB {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresDSNEnv, err)
	}
	execAdmin(tb, dsn, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	db := stdlib.OpenDB(*cfg)
	tb.Cleanup(func() { db.Close() })
	return db
}
