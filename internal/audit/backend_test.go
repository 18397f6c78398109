package audit

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// backend opens stores on isolated, freshly created databases.
type backend struct {
	name string
	// fresh returns a new empty location (a file path or a schema name).
	fresh func(tb testing.TB) string
	// open opens a Store on a location; two opens of one location are two
	// "replicas" sharing the database.
	open func(tb testing.TB, loc string, opts Options) Store
}

func sqliteBackend() backend {
	return backend{
		name: "sqlite",
		fresh: func(tb testing.TB) string {
			return filepath.Join(tb.TempDir(), "audit.db")
		},
		open: func(tb testing.TB, loc string, opts Options) Store {
			tb.Helper()
			s, err := OpenSQLite(context.Background(), loc, opts)
			if err != nil {
				tb.Fatalf("OpenSQLite: %v", err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// postgresBackend isolates every location in its own schema, dropped at the
// end of the test.
func postgresBackend(dsn string) backend {
	return backend{
		name: "postgres",
		fresh: func(tb testing.TB) string {
			tb.Helper()
			return testenv.FreshSchema(tb, dsn, "audit_test_")
		},
		open: func(tb testing.TB, loc string, opts Options) Store {
			tb.Helper()
			opts.Schema = loc
			s, err := OpenPostgres(context.Background(), dsn, opts)
			if err != nil {
				tb.Fatalf("OpenPostgres: %v", err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// backends lists the stores every conformance test runs against: SQLite
// always, PostgreSQL when AUDIT_TEST_POSTGRES_DSN is set.
func backends(t *testing.T) []backend {
	bs := []backend{sqliteBackend()}
	if dsn := testenv.PostgresDSN(); dsn != "" {
		bs = append(bs, postgresBackend(dsn))
	} else {
		t.Logf("%s not set: skipping the PostgreSQL store", testenv.PostgresDSNEnv)
	}
	return bs
}

// rawDB returns the database under s, for tests that tamper with it.
func rawDB(tb testing.TB, s Store) *sql.DB {
	tb.Helper()
	switch s := s.(type) {
	case *SQLiteStore:
		return s.db.db
	case *PostgresStore:
		return s.db.db
	}
	tb.Fatalf("rawDB: unexpected store %T", s)
	return nil
}

// testClock is an injectable clock that only moves when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
