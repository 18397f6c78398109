package sqlschema_test

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite" // the gateway's SQLite driver

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/sqlschema"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

var stmts = []string{
	`CREATE TABLE IF NOT EXISTS t_one (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS t_one_v ON t_one (v)`,
	`CREATE TABLE IF NOT EXISTS t_two (k TEXT PRIMARY KEY)`,
}

// TestReplicasStartingTogether: many replicas creating the same tables at
// once on PostgreSQL all succeed (without the lock, concurrent CREATE ... IF
// NOT EXISTS fails with a unique violation in pg_type), and the tables work.
func TestReplicasStartingTogether(t *testing.T) {
	dsn := testenv.RequirePostgres(t)
	schema := testenv.FreshSchema(t, dsn, "sqlschema_test_")
	const replicas = 8
	dbs := make([]*sql.DB, replicas)
	for i := range dbs {
		dbs[i] = testenv.OpenSchema(t, dsn, schema)
		if err := dbs[i].PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = sqlschema.Create(t.Context(), db, "postgres", stmts...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if _, err := dbs[0].ExecContext(t.Context(), `INSERT INTO t_one (k, v) VALUES ('a', 1)`); err != nil {
		t.Errorf("the table: %v", err)
	}
}

// TestSQLiteAndRerun: on SQLite the statements run without the lock, and
// running them again (every start does) changes nothing.
func TestSQLiteAndRerun(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		if err := sqlschema.Create(t.Context(), db, "sqlite", stmts...); err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlschema.Create(t.Context(), db, "sqlite", `CREATE TABLE t_one (x INT)`); err == nil {
		t.Error("a failing statement: nil error")
	}
}
