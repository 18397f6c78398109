package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestStoreConformance runs the one conformance suite against every backend.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, b)
		})
	}
}

func testStore(t *testing.T, b backend) {
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); testRoundTrip(t, b) })
	t.Run("Invalid", func(t *testing.T) { t.Parallel(); testInvalid(t, b) })
	t.Run("Filters", func(t *testing.T) { t.Parallel(); testFilters(t, b) })
	t.Run("Pagination", func(t *testing.T) { t.Parallel(); testPagination(t, b) })
	t.Run("ChainAcrossRestarts", func(t *testing.T) { t.Parallel(); testRestart(t, b) })
	t.Run("Tamper", func(t *testing.T) { t.Parallel(); testTamper(t, b) })
	t.Run("Prune", func(t *testing.T) { t.Parallel(); testPrune(t, b) })
	t.Run("LargeBatches", func(t *testing.T) { t.Parallel(); testLargeBatches(t, b) })
	t.Run("ConcurrentAppends", func(t *testing.T) { t.Parallel(); testConcurrent(t, b, 1) })
	t.Run("ConcurrentReplicas", func(t *testing.T) { t.Parallel(); testConcurrent(t, b, 2) })
}

func fullEvent() Event {
	return Event{
		Time:    time.Date(2026, 2, 3, 4, 5, 6, 789123456, time.FixedZone("x", 3600)),
		Action:  ActionRequest,
		Outcome: OutcomeDenied,
		Reason:  "mlflow_permission_denied",
		Actor: Actor{
			UserID: "U2abc", Username: "alice@example.com", LoginID: "Alice@Example.com", Method: MethodAccessKey,
		},
		ClientIP:  "203.0.113.7",
		RequestID: "req-1",
		Route:     "POST /api/2.0/mlflow/runs/log-batch",
		RPC:       "LogBatch",
		Resources: Resources{
			ResourceExperiment:   {"1", "7"},
			ResourceRun:          {"0a1b2c"},
			ResourceArtifactPath: {"model/MLmodel"},
			"empty":              {},
		},
		Status:       403,
		MLflowDenied: true,
		Latency:      1234567 * time.Nanosecond,
		Details:      map[string]string{"key_id": "K123", "token_hash": "sha256:ab", "note": "ünïcode \"quoted\""},
	}
}

func queryAll(t *testing.T, s Store, f Filter) []Event {
	t.Helper()
	var all []Event
	for {
		p, err := s.Query(context.Background(), f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		all = append(all, p.Events...)
		if p.NextCursor == "" {
			return all
		}
		f.Cursor = p.NextCursor
	}
}

func mustVerify(t *testing.T, s Store) VerifyResult {
	t.Helper()
	res, err := s.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.OK() {
		t.Fatalf("Verify: got problem %q at %d; want an intact chain", res.Problem, res.FirstBadID)
	}
	return res
}

func testRoundTrip(t *testing.T, b backend) {
	ctx := context.Background()
	clock := newTestClock()
	s := b.open(t, b.fresh(t), Options{Now: clock.Now})

	in := []Event{fullEvent(), {Action: ActionSignOut, Outcome: OutcomeSuccess}}
	if err := s.Append(ctx, in); err != nil {
		t.Fatalf("Append: %v", err)
	}
	want := []Event{fullEvent(), {Action: ActionSignOut, Outcome: OutcomeSuccess}}
	want[0].ID, want[0].Time = 1, want[0].Time.UTC().Truncate(time.Microsecond)
	delete(want[0].Resources, "empty")
	want[1].ID, want[1].Time = 2, clock.Now().UTC().Truncate(time.Microsecond)
	for i := range in {
		if in[i].ID != want[i].ID || in[i].Hash == "" || !in[i].Time.Equal(want[i].Time) {
			t.Errorf("Append set event %d to id %d, hash %q, time %v; want id %d, a hash, time %v",
				i, in[i].ID, in[i].Hash, in[i].Time, want[i].ID, want[i].Time)
		}
		want[i].Hash = in[i].Hash
	}
	got := queryAll(t, s, Filter{Ascending: true})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Query after Append: mismatch (-want +got):\n%s", diff)
	}
	if res := mustVerify(t, s); res.Checked != 2 || res.HeadID != 2 || res.HeadHash != in[1].Hash {
		t.Errorf("Verify = %+v; want 2 checked, head 2 with hash %s", res, in[1].Hash)
	}
	if err := s.Append(ctx, nil); err != nil {
		t.Errorf("Append(nil): %v", err)
	}
}

// testLargeBatches: batches of several insert chunks (the full chunk goes
// through a prepared statement, the rest is built per call) keep every
// field of every event, in order, twice over so the prepared statement is
// reused.
func testLargeBatches(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t, b.fresh(t), Options{})
	var want []Event
	for round := range 2 {
		batch := make([]Event, insertChunk*2+37)
		for i := range batch {
			e := fullEvent()
			e.RequestID = fmt.Sprintf("r%d-%d", round, i)
			e.Status = 200 + i%300
			batch[i] = e
		}
		if err := s.Append(ctx, batch); err != nil {
			t.Fatalf("Append of %d: %v", len(batch), err)
		}
		want = append(want, batch...)
	}
	got := queryAll(t, s, Filter{Ascending: true})
	if len(got) != len(want) {
		t.Fatalf("%d events stored, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != int64(i+1) || got[i].RequestID != want[i].RequestID || got[i].Status != want[i].Status ||
			got[i].Hash != want[i].Hash || got[i].Actor != want[i].Actor || got[i].Details["note"] != want[i].Details["note"] {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if res := mustVerify(t, s); res.Checked != len(want) {
		t.Errorf("Verify checked %d, want %d", res.Checked, len(want))
	}
}

func testInvalid(t *testing.T, b backend) {
	s := b.open(t, b.fresh(t), Options{})
	bad := []Event{
		{Action: ActionSignIn, Outcome: OutcomeSuccess},
		{Action: ActionSignIn, Outcome: OutcomeSuccess, Details: map[string]string{"session_token": "x"}},
	}
	err := s.Append(context.Background(), bad)
	if !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Append with a secret detail: got %v; want ErrInvalidEvent", err)
	}
	if got := queryAll(t, s, Filter{}); len(got) != 0 {
		t.Errorf("after a refused Append: got %d events; want none", len(got))
	}
}

func testFilters(t *testing.T, b backend) {
	ctx := context.Background()
	clock := newTestClock()
	s := b.open(t, b.fresh(t), Options{Now: clock.Now})
	t0 := clock.Now()
	evs := []Event{
		{Action: ActionSignIn, Outcome: OutcomeSuccess, Actor: Actor{UserID: "U1", Username: "alice", LoginID: "Alice@Corp.com"}},
		{Action: ActionRequest, Outcome: OutcomeDenied, Actor: Actor{UserID: "U2", Username: "bob", LoginID: "bob@corp.com"},
			Resources: Resources{ResourceExperiment: {"12"}, ResourceModel: {"churn", "fraud"}}},
		{Action: ActionRequest, Outcome: OutcomeSuccess, Actor: Actor{UserID: "U1", Username: "alice"},
			Resources: Resources{ResourceExperiment: {"1"}, ResourceRun: {"12"}}},
		{Action: ActionAuthFailure, Outcome: OutcomeFailure, Reason: "token_expired"},
		{Action: ActionRequest, Outcome: OutcomeError, Actor: Actor{Username: "carol"},
			Resources: Resources{ResourceModel: {"fraud-v2"}}},
	}
	for i := range evs {
		evs[i].Time = t0.Add(time.Duration(i) * time.Minute)
	}
	if err := s.Append(ctx, evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	tests := []struct {
		name string
		f    Filter
		want []int64 // ids, newest first
	}{
		{"all", Filter{}, []int64{5, 4, 3, 2, 1}},
		{"user by username", Filter{UserContains: "ALI"}, []int64{3, 1}},
		{"user by login id", Filter{UserContains: "corp.com"}, []int64{2, 1}},
		{"user by user id", Filter{UserContains: "u2"}, []int64{2}},
		{"action", Filter{Action: ActionRequest}, []int64{5, 3, 2}},
		{"outcome", Filter{Outcome: OutcomeDenied}, []int64{2}},
		{"resource in any kind", Filter{Resource: "12"}, []int64{3, 2}},
		{"resource exact, not a prefix", Filter{Resource: "fraud"}, []int64{2}},
		{"resource exact, not a substring", Filter{Resource: "2"}, nil},
		{"resource kind name does not match", Filter{Resource: ResourceExperiment}, nil},
		{"since inclusive", Filter{Since: t0.Add(3 * time.Minute)}, []int64{5, 4}},
		{"until exclusive", Filter{Until: t0.Add(1 * time.Minute)}, []int64{1}},
		{"since and until", Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{3, 2}},
		{"combined", Filter{UserContains: "alice", Action: ActionRequest, Resource: "1"}, []int64{3}},
		{"ascending", Filter{Action: ActionRequest, Ascending: true}, []int64{2, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, e := range queryAll(t, s, tt.f) {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Query(%+v) ids: (-want +got):\n%s", tt.f, diff)
			}
		})
	}
}

func testPagination(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t, b.fresh(t), Options{})
	var evs []Event
	for i := range 25 {
		evs = append(evs, Event{Action: ActionRequest, Outcome: OutcomeSuccess, RequestID: strconv.Itoa(i)})
	}
	if err := s.Append(ctx, evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	for _, asc := range []bool{false, true} {
		f := Filter{Limit: 10, Ascending: asc}
		var sizes []int
		var ids []int64
		for {
			p, err := s.Query(ctx, f)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			sizes = append(sizes, len(p.Events))
			for _, e := range p.Events {
				ids = append(ids, e.ID)
			}
			if p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
		}
		if diff := cmp.Diff([]int{10, 10, 5}, sizes); diff != "" {
			t.Errorf("ascending=%v page sizes (-want +got):\n%s", asc, diff)
		}
		for i, id := range ids {
			want := int64(25 - i)
			if asc {
				want = int64(i + 1)
			}
			if id != want {
				t.Fatalf("ascending=%v: position %d has id %d; want %d", asc, i, id, want)
			}
		}
	}
	p, err := s.Query(ctx, Filter{Limit: 5})
	if err != nil || len(p.Events) != 5 || p.NextCursor == "" {
		t.Errorf("Query(limit 5) = %d events, cursor %q, %v; want 5 and a cursor", len(p.Events), p.NextCursor, err)
	}
	p, err = s.Query(ctx, Filter{Limit: 25})
	if err != nil || len(p.Events) != 25 || p.NextCursor != "" {
		t.Errorf("Query(limit 25) = %d events, cursor %q, %v; want 25 and no cursor", len(p.Events), p.NextCursor, err)
	}
	for _, c := range []string{"x", "c-1", "12", "cabc"} {
		if _, err := s.Query(ctx, Filter{Cursor: c}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("Query(cursor %q): got %v; want ErrBadCursor", c, err)
		}
	}
}

func testRestart(t *testing.T, b backend) {
	ctx := context.Background()
	loc := b.fresh(t)
	s1 := b.open(t, loc, Options{})
	for range 3 {
		if err := s1.Append(ctx, []Event{{Action: ActionRefresh, Outcome: OutcomeSuccess}, {Action: ActionRequest, Outcome: OutcomeSuccess}}); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := b.open(t, loc, Options{}) // migrations already applied: must be a no-op
	evs := []Event{{Action: ActionSignOut, Outcome: OutcomeSuccess}}
	if err := s2.Append(ctx, evs); err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
	if evs[0].ID != 7 {
		t.Errorf("first id after reopen = %d; want 7", evs[0].ID)
	}
	if res := mustVerify(t, s2); res.Checked != 7 {
		t.Errorf("Verify checked %d; want 7", res.Checked)
	}
}

func testConcurrent(t *testing.T, b backend, replicas int) {
	ctx := context.Background()
	loc := b.fresh(t)
	stores := make([]Store, replicas)
	for i := range stores {
		stores[i] = b.open(t, loc, Options{})
	}
	const workers, batches, size = 8, 25, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			s := stores[w%replicas]
			for i := range batches {
				evs := make([]Event, size)
				for j := range evs {
					evs[j] = Event{Action: ActionRequest, Outcome: OutcomeSuccess, RequestID: fmt.Sprintf("w%d-%d-%d", w, i, j)}
				}
				if err := s.Append(ctx, evs); err != nil {
					errs <- err
					return
				}
				for j := 1; j < size; j++ {
					if evs[j].ID != evs[j-1].ID+1 {
						errs <- fmt.Errorf("batch ids not consecutive: %d then %d", evs[j-1].ID, evs[j].ID)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = workers * batches * size
	for i, s := range stores {
		if res := mustVerify(t, s); res.Checked != total || res.HeadID != total {
			t.Errorf("store %d: Verify = %+v; want %d records checked", i, res, total)
		}
	}
	seen := map[string]bool{}
	for _, e := range queryAll(t, stores[0], Filter{Limit: MaxLimit}) {
		seen[e.RequestID] = true
	}
	if len(seen) != total {
		t.Errorf("distinct events stored = %d; want %d", len(seen), total)
	}
}
