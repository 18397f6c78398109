package selfservice

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// databases are SQLite always and PostgreSQL when AUDIT_TEST_POSTGRES_DSN is
// set; each opens a fresh database twice (two replicas), through the audit
// store as the gateway does.
func databases(t *testing.T) map[string]func(t *testing.T) (a, b *store) {
	out := map[string]func(t *testing.T) (a, b *store){
		"sqlite": func(t *testing.T) (*store, *store) {
			path := filepath.Join(t.TempDir(), "gateway.db")
			return openStore(t, path, audit.Options{}), openStore(t, path, audit.Options{})
		},
	}
	if dsn := testenv.PostgresDSN(); dsn != "" {
		out["postgres"] = func(t *testing.T) (*store, *store) {
			schema := testenv.FreshSchema(t, dsn, "selfservice_test_")
			return openStore(t, dsn, audit.Options{Schema: schema}), openStore(t, dsn, audit.Options{Schema: schema})
		}
	} else {
		t.Logf("%s not set: PostgreSQL skipped", testenv.PostgresDSNEnv)
	}
	return out
}

func openStore(t *testing.T, uri string, opts audit.Options) *store {
	t.Helper()
	st, err := audit.Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	var db *sql.DB
	db, dialect := st.(audit.SQLBacked).SQL()
	s, err := newStore(context.Background(), db, dialect)
	if err != nil {
		t.Fatalf("newStore: %v", err)
	}
	return s
}

// TestStoreConformance runs the state changes every replica relies on
// against SQLite and PostgreSQL, with two handles on one database.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			ctx := context.Background()
			now := time.Now().Truncate(time.Microsecond)
			g := grant{Kind: kindLoopback, Challenge: "c", RedirectURI: "http://127.0.0.1:1/x", ClientName: "box",
				ClientIP: "127.0.0.1", UserID: "U1", Status: statusApproved, ExpiresDays: 30, Created: now, Expires: now.Add(time.Minute)}
			if err := a.insert(ctx, "h1", "", g); err != nil {
				t.Fatal(err)
			}
			got, err := b.get(ctx, "h1")
			if err != nil || got.UserID != "U1" || got.Challenge != "c" || !got.Expires.Equal(g.Expires) || got.ExpiresDays != 30 {
				t.Fatalf("get from the other replica = %+v, %v", got, err)
			}
			if _, err := b.get(ctx, "nope"); err != errNoGrant {
				t.Errorf("missing grant: %v, want errNoGrant", err)
			}

			// Claimed once, by one of many concurrent callers on both handles.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := a
					if i%2 == 1 {
						s = b
					}
					if ok, err := s.claim(ctx, "h1", kindLoopback, now); err != nil {
						t.Error(err)
					} else if ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Errorf("%d claims won, want 1", wins.Load())
			}
			if err := a.release(ctx, "h1"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := b.claim(ctx, "h1", kindDevice, now); ok {
				t.Error("claimed as the wrong kind")
			}
			if ok, _ := b.claim(ctx, "h1", kindLoopback, now.Add(time.Minute)); ok {
				t.Error("claimed after expiry")
			}
			if ok, _ := b.claim(ctx, "h1", kindLoopback, now); !ok {
				t.Error("a released grant cannot be claimed again")
			}

			// Device grants: user codes are unique, decided once, polled no
			// faster than the interval, which grows when polled too fast.
			dg := grant{Kind: kindDevice, ClientName: "box", ClientIP: "10.0.0.1", Status: statusPending, ExpiresDays: 7,
				Created: now, Expires: now.Add(10 * time.Minute), PollInterval: 5 * time.Second}
			if err := a.insert(ctx, "d1", "u1", dg); err != nil {
				t.Fatal(err)
			}
			if err := b.insert(ctx, "d2", "u1", dg); err == nil {
				t.Error("a second grant with the same user code was stored")
			}
			hash, got, err := b.byUserCode(ctx, "u1")
			if err != nil || hash != "d1" || got.Status != statusPending || got.PollInterval != 5*time.Second {
				t.Fatalf("byUserCode = %q %+v %v", hash, got, err)
			}
			for i, tc := range []struct {
				at   time.Duration
				want bool
			}{{0, true}, {4 * time.Second, false}, {9 * time.Second, false}, {15 * time.Second, true}} {
				s := a
				if i%2 == 1 {
					s = b
				}
				if ok, err := s.poll(ctx, "d1", now.Add(tc.at)); err != nil || ok != tc.want {
					t.Errorf("poll at +%s: %v %v, want %v", tc.at, ok, err, tc.want)
				}
			}
			if g, _ := a.get(ctx, "d1"); g.PollInterval != 15*time.Second {
				t.Errorf("interval after two fast polls = %s, want 15s", g.PollInterval)
			}
			if ok, _ := a.decide(ctx, "d1", "U2", statusApproved, now); !ok {
				t.Error("decide failed")
			}
			if ok, _ := b.decide(ctx, "d1", "U3", statusApproved, now); ok {
				t.Error("decided twice")
			}
			if g, _ := b.get(ctx, "d1"); g.UserID != "U2" || g.Status != statusApproved {
				t.Errorf("decided grant = %+v", g)
			}
			if ok, _ := b.claim(ctx, "d1", kindDevice, now); !ok {
				t.Error("approved device grant not claimable")
			}

			// Revocations are seen by the other replica, then pruned.
			if err := a.revokeKey(ctx, "K1", now); err != nil {
				t.Fatal(err)
			}
			if err := a.revokeKey(ctx, "K1", now.Add(time.Second)); err != nil {
				t.Errorf("revoking twice: %v", err)
			}
			ids, err := b.revokedSince(ctx, now.Add(-time.Second))
			if err != nil || len(ids) != 1 || ids[0] != "K1" {
				t.Errorf("revokedSince = %v %v", ids, err)
			}
			if err := b.prune(ctx, now.Add(time.Hour), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := a.get(ctx, "d1"); err != errNoGrant {
				t.Errorf("expired grant survived prune: %v", err)
			}
			if ids, _ := a.revokedSince(ctx, time.Time{}); len(ids) != 0 {
				t.Errorf("old revocation survived prune: %v", ids)
			}
		})
	}
}

// TestRevocationReachesOtherReplicas: a key revoked through one replica is
// evicted from another's caches by its Run loop within a few seconds.
func TestRevocationReachesOtherReplicas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.db")
	a, b := openStore(t, path, audit.Options{}), openStore(t, path, audit.Options{})
	evicted := make(chan string, 4)
	s := &Service{store: b, opts: Options{Now: time.Now, Evict: func(id string) { evicted <- id }}, log: discard()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if err := a.revokeKey(context.Background(), "K2gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-evicted:
		if id != "K2gone" {
			t.Errorf("evicted %q", id)
		}
	case <-time.After(3 * revocationInterval):
		t.Fatal("the other replica did not evict the revoked key")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
