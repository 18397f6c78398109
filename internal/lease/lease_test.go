package lease

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// runs records which replica runs the job when, and notices overlaps.
type runs struct {
	mu      sync.Mutex
	running string
	overlap []string
	started []started
}

type started struct {
	who string
	at  time.Time
}

func (r *runs) job(who string) func(context.Context) error {
	return func(ctx context.Context) error {
		r.mu.Lock()
		if r.running != "" {
			r.overlap = append(r.overlap, r.running+" and "+who)
		}
		r.running = who
		r.started = append(r.started, started{who, time.Now()})
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		if r.running == who {
			r.running = ""
		}
		r.mu.Unlock()
		return nil
	}
}

func (r *runs) current() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

type replica struct {
	lease  *Lease
	db     *sql.DB
	cancel context.CancelFunc
	done   chan error
}

func startReplica(t *testing.T, db *sql.DB, name string, ttl time.Duration, r *runs) *replica {
	t.Helper()
	l, err := New(context.Background(), Options{DB: db, Dialect: "postgres", Name: "usersync", Holder: name, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rep := &replica{lease: l, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { rep.done <- l.Run(ctx, r.job(name)) }()
	t.Cleanup(func() { cancel(); <-rep.done })
	return rep
}

func waitFor(t *testing.T, within time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if f() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, within)
	return 0
}

// TestOneReplicaRunsTheJob: three replicas compete; exactly one runs the
// job, the others name it. When the holder loses the database (as if it
// died or was cut off, without releasing anything), it stops the job, and
// another replica takes over within TTL×5/4 and never while the first
// still runs it. When a holder shuts down, another takes over at once.
func TestOneReplicaRunsTheJob(t *testing.T) {
	dsn := testenv.RequirePostgres(t)
	schema := testenv.FreshSchema(t, dsn, "lease_test_")
	// Long enough that a takeover by expiry (at least TTL×3/4 after the
	// holder's last renewal) and one after a release (within TTL/4) differ.
	const ttl = 2 * time.Second
	r := &runs{}
	reps := map[string]*replica{}
	for i := range 3 {
		name := fmt.Sprintf("replica-%d", i)
		reps[name] = startReplica(t, testenv.OpenSchema(t, dsn, schema), name, ttl, r)
	}
	waitFor(t, 5*time.Second, "a replica runs the job", func() bool { return r.current() != "" })
	first := r.current()
	// Let a few renewals pass: the job stays where it is.
	time.Sleep(2 * ttl)
	if got := r.current(); got != first {
		t.Fatalf("the job moved from %s to %s without a failure", first, got)
	}
	for name, rep := range reps {
		st := rep.lease.Status()
		if !st.Shared || st.Holder != first || st.Here != (name == first) || st.Self != name {
			t.Errorf("%s sees %+v; want holder %s", name, st, first)
		}
	}

	// The holder loses the database.
	reps[first].db.Close()
	var second string
	took := waitFor(t, 3*ttl, "another replica takes over", func() bool {
		second = r.current()
		return second != "" && second != first
	})
	t.Logf("%s took over %s after %s lost the database", second, took.Round(time.Millisecond), first)
	if took > ttl*5/4+ttl/2 {
		t.Errorf("takeover after %s, want within about TTL×5/4 = %s", took, ttl*5/4)
	}
	if reps[first].lease.Held() {
		t.Errorf("%s still believes it holds the lease", first)
	}

	// The new holder shuts down cleanly: the last one takes over at once.
	reps[second].cancel()
	<-reps[second].done
	reps[second].done <- nil // for the cleanup
	took = waitFor(t, 3*ttl, "the last replica takes over", func() bool {
		c := r.current()
		return c != "" && c != first && c != second
	})
	if took > ttl/2 {
		t.Errorf("takeover after a clean shutdown took %s, want about TTL/4 = %s (not an expiry)", took, ttl/4)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlap) > 0 {
		t.Errorf("the job ran on two replicas at once: %v", r.overlap)
	}
	if len(r.started) != 3 {
		t.Errorf("job started %d times (%v), want 3", len(r.started), r.started)
	}
}

// TestWithoutASharedDatabaseTheJobRunsHere: SQLite (a single replica) or
// no database: no lease row, the job runs at once.
func TestWithoutASharedDatabaseTheJobRunsHere(t *testing.T) {
	for _, dialect := range []string{"", "sqlite"} {
		l, err := New(context.Background(), Options{Dialect: dialect, Name: "usersync", Holder: "only"})
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan bool, 1)
		err = l.Run(context.Background(), func(context.Context) error {
			ran <- l.Held()
			return nil
		})
		if err != nil || !<-ran {
			t.Errorf("%q: Run = %v, job ran holding the lease: false", dialect, err)
		}
		if st := l.Status(); st.Shared || st.Self != "only" {
			t.Errorf("%q: status %+v", dialect, st)
		}
	}
}
