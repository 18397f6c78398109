package dpop

import (
	"context"
	"crypto/elliptic"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the gateway's SQLite driver

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// sharedDB is one gateway database as replicas see it: open returns a new
// handle on it (a new replica).
type sharedDB struct {
	name    string
	dialect string
	open    func(t *testing.T) *sql.DB
}

// sharedDBs are SQLite always and PostgreSQL when the test database is
// configured (scripts/test.sh starts one).
func sharedDBs(t *testing.T) []sharedDB {
	path := filepath.Join(t.TempDir(), "gateway.db")
	out := []sharedDB{{name: "sqlite", dialect: "sqlite", open: func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}}}
	dsn := testenv.PostgresDSN()
	if dsn == "" {
		t.Logf("%s not set: skipping PostgreSQL", testenv.PostgresDSNEnv)
		return out
	}
	schema := testenv.FreshSchema(t, dsn, "dpop_test_")
	return append(out, sharedDB{name: "postgres", dialect: "postgres", open: func(t *testing.T) *sql.DB {
		return testenv.OpenSchema(t, dsn, schema)
	}})
}

func replicaChecker(t *testing.T, d sharedDB, now func() time.Time) (*Checker, *Shared) {
	t.Helper()
	s, err := NewShared(t.Context(), d.open(t), d.dialect)
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Now: now, Shared: s}), s
}

// TestReplicasRefuseEachOthersProofs: a proof accepted by one replica is a
// replay on another one sharing the database (before: each replica had only
// its own memory, so a captured proof could be replayed once per replica).
func TestReplicasRefuseEachOthersProofs(t *testing.T) {
	for _, d := range sharedDBs(t) {
		t.Run(d.name, func(t *testing.T) {
			now := func() time.Time { return t0 }
			a, _ := replicaChecker(t, d, now)
			b, shared := replicaChecker(t, d, now)
			p := newECProver(t, "ES256", elliptic.P256(), "P-256")
			r := req(p.jkt(t))
			proof := p.sign(t, p.claims("once", t0), nil)
			if err := a.Check(t.Context(), proof, r); err != nil {
				t.Fatalf("replica A: %v", err)
			}
			if err := b.Check(t.Context(), proof, r); !errors.Is(err, ErrReplayed) {
				t.Fatalf("replica B with A's proof = %v; want ErrReplayed", err)
			}
			if err := a.Check(t.Context(), proof, r); !errors.Is(err, ErrReplayed) {
				t.Fatalf("replica A again = %v; want ErrReplayed", err)
			}
			// Another proof of the same key is fine on B.
			if err := b.Check(t.Context(), p.sign(t, p.claims("other", t0), nil), r); err != nil {
				t.Fatalf("replica B, new proof: %v", err)
			}
			if n, err := rows(t, shared); err != nil || n != 2 {
				t.Errorf("rows = %d, %v; want 2", n, err)
			}
		})
	}
}

// TestSharedExpiry: a key whose time has passed is taken over (a live one
// never is), and expired rows are swept.
func TestSharedExpiry(t *testing.T) {
	for _, d := range sharedDBs(t) {
		t.Run(d.name, func(t *testing.T) {
			s, err := NewShared(t.Context(), d.open(t), d.dialect)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			k1, k2 := [32]byte{1}, [32]byte{2}
			until := t0.Add(time.Minute)
			for _, step := range []struct {
				key   [32]byte
				now   time.Time
				fresh bool
			}{
				{k1, t0, true},
				{k1, t0.Add(59 * time.Second), false}, // live: a replay
				{k2, t0, true},
				{k1, until, true}, // expired: taken over
				{k1, until.Add(time.Second), false},
			} {
				fresh, err := s.Remember(ctx, step.key, step.now.Add(time.Minute), step.now)
				if err != nil {
					t.Fatal(err)
				}
				if step.key == k1 && step.now.Equal(until) {
					until = step.now.Add(time.Minute)
				}
				if fresh != step.fresh {
					t.Fatalf("Remember(%x…, %v) fresh = %v; want %v", step.key[:1], step.now.Sub(t0), fresh, step.fresh)
				}
			}
			// k2 expired at t0+1m; the next Remember after sweepEvery deletes it.
			if _, err := s.Remember(ctx, [32]byte{3}, t0.Add(sweepEvery+2*time.Minute), t0.Add(sweepEvery+time.Minute)); err != nil {
				t.Fatal(err)
			}
			if n, err := rows(t, s); err != nil || n != 1 {
				t.Errorf("rows after the sweep = %d, %v; want 1 (only the live key)", n, err)
			}
		})
	}
}

// TestSharedRace: replicas racing with one proof, exactly one accepts it.
func TestSharedRace(t *testing.T) {
	for _, d := range sharedDBs(t) {
		t.Run(d.name, func(t *testing.T) {
			const replicas = 8
			stores := make([]*Shared, replicas)
			for i := range stores {
				s, err := NewShared(t.Context(), d.open(t), d.dialect)
				if err != nil {
					t.Fatal(err)
				}
				stores[i] = s
			}
			var fresh, failed atomic.Int32
			var wg sync.WaitGroup
			for _, s := range stores {
				wg.Go(func() {
					ok, err := s.Remember(context.Background(), [32]byte{9}, t0.Add(time.Minute), t0)
					switch {
					case err != nil:
						failed.Add(1)
						t.Error(err)
					case ok:
						fresh.Add(1)
					}
				})
			}
			wg.Wait()
			if fresh.Load() != 1 || failed.Load() != 0 {
				t.Errorf("accepted by %d replicas (%d errors); want exactly 1", fresh.Load(), failed.Load())
			}
		})
	}
}

type failingStore struct{}

func (failingStore) Remember(context.Context, [32]byte, time.Time, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

// TestSharedUnavailable: when the shared cache cannot be asked the proof is
// refused as unavailable (not as invalid: a retry with a new proof may
// pass), and the same proof stays refused here afterwards.
func TestSharedUnavailable(t *testing.T) {
	t.Parallel()
	c := New(Options{Now: func() time.Time { return t0 }, Shared: failingStore{}})
	p := newECProver(t, "ES256", elliptic.P256(), "P-256")
	r := req(p.jkt(t))
	proof := p.sign(t, p.claims("x", t0), nil)
	err := c.Check(t.Context(), proof, r)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Check with the store down = %v; want ErrUnavailable only", err)
	}
	if err := New(Options{Now: func() time.Time { return t0 }}).Check(t.Context(), proof, r); err != nil {
		t.Fatalf("the proof itself is valid: %v", err)
	}
	if err := c.Check(t.Context(), proof, r); !errors.Is(err, ErrReplayed) {
		t.Errorf("the same proof again = %v; want ErrReplayed (remembered here)", err)
	}
}

func TestNewSharedRefusesUnknownDialect(t *testing.T) {
	t.Parallel()
	if _, err := NewShared(t.Context(), &sql.DB{}, "mysql"); err == nil {
		t.Error("NewShared(mysql) = nil error")
	}
}

// rows counts the table's rows, expired ones included.
func rows(t *testing.T, s *Shared) (int, error) {
	var n int
	err := s.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM mda_dpop_proofs`).Scan(&n)
	return n, err
}
