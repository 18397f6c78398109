package handoff

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

const secret = "handoff-test-secret-0123456789abcdef"

// cluster is one shared PostgreSQL schema; replica opens a new pool on it,
// as another gateway process would.
type cluster struct {
	dsn, schema string
}

func newCluster(tb testing.TB) cluster {
	tb.Helper()
	dsn := testenv.RequirePostgres(tb)
	return cluster{dsn: dsn, schema: testenv.FreshSchema(tb, dsn, "handoff_test_")}
}

func (c cluster) db(tb testing.TB) *sql.DB { return testenv.OpenSchema(tb, c.dsn, c.schema) }

func (c cluster) replica(tb testing.TB, opts Options) *Store {
	tb.Helper()
	if opts.DB == nil {
		opts.DB = c.db(tb)
	}
	if opts.Secret == nil {
		opts.Secret = []byte(secret)
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatalf("handoff.New: %v", err)
	}
	return s
}

// descope stands in for Descope with rotation on: each refresh token works
// once and is answered with a new pair.
type descope struct {
	mu    sync.Mutex
	used  map[string]bool
	calls atomic.Int32
	delay time.Duration
}

func (d *descope) refresh(old string) func(context.Context) (Tokens, error) {
	return func(ctx context.Context) (Tokens, error) {
		d.calls.Add(1)
		time.Sleep(d.delay)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.used == nil {
			d.used = map[string]bool{}
		}
		if d.used[old] {
			return Tokens{}, errors.New("refresh token already used")
		}
		d.used[old] = true
		n := d.calls.Load()
		return Tokens{Session: fmt.Sprintf("session-%s-%d", old, n), Refresh: fmt.Sprintf("refresh-%s-%d", old, n),
			Until: time.Now().Add(10 * time.Minute)}, nil
	}
}

// TestOneRefreshAcrossReplicas: requests carrying the same refresh token
// reach three replicas at once, many times over; each time Descope sees
// one refresh and every request gets the same new tokens. Without the
// handoff each replica would spend the token and all but one would fail.
// The second pass reuses the tokens once their rows have expired (a
// session refreshed again long after), where the row already exists.
func TestOneRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := Options{Now: clock}
	replicas := []*Store{c.replica(t, o), c.replica(t, o), c.replica(t, o)}
	const rounds = 15
	for pass := range 2 {
		for round := range rounds {
			d := &descope{delay: 20 * time.Millisecond}
			old := fmt.Sprintf("r%d", round)
			var wg sync.WaitGroup
			start := make(chan struct{})
			got := make([]Tokens, 9)
			errs := make([]error, len(got))
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[i], errs[i] = replicas[i%len(replicas)].Do(context.Background(), old, d.refresh(old))
				}()
			}
			close(start)
			wg.Wait()
			for i := range got {
				if errs[i] != nil {
					t.Fatalf("pass %d, round %d, request %d: %v", pass, round, i, errs[i])
				}
				if got[i].Session != got[0].Session || got[i].Refresh != got[0].Refresh {
					t.Fatalf("pass %d, round %d: request %d got %+v, request 0 %+v", pass, round, i, got[i], got[0])
				}
			}
			if n := d.calls.Load(); n != 1 {
				t.Fatalf("pass %d, round %d: Descope refreshed %d times, want 1", pass, round, n)
			}
		}
		mu.Lock()
		now = now.Add(31 * time.Second)
		mu.Unlock()
	}
	var st Stats
	for _, r := range replicas {
		s := r.Stats()
		st.Refreshed += s.Refreshed
		st.Shared += s.Shared
		st.Fallbacks += s.Fallbacks
	}
	// Requests of one process are not collapsed here (the session
	// manager's single-flight does that): each of the 9 used the store.
	if st.Refreshed != 2*rounds || st.Shared != 2*rounds*8 || st.Fallbacks != 0 {
		t.Errorf("stats %+v, want %d refreshed, %d shared, 0 fallbacks", st, 2*rounds, 2*rounds*8)
	}
}

// TestNothingUsableAtRest: the database holds hashes and ciphertext only;
// the old refresh token is needed to open a row, and the shared secret
// with it.
func TestNothingUsableAtRest(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	db := c.db(t)
	a := c.replica(t, Options{DB: db})
	d := &descope{}
	got, err := a.Do(context.Background(), "old-refresh-token", d.refresh("old-refresh-token"))
	if err != nil {
		t.Fatal(err)
	}
	var hash, sessionHash, refreshHash string
	var sealed []byte
	if err := db.QueryRow(`SELECT token_hash, sealed, session_hash, refresh_hash FROM mda_refresh_handoffs`).
		Scan(&hash, &sealed, &sessionHash, &refreshHash); err != nil {
		t.Fatal(err)
	}
	row := strings.Join([]string{hash, string(sealed), sessionHash, refreshHash}, "|")
	for _, tok := range []string{"old-refresh-token", got.Session, got.Refresh} {
		if strings.Contains(row, tok) || bytes.Contains(sealed, []byte(tok)) {
			t.Errorf("the row contains %q", tok)
		}
	}
	if hash != hashToken("old-refresh-token") {
		t.Errorf("token_hash = %s, want the SHA-256 of the token", hash)
	}
	if _, err := a.open("old-refresh-token", hash, sealed); err != nil {
		t.Errorf("open with the old token: %v", err)
	}
	if _, err := a.open("another-refresh-token", hash, sealed); !errors.Is(err, errOpen) {
		t.Errorf("open with another token: %v, want errOpen", err)
	}
	if _, err := a.open("old-refresh-token", hashToken("moved"), sealed); !errors.Is(err, errOpen) {
		t.Errorf("open under another row's key: %v, want errOpen", err)
	}
	other, err := New(context.Background(), Options{DB: db, Secret: []byte("another-secret-0123456789abcdef-xyz")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.open("old-refresh-token", hash, sealed); !errors.Is(err, errOpen) {
		t.Errorf("open under another secret: %v, want errOpen", err)
	}
}

// TestAnotherSecretRefreshesItself: a replica configured with another
// secret cannot use the stored result and refreshes itself (which, with
// rotation, Descope refuses: replicas must share the secret).
func TestAnotherSecretRefreshesItself(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.replica(t, Options{})
	b := c.replica(t, Options{Secret: []byte("another-secret-0123456789abcdef-xyz")})
	d := &descope{}
	if _, err := a.Do(context.Background(), "r1", d.refresh("r1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Do(context.Background(), "r1", d.refresh("r1")); err == nil {
		t.Error("b used a result sealed under another secret")
	}
	if n := d.calls.Load(); n != 2 {
		t.Errorf("Descope refreshed %d times, want 2", n)
	}
}

// TestFailedRefreshLeavesNothing: a refresh that fails stores nothing, and
// the next replica asking refreshes itself; the error reaches the caller
// unchanged.
func TestFailedRefreshLeavesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.replica(t, Options{}), c.replica(t, Options{})
	errDown := errors.New("descope down")
	_, err := a.Do(context.Background(), "r1", func(context.Context) (Tokens, error) { return Tokens{}, errDown })
	if !errors.Is(err, errDown) {
		t.Fatalf("err = %v, want the refresh's error", err)
	}
	d := &descope{}
	if _, err := b.Do(context.Background(), "r1", d.refresh("r1")); err != nil {
		t.Fatal(err)
	}
	if n := d.calls.Load(); n != 1 {
		t.Errorf("Descope refreshed %d times after the failure, want 1", n)
	}
}

// TestWaitersGetTheResultOfASlowRefresh: while one replica's refresh is in
// flight, the others wait for it rather than refresh.
func TestWaitersGetTheResultOfASlowRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.replica(t, Options{}), c.replica(t, Options{})
	d := &descope{delay: 500 * time.Millisecond}
	aDone := make(chan Tokens, 1)
	go func() {
		t, _ := a.Do(context.Background(), "r1", d.refresh("r1"))
		aDone <- t
	}()
	for d.calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	got, err := b.Do(context.Background(), "r1", d.refresh("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := <-aDone; got.Session != want.Session || got.Refresh != want.Refresh || !got.Until.Equal(want.Until.Truncate(time.Microsecond)) {
		t.Errorf("b got %+v, a %+v", got, want)
	}
	if n := d.calls.Load(); n != 1 {
		t.Errorf("Descope refreshed %d times, want 1", n)
	}
}

// TestDeadRefresherIsTakenOver: a replica that stops talking to the
// database in the middle of a refresh (it died, or lost the network) holds
// the others up for HoldTimeout at most; then one of them refreshes.
func TestDeadRefresherIsTakenOver(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hold := time.Second
	a, b := c.replica(t, Options{HoldTimeout: hold}), c.replica(t, Options{HoldTimeout: hold})
	stuck := make(chan struct{})
	defer close(stuck)
	inside := make(chan struct{})
	go func() {
		_, _ = a.Do(context.Background(), "r1", func(context.Context) (Tokens, error) {
			close(inside)
			<-stuck
			return Tokens{}, errors.New("never")
		})
	}()
	<-inside
	start := time.Now()
	d := &descope{}
	if _, err := b.Do(context.Background(), "r1", d.refresh("r1")); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	if n := d.calls.Load(); n != 1 {
		t.Errorf("b refreshed %d times, want 1", n)
	}
	if waited < hold/2 || waited > hold+5*time.Second {
		t.Errorf("b waited %s for the stuck replica, want about %s", waited, hold)
	}
	t.Logf("b took over after %s", waited.Round(time.Millisecond))
}

// TestForgetAtSignOut: once the tokens a refresh handed out are signed out,
// the old refresh token gets nothing from the store (whichever of the
// tokens sign-out names).
func TestForgetAtSignOut(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.replica(t, Options{}), c.replica(t, Options{})
	for _, which := range []string{"old", "session", "refresh"} {
		t.Run(which, func(t *testing.T) {
			old := "r-" + which
			d := &descope{}
			got, err := a.Do(context.Background(), old, d.refresh(old))
			if err != nil {
				t.Fatal(err)
			}
			forget := map[string]string{"old": old, "session": got.Session, "refresh": got.Refresh}[which]
			if err := a.Forget(context.Background(), forget); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Do(context.Background(), old, d.refresh(old)); err == nil {
				t.Error("the old refresh token still got tokens after sign-out")
			}
		})
	}
}

// TestResultsExpireAndArePruned: a result is handed out for TTL (or until
// the session it holds expires, if sooner), then deleted.
func TestResultsExpireAndArePruned(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	db := c.db(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := c.replica(t, Options{DB: db, TTL: 30 * time.Second, Now: clock})
	b := c.replica(t, Options{TTL: 30 * time.Second, Now: clock})
	d := &descope{}
	if _, err := a.Do(context.Background(), "r1", d.refresh("r1")); err != nil {
		t.Fatal(err)
	}
	// The session expires before TTL.
	short := func(context.Context) (Tokens, error) {
		return Tokens{Session: "s", Refresh: "r", Until: clock().Add(5 * time.Second)}, nil
	}
	if _, err := a.Do(context.Background(), "r2", short); err != nil {
		t.Fatal(err)
	}
	advance(29 * time.Second)
	if _, err := b.Do(context.Background(), "r1", d.refresh("r1")); err != nil {
		t.Errorf("within TTL: %v", err)
	}
	n := d.calls.Load()
	if _, err := b.Do(context.Background(), "r2", d.refresh("r2")); err != nil || d.calls.Load() != n+1 {
		t.Errorf("a result whose session expired was handed out (err %v)", err)
	}
	advance(2 * time.Second)
	if _, err := b.Do(context.Background(), "r1", d.refresh("r1")); err == nil {
		t.Error("after TTL: the result was still handed out")
	}
	// b's first successful Do pruned nothing (within TTL); a minute on,
	// the next one prunes.
	advance(2 * time.Minute)
	if _, err := b.Do(context.Background(), "r3", d.refresh("r3")); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM mda_refresh_handoffs`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d rows after pruning, want 1 (r3's)", rows)
	}
}

// TestDatabaseDownRefreshesWithoutSharing: without the database, a
// replica behaves as a single one would.
func TestDatabaseDownRefreshesWithoutSharing(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	db := c.db(t)
	a := c.replica(t, Options{DB: db})
	db.Close()
	d := &descope{}
	got, err := a.Do(context.Background(), "r1", d.refresh("r1"))
	if err != nil || got.Session == "" {
		t.Fatalf("Do = %+v, %v; want a refresh", got, err)
	}
	if s := a.Stats(); s.Fallbacks != 1 || s.Refreshed != 0 {
		t.Errorf("stats %+v, want one fallback", s)
	}
}
