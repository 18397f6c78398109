package naming_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// fakeMLflow holds MLflow's users by name.
type fakeMLflow struct {
	mu    sync.Mutex
	users map[string]bool
	down  atomic.Bool
	calls atomic.Int64
}

func newMLflow(names ...string) *fakeMLflow {
	m := &fakeMLflow{users: map[string]bool{}}
	for _, n := range names {
		m.users[n] = true
	}
	return m
}

func (m *fakeMLflow) User(_ context.Context, name string) (mlflow.User, error) {
	m.calls.Add(1)
	if m.down.Load() {
		return mlflow.User{}, fmt.Errorf("mlflow: %w", mlflow.ErrUnavailable)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.users[name] {
		return mlflow.User{}, fmt.Errorf("mlflow: get user: %w", mlflow.ErrNotFound)
	}
	return mlflow.User{Username: name}, nil
}

func (m *fakeMLflow) Users(context.Context) ([]mlflow.User, error) {
	if m.down.Load() {
		return nil, fmt.Errorf("mlflow: %w", mlflow.ErrUnavailable)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mlflow.User
	for n := range m.users {
		out = append(out, mlflow.User{Username: n})
	}
	return out, nil
}

// events keeps what a store reported.
type events struct {
	mu  sync.Mutex
	evs []event.Event
}

func (e *events) Handle(r *event.Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, r.Events...)
}

func (e *events) assigned() []event.UsernameAssigned {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event.UsernameAssigned
	for _, ev := range e.evs {
		if a, ok := ev.(event.UsernameAssigned); ok {
			out = append(out, a)
		}
	}
	return out
}

// database is one gateway database; open returns another handle on it (a
// replica).
type database struct {
	name string
	open func(t *testing.T) (*sql.DB, string)
}

func eachDatabase(t *testing.T, f func(t *testing.T, d database)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.db")
		f(t, database{name: "sqlite", open: func(t *testing.T) (*sql.DB, string) { return openDB(t, path, audit.Options{}) }})
	})
	dsn := testenv.PostgresDSN()
	if dsn == "" {
		t.Logf("%s not set: skipping PostgreSQL", testenv.PostgresDSNEnv)
		return
	}
	t.Run("postgres", func(t *testing.T) {
		schema := testenv.FreshSchema(t, dsn, "naming_test_")
		f(t, database{name: "postgres", open: func(t *testing.T) (*sql.DB, string) { return openDB(t, dsn, audit.Options{Schema: schema}) }})
	})
}

func openDB(t *testing.T, uri string, opts audit.Options) (*sql.DB, string) {
	t.Helper()
	s, err := audit.Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatalf("open audit store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(audit.SQLBacked).SQL()
}

var reserved = naming.Reserved{Names: []string{"mlflow-descope-auth-admin"}, Prefixes: []string{"access-key-"}}

func newStore(t *testing.T, d database, o naming.Options) *naming.Store {
	t.Helper()
	o.DB, o.Dialect = d.open(t)
	if o.Reserved.Names == nil {
		o.Reserved = reserved
	}
	s, err := naming.New(context.Background(), o)
	if err != nil {
		t.Fatalf("naming.New: %v", err)
	}
	return s
}

func known(p naming.Profile) func(context.Context) (naming.Profile, error) {
	return func(context.Context) (naming.Profile, error) { return p, nil }
}

func assign(t *testing.T, s *naming.Store, userID string, p naming.Profile) naming.Record {
	t.Helper()
	r, err := s.Assign(context.Background(), userID, known(p))
	if err != nil {
		t.Fatalf("Assign(%s): %v", userID, err)
	}
	return r
}

func TestModes(t *testing.T) {
	p := naming.Profile{LoginID: "alice", Email: "alice@example.com"}
	phone := naming.Profile{LoginID: "+15551234567"}
	for _, c := range []struct {
		mode    naming.Mode
		p       naming.Profile
		want    string
		source  string
		because string
	}{
		{naming.ModeLoginID, p, "alice", naming.SourceLoginID, ""},
		{naming.ModeEmail, p, "alice@example.com", naming.SourceEmail, ""},
		{naming.ModeUserID, p, "U2alice", naming.SourceUserID, ""},
		{naming.ModeEmail, phone, "+15551234567", naming.SourceLoginID, "no email"},
		{naming.ModeLoginID, naming.Profile{}, "U2alice", naming.SourceUserID, "no loginId"},
	} {
		t.Run(fmt.Sprintf("%s/%s", c.mode, c.p.LoginID), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.db")
			s := newStore(t, database{open: func(t *testing.T) (*sql.DB, string) { return openDB(t, path, audit.Options{}) }},
				naming.Options{Mode: c.mode, MLflow: newMLflow()})
			r := assign(t, s, "U2alice", c.p)
			if r.Username != c.want || r.Source != c.source || !strings.Contains(r.Reason, c.because) {
				t.Errorf("got %q (source %s, reason %q), want %q (source %s, reason containing %q)", r.Username, r.Source, r.Reason, c.want, c.source, c.because)
			}
		})
	}
}

// TestNamesAreSticky: the name decided first stays, whatever the login ID
// becomes; the change is recorded and reported, and a new store (a
// restart, another replica) reads the same name.
func TestNamesAreSticky(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		evs := &events{}
		s := newStore(t, d, naming.Options{MLflow: newMLflow(), Events: evs})
		first := assign(t, s, "U2alice", naming.Profile{LoginID: "alice@example.com", Email: "alice@example.com"})
		if first.Username != "alice@example.com" {
			t.Fatalf("first name %q", first.Username)
		}
		if err := s.NoteProfile(ctx, "U2alice", naming.Profile{LoginID: "alice@new.example.com"}); err != nil {
			t.Fatal(err)
		}
		again := assign(t, s, "U2alice", naming.Profile{LoginID: "alice@new.example.com"})
		if again.Username != "alice@example.com" || again.LoginID != "alice@new.example.com" || again.FirstLoginID != "alice@example.com" {
			t.Errorf("after the login ID changed: %+v", again)
		}
		other := newStore(t, d, naming.Options{Mode: naming.ModeUserID, MLflow: newMLflow()})
		r, ok, err := other.Lookup(ctx, "U2alice")
		if err != nil || !ok || r.Username != "alice@example.com" || r.LoginID != "alice@new.example.com" {
			t.Errorf("another store (even in userId mode) reads %+v, %v, %v", r, ok, err)
		}
		var changed []event.LoginIDChanged
		for _, e := range evs.evs {
			if c, ok := e.(event.LoginIDChanged); ok {
				changed = append(changed, c)
			}
		}
		if len(changed) != 1 || changed[0].From != "alice@example.com" || changed[0].To != "alice@new.example.com" || changed[0].Username != "alice@example.com" {
			t.Errorf("login id change events: %+v", changed)
		}
		if a := evs.assigned(); len(a) != 1 || a[0].Username != "alice@example.com" {
			t.Errorf("assigned events: %+v", a)
		}
	})
}

// TestReassignedLoginIDGetsANewName: a login ID now held by another Descope
// user never brings the first user's name; the newcomer's name is distinct,
// readable, and the event says why.
func TestReassignedLoginIDGetsANewName(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		evs := &events{}
		s := newStore(t, d, naming.Options{MLflow: newMLflow(), Events: evs})
		assign(t, s, "U2alice", naming.Profile{LoginID: "alice@example.com"})
		r := assign(t, s, "U2newcomer", naming.Profile{LoginID: "alice@example.com"})
		if r.Username != "alice@example.com~2" {
			t.Errorf("newcomer's name %q, want alice@example.com~2", r.Username)
		}
		third := assign(t, s, "U2third", naming.Profile{LoginID: "Alice@Example.com"})
		if third.Username != "Alice@Example.com~3" {
			t.Errorf("a name differing by case: %q, want Alice@Example.com~3", third.Username)
		}
		a := evs.assigned()
		if len(a) != 3 || !strings.Contains(a[1].Reason, "another Descope user (U2alice)") {
			t.Errorf("events: %+v", a)
		}
	})
}

// TestReservedNamesAreNeverGiven: login IDs that are, or imitate, the
// gateway's admin account or an access key's user get the user ID.
func TestReservedNamesAreNeverGiven(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		s := newStore(t, d, naming.Options{MLflow: newMLflow()})
		for i, login := range []string{
			"mlflow-descope-auth-admin",
			"MLFLOW-DESCOPE-AUTH-ADMIN",
			"mlflow-descope-auth-\u0430dmin",
			"mIflow-descope-auth-admin",
			"access-key-K2abc",
			"Access-Key-K2abc",
			"\u0430ccess-key-K2abc",
			"alice\u202emoc.elpmaxe",
			"alice~2",
		} {
			id := fmt.Sprintf("U2r%d", i)
			r := assign(t, s, id, naming.Profile{LoginID: login})
			if r.Username != id || r.Source != naming.SourceFallback || r.Reason == "" {
				t.Errorf("login ID %q gave %q (source %s, reason %q), want the user ID", login, r.Username, r.Source, r.Reason)
			}
		}
	})
}

// TestLookAlikesOfUsersAreSuffixed: a name that looks like another user's
// (or like an MLflow user the gateway did not name) is not handed out as
// is.
func TestLookAlikesOfUsersAreSuffixed(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		m := newMLflow("carol@example.com")
		s := newStore(t, d, naming.Options{MLflow: m})
		assign(t, s, "U2bob", naming.Profile{LoginID: "bob@example.com"})
		for _, c := range []struct{ id, login, want string }{
			{"U2fake", "b\u043eb@example.com", "b\u043eb@example.com~2"},
			{"U2carol", "carol@example.com", "carol@example.com~2"},
		} {
			if r := assign(t, s, c.id, naming.Profile{LoginID: c.login}); r.Username != c.want {
				t.Errorf("%s: %q, want %q (reason %q)", c.login, r.Username, c.want, r.Reason)
			}
		}
	})
}

// TestUsersOfThePreviousReleaseKeepTheirNames: with no mapping, an MLflow
// user named by the user ID (what earlier releases made) is the user's, by
// Seed or at first use; the profile is not even asked for.
func TestUsersOfThePreviousReleaseKeepTheirNames(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		m := newMLflow("mlflow-descope-auth-admin", "access-key-K2key", "U2seeded", "U2late")
		evs := &events{}
		s := newStore(t, d, naming.Options{MLflow: m, Events: evs})
		if err := s.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		all, err := s.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range all {
			names = append(names, r.UserID+"="+r.Username+"/"+r.Source)
		}
		want := "U2late=U2late/seeded U2seeded=U2seeded/seeded"
		if got := strings.Join(names, " "); got != want {
			t.Errorf("seeded %q, want %q", got, want)
		}
		// A second seed (another replica, a restart) changes nothing; users
		// MLflow gets later through an older replica are adopted at first use.
		m.mu.Lock()
		m.users["U2rolling"] = true
		m.mu.Unlock()
		if err := newStore(t, d, naming.Options{MLflow: m}).Seed(ctx); err != nil {
			t.Fatal(err)
		}
		asked := false
		r, err := s.Assign(ctx, "U2rolling", func(context.Context) (naming.Profile, error) {
			asked = true
			return naming.Profile{LoginID: "rolling@example.com"}, nil
		})
		if err != nil || r.Username != "U2rolling" || r.Source != naming.SourceAdopted || asked {
			t.Errorf("adopted %+v, %v (profile asked: %v)", r, err, asked)
		}
		if r := assign(t, s, "U2seeded", naming.Profile{LoginID: "seeded@example.com"}); r.Username != "U2seeded" {
			t.Errorf("seeded user's name %q", r.Username)
		}
		if n := len(evs.assigned()); n != 3 {
			t.Errorf("%d assigned events, want 3 (two seeded, one adopted)", n)
		}
	})
}

// TestConcurrentFirstSignIns: replicas deciding at once give one user one
// name, one name to one user, and no two users names that look alike.
func TestConcurrentFirstSignIns(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		m := newMLflow()
		replicas := []*naming.Store{newStore(t, d, naming.Options{MLflow: m}), newStore(t, d, naming.Options{MLflow: m}), newStore(t, d, naming.Options{MLflow: m})}
		var wg sync.WaitGroup
		var mu sync.Mutex
		names := map[string]map[string]bool{} // user → names seen
		for i := range 30 {
			for j, user := range []string{"U2a", "U2b", "U2c", "U2d", "U2e", "U2f"} {
				login := "shared@example.com"
				if j%2 == 1 {
					login = "sh\u0430red@example.com" // a Cyrillic а
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := replicas[(i+j)%len(replicas)].Assign(ctx, user, known(naming.Profile{LoginID: login}))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if names[user] == nil {
						names[user] = map[string]bool{}
					}
					names[user][r.Username] = true
				}()
			}
		}
		wg.Wait()
		holders := map[string]string{}
		skeletons := map[string]string{}
		for user, ns := range names {
			if len(ns) != 1 {
				t.Errorf("%s got %d names: %v", user, len(ns), ns)
			}
			for n := range ns {
				if other, ok := holders[n]; ok {
					t.Errorf("%q given to %s and %s", n, other, user)
				}
				holders[n] = user
				if other, ok := skeletons[naming.Skeleton(n)]; ok {
					t.Errorf("%q (%s) looks like %q", n, user, other)
				}
				skeletons[naming.Skeleton(n)] = n
			}
		}
		if len(holders) != 6 {
			t.Errorf("names: %v", holders)
		}
	})
}

func TestFailures(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		m := newMLflow()
		s := newStore(t, d, naming.Options{MLflow: m})
		_, err := s.Assign(ctx, "U2x", func(context.Context) (naming.Profile, error) { return naming.Profile{}, naming.ErrNoProfile })
		if !errors.Is(err, naming.ErrNoProfile) {
			t.Errorf("no profile: %v", err)
		}
		m.down.Store(true)
		if _, err := s.Assign(ctx, "U2x", known(naming.Profile{LoginID: "x@example.com"})); !errors.Is(err, naming.ErrUnavailable) {
			t.Errorf("MLflow down: %v, want ErrUnavailable", err)
		}
		if _, ok, _ := s.Lookup(ctx, "U2x"); ok {
			t.Error("a name was decided while MLflow could not be asked")
		}
		m.down.Store(false)
		if r := assign(t, s, "U2x", naming.Profile{LoginID: "x@example.com"}); r.Username != "x@example.com" {
			t.Errorf("after MLflow came back: %q", r.Username)
		}
	})
}

func TestFind(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d database) {
		ctx := context.Background()
		s := newStore(t, d, naming.Options{MLflow: newMLflow(), Now: func() time.Time { return time.Unix(1700000000, 0) }})
		assign(t, s, "U2alice", naming.Profile{LoginID: "alice@example.com"})
		if err := s.NoteProfile(ctx, "U2alice", naming.Profile{LoginID: "alice.old@example.com"}); err != nil {
			t.Fatal(err)
		}
		assign(t, s, "U2new", naming.Profile{LoginID: "alice@example.com"})
		for q, want := range map[string]string{
			"U2alice":               "U2alice",
			"alice@example.com":     "U2alice U2new", // the username first, then the login ID's holder now
			"alice@example.com~2":   "U2new",
			"alice.old@example.com": "U2alice",
		} {
			rs, err := s.Find(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.UserID)
			}
			if got := strings.Join(ids, " "); got != want {
				t.Errorf("Find(%q) = %q, want %q", q, got, want)
			}
		}
	})
}
