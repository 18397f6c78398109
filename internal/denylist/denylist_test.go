package denylist

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// database is one shared gateway database, as replicas see it.
type database struct {
	name string
	// open returns a new handle on the same database (a new replica).
	open func(t *testing.T) (*sql.DB, string)
}

// databases are SQLite always and PostgreSQL when AUDIT_TEST_POSTGRES_DSN
// is set (scripts/test.sh starts one). Each test gets a fresh database,
// opened through the audit store as the gateway does.
func databases(t *testing.T) []func(t *testing.T) database {
	out := []func(t *testing.T) database{func(t *testing.T) database {
		path := filepath.Join(t.TempDir(), "audit.db")
		return database{name: "sqlite", open: func(t *testing.T) (*sql.DB, string) { return openStore(t, path, audit.Options{}) }}
	}}
	dsn := testenv.PostgresDSN()
	if dsn == "" {
		t.Logf("%s not set: skipping PostgreSQL", testenv.PostgresDSNEnv)
		return out
	}
	return append(out, func(t *testing.T) database {
		schema := testenv.FreshSchema(t, dsn, "denylist_test_")
		return database{name: "postgres", open: func(t *testing.T) (*sql.DB, string) {
			return openStore(t, dsn, audit.Options{Schema: schema})
		}}
	})
}

func openStore(t *testing.T, uri string, opts audit.Options) (*sql.DB, string) {
	t.Helper()
	s, err := audit.Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatalf("open audit store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(audit.SQLBacked).SQL()
}

func replica(t *testing.T, d database, c *clock) *List {
	t.Helper()
	db, dialect := d.open(t)
	l, err := New(context.Background(), Options{DB: db, Dialect: dialect, Now: c.now})
	if err != nil {
		t.Fatalf("denylist.New: %v", err)
	}
	return l
}

func eachDatabase(t *testing.T, f func(t *testing.T, d database)) {
	for _, mk := range databases(t) {
		d := mk(t)
		t.Run(d.name, func(t *testing.T) { f(t, d) })
	}
}

// TestSignOutReachesOtherReplicas: a token signed out on one replica is
// refused by another after its next refresh, and by a replica started later
// at once; expired tokens are not loaded.
func TestSignOutReachesOtherReplicas(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a, b := replica(t, d, c), replica(t, d, c)
		if !a.Shared() {
			t.Fatal("a list with a database is not shared")
		}
		if err := a.RevokeToken(ctx, "session-jwt-1", c.now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := a.RevokeToken(ctx, "short-lived", c.now().Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if !a.TokenRevoked("session-jwt-1") {
			t.Error("the replica that signed out accepts the token")
		}
		if b.TokenRevoked("session-jwt-1") {
			t.Error("b refused before any refresh: the test would prove nothing")
		}
		c.add(time.Second)
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !b.TokenRevoked("session-jwt-1") || !b.TokenRevoked("short-lived") {
			t.Error("b accepts a token signed out on a after refreshing")
		}
		if b.TokenRevoked("another-token") {
			t.Error("b refuses a token nobody signed out")
		}
		c.add(time.Minute)
		late := replica(t, d, c)
		if !late.TokenRevoked("session-jwt-1") {
			t.Error("a replica started later accepts a signed-out token")
		}
		if late.TokenRevoked("short-lived") || b.TokenRevoked("short-lived") {
			t.Error("a token past its expiry is still listed")
		}
		c.add(10 * time.Minute)
		if a.TokenRevoked("session-jwt-1") {
			t.Error("listed after its expiry")
		}
	})
}

// TestBlockedUsersAreShared: a block or unblock on one replica reaches the
// others at their next refresh and survives a restart.
func TestBlockedUsersAreShared(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a, b := replica(t, d, c), replica(t, d, c)
		added, err := a.Block(ctx, "U2mallory", "descope status disabled")
		if err != nil || !added {
			t.Fatalf("Block = %v, %v", added, err)
		}
		if added, _ := a.Block(ctx, "U2mallory", "deleted in descope"); added {
			t.Error("a second Block reported the user as newly blocked")
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !b.Blocked("U2mallory") || b.Blocked("U2alice") {
			t.Errorf("b: blocked = %v", b.BlockedUsers())
		}
		if got := b.BlockedUsers()["U2mallory"]; got != "deleted in descope" {
			t.Errorf("reason = %q, want the latest", got)
		}
		if !replica(t, d, c).Blocked("U2mallory") {
			t.Error("a restarted replica forgot the block")
		}
		removed, err := b.Unblock(ctx, "U2mallory")
		if err != nil || !removed {
			t.Fatalf("Unblock = %v, %v", removed, err)
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Blocked("U2mallory") {
			t.Error("a still blocks a user b unblocked")
		}
	})
}

// TestDatabaseOutageKeepsLocalDecisions: while the database refuses writes
// the replica still refuses what it decided, and shares it once it can.
func TestDatabaseOutageKeepsLocalDecisions(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a, b := replica(t, d, c), replica(t, d, c)
		db, _ := d.open(t)
		mustExec := func(q string) {
			t.Helper()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// Make both tables unwritable by renaming them away.
		mustExec(`ALTER TABLE mda_blocked_users RENAME TO mda_blocked_users_away`)
		mustExec(`ALTER TABLE mda_signed_out_tokens RENAME TO mda_signed_out_tokens_away`)
		if _, err := a.Block(ctx, "U2mallory", "descope status disabled"); err == nil {
			t.Error("Block reported success with the table gone")
		}
		if err := a.RevokeToken(ctx, "session-jwt", c.now().Add(time.Hour)); err == nil {
			t.Error("RevokeToken reported success with the table gone")
		}
		if err := a.Refresh(ctx); err == nil {
			t.Error("Refresh reported success with the table gone")
		}
		if !a.Blocked("U2mallory") || !a.TokenRevoked("session-jwt") {
			t.Error("a forgot its own decisions during the outage")
		}
		mustExec(`ALTER TABLE mda_blocked_users_away RENAME TO mda_blocked_users`)
		mustExec(`ALTER TABLE mda_signed_out_tokens_away RENAME TO mda_signed_out_tokens`)
		c.add(time.Second)
		if err := a.Refresh(ctx); err != nil {
			t.Fatalf("Refresh after the outage: %v", err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !b.Blocked("U2mallory") || !b.TokenRevoked("session-jwt") {
			t.Error("writes made during the outage never reached b")
		}
	})
}

// TestDatabaseHoldsNoTokens: only hashes are stored, and expired rows are
// deleted.
func TestDatabaseHoldsNoTokens(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a := replica(t, d, c)
		const tok = "eyJhbGciOiJFUzM4NCJ9.secret-session.sig"
		if err := a.RevokeToken(ctx, tok, c.now().Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		db, _ := d.open(t)
		var h string
		if err := db.QueryRow(`SELECT token_hash FROM mda_signed_out_tokens`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h, "secret") || len(h) != 64 {
			t.Errorf("stored %q, want a SHA-256 hex digest", h)
		}
		c.add(10 * time.Minute)
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM mda_signed_out_tokens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d expired rows left after a refresh", n)
		}
	})
}

func TestMemoryList(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	l, err := New(ctx, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if l.Shared() {
		t.Error("a list without a database says it is shared")
	}
	if err := l.RevokeToken(ctx, "t", c.now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if l.TokenRevoked("") || l.RevokeToken(ctx, "", c.now().Add(time.Hour)) != nil || l.TokenRevoked("") {
		t.Error("the empty token is never listed")
	}
	if !l.TokenRevoked("t") {
		t.Error("not refused")
	}
	c.add(time.Minute)
	if l.TokenRevoked("t") {
		t.Error("refused after it expired")
	}
	if _, err := l.Block(ctx, "U2x", "r"); err != nil || !l.Blocked("U2x") {
		t.Error("block")
	}
	if removed, _ := l.Unblock(ctx, "U2x"); !removed || l.Blocked("U2x") {
		t.Error("unblock")
	}
	if err := l.Run(ctx); err != nil {
		t.Errorf("Run without a database: %v", err)
	}
}

func TestUnknownDialect(t *testing.T) {
	db, _ := openStore(t, filepath.Join(t.TempDir(), "a.db"), audit.Options{})
	if _, err := New(context.Background(), Options{DB: db, Dialect: "mysql"}); err == nil {
		t.Error("unknown dialect accepted")
	}
}

// TestRefreshDoesNotUndoAConcurrentBlock: a refresh that read the table just
// before this replica blocked a user must not let the user back in.
func TestRefreshDoesNotUndoAConcurrentBlock(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a := replica(t, d, c)
		// Block between the refresh's read and its apply: the hook runs
		// inside load, after the queries.
		a.afterRead = func() {
			if _, err := a.Block(ctx, "U2mallory", "descope status disabled"); err != nil {
				t.Error(err)
			}
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		a.afterRead = nil
		if !a.Blocked("U2mallory") {
			t.Fatal("a refresh that read before the block undid it")
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !a.Blocked("U2mallory") {
			t.Error("the block is not in the database after the next refresh")
		}
	})
}

// TestWritesReachTheDatabaseInOrder: an Unblock the database refused must
// not be replayed after a newer Block and let the user back in.
func TestWritesReachTheDatabaseInOrder(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		a, b := replica(t, d, c), replica(t, d, c)
		if _, err := a.Block(ctx, "U2mallory", "descope status disabled"); err != nil {
			t.Fatal(err)
		}
		db, _ := d.open(t)
		if _, err := db.Exec(`ALTER TABLE mda_blocked_users RENAME TO mda_blocked_users_away`); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Unblock(ctx, "U2mallory"); err == nil {
			t.Error("Unblock reported success with the table gone")
		}
		if _, err := db.Exec(`ALTER TABLE mda_blocked_users_away RENAME TO mda_blocked_users`); err != nil {
			t.Fatal(err)
		}
		// The database is back, but the Unblock still waits: the Block must
		// go after it, not before.
		if _, err := a.Block(ctx, "U2mallory", "deleted in descope"); err == nil {
			t.Error("a Block behind a waiting write reported that it was stored")
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !a.Blocked("U2mallory") || !b.Blocked("U2mallory") {
			t.Errorf("blocked on a: %v, on b: %v; the older Unblock overtook the Block", a.Blocked("U2mallory"), b.Blocked("U2mallory"))
		}
	})
}
