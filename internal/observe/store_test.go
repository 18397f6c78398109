package observe_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/observe"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// backend opens a fresh, empty audit store.
type backend struct {
	name string
	open func(tb testing.TB) audit.Store
}

// backends are SQLite always and PostgreSQL when AUDIT_TEST_POSTGRES_DSN is
// set (see internal/audit/testdata/start-postgres.sh).
func backends(t *testing.T) []backend {
	bs := []backend{{name: "sqlite", open: func(tb testing.TB) audit.Store {
		tb.Helper()
		s, err := audit.Open(context.Background(), filepath.Join(tb.TempDir(), "audit.db"), audit.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}}}
	dsn := testenv.PostgresDSN()
	if dsn == "" {
		t.Logf("%s not set: skipping PostgreSQL", testenv.PostgresDSNEnv)
		return bs
	}
	return append(bs, backend{name: "postgres", open: func(tb testing.TB) audit.Store {
		tb.Helper()
		schema := testenv.FreshSchema(tb, dsn, "observe_test_")
		s, err := audit.Open(context.Background(), dsn, audit.Options{Schema: schema})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}})
}

// pipeline is a store, a writer and an Audit observer over them.
type pipeline struct {
	store  audit.Store
	writer *audit.Writer
	audit  *observe.Audit
}

func newPipeline(tb testing.TB, store audit.Store, wo audit.WriterOptions) *pipeline {
	tb.Helper()
	if wo.FlushInterval == 0 {
		wo.FlushInterval = 10 * time.Millisecond
	}
	w, err := audit.NewWriter(store, wo)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = w.Close(context.Background()) })
	a, err := observe.New(observe.Options{Recorder: w})
	if err != nil {
		tb.Fatal(err)
	}
	return &pipeline{store: store, writer: w, audit: a}
}

// flush closes the writer, so every accepted event is stored.
func (p *pipeline) flush(tb testing.TB) audit.WriterStats {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.writer.Close(ctx); err != nil {
		tb.Fatalf("writer close: %v", err)
	}
	return p.writer.Stats()
}

// all returns every stored event matching f, oldest first.
func all(tb testing.TB, s audit.Store, f audit.Filter) []audit.Event {
	tb.Helper()
	f.Ascending = true
	f.Limit = audit.MaxLimit
	var out []audit.Event
	for {
		pg, err := s.Query(context.Background(), f)
		if err != nil {
			tb.Fatalf("query: %v", err)
		}
		out = append(out, pg.Events...)
		if pg.NextCursor == "" {
			return out
		}
		f.Cursor = pg.NextCursor
	}
}
