package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// flakyStore wraps a Store. While down it fails every Append; while gate is
// set, Append waits for the gate to close.
type flakyStore struct {
	Store
	down    atomic.Bool
	calls   atomic.Int64
	gateMu  sync.Mutex
	gate    chan struct{}
	invalid func(Event) bool // events the store itself refuses
}

var _ Store = (*flakyStore)(nil)

func (f *flakyStore) Append(ctx context.Context, evs []Event) error {
	f.calls.Add(1)
	f.gateMu.Lock()
	g := f.gate
	f.gateMu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.down.Load() {
		return errors.New("database is down")
	}
	for _, e := range evs {
		if f.invalid != nil && f.invalid(e) {
			return fmt.Errorf("%w: refused by test store", ErrInvalidEvent)
		}
	}
	return f.Store.Append(ctx, evs)
}

func openTestSQLite(t *testing.T) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "audit.db"), Options{})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestWriter(t *testing.T, s Store, opts WriterOptions) *Writer {
	t.Helper()
	if opts.RetryMin == 0 {
		opts.RetryMin = 5 * time.Millisecond
		opts.RetryMax = 20 * time.Millisecond
	}
	w, err := NewWriter(s, opts)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w
}

func ev(i int) Event {
	return Event{Action: ActionRequest, Outcome: OutcomeSuccess, RequestID: fmt.Sprint(i)}
}

func closeWithin(t *testing.T, w *Writer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestWriterConcurrent50k records 50,000 events from 50 goroutines through
// every backend and expects every one of them in one intact chain.
func TestWriterConcurrent50k(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testWriterConcurrent(t, b.open(t, b.fresh(t), Options{}))
		})
	}
}

func testWriterConcurrent(t *testing.T, s Store) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "test")
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	w := newTestWriter(t, s, WriterOptions{QueueSize: 65536, BatchSize: 500, FlushInterval: 50 * time.Millisecond, Metrics: m})
	const goroutines, each = 50, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if !w.Record(ev(g*each + i)) {
					t.Errorf("Record refused an event with room in the queue")
					return
				}
			}
		})
	}
	wg.Wait()
	closeWithin(t, w, time.Minute)
	st := w.Stats()
	want := WriterStats{Accepted: 50000, Written: 50000}
	if st != want {
		t.Errorf("Stats = %+v; want %+v", st, want)
	}
	res := mustVerify(t, s)
	if res.Checked != 50000 {
		t.Errorf("stored %d events; want 50000", res.Checked)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "test_audit_events_written_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 50000 {
				t.Errorf("%s = %v; want 50000", mf.GetName(), got)
			}
			return
		}
	}
	t.Errorf("metric test_audit_events_written_total not registered")
}

func TestWriterCloseDrains(t *testing.T) {
	t.Parallel()
	s := openTestSQLite(t)
	var out bytes.Buffer
	// A long flush interval and small batches: only Close's drain writes
	// the tail.
	w := newTestWriter(t, s, WriterOptions{BatchSize: 7, FlushInterval: time.Hour, Stdout: &out})
	for i := range 1000 {
		w.Record(ev(i))
	}
	closeWithin(t, w, 30*time.Second)
	if st := w.Stats(); st.Written != 1000 || st.Queued != 0 {
		t.Errorf("Stats after Close = %+v; want 1000 written, none queued", st)
	}
	if w.Record(ev(0)) {
		t.Errorf("Record after Close accepted an event")
	}
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped after a Record on a closed writer = %d; want 1", st.Dropped)
	}
	// Stdout has one JSON line per stored event, with ids and hashes.
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line %d: %v", n, err)
		}
		n++
		if e.ID != int64(n) || len(e.Hash) != 64 {
			t.Fatalf("stdout line %d: id %d, hash %q; want id %d and a hash", n, e.ID, e.Hash, n)
		}
	}
	if n != 1000 {
		t.Errorf("stdout lines = %d; want 1000", n)
	}
}

func TestWriterFullQueueDrops(t *testing.T) {
	t.Parallel()
	fs := &flakyStore{Store: openTestSQLite(t), gate: make(chan struct{})}
	w := newTestWriter(t, fs, WriterOptions{QueueSize: 10, BatchSize: 1, FlushInterval: time.Millisecond})
	// Wait until the writer is stuck in Append, then overfill the queue.
	w.Record(ev(-1))
	for fs.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	accepted := 0
	for i := range 100 {
		if w.Record(ev(i)) {
			accepted++
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 Records with a stuck store took %v; Record must not block", d)
	}
	st := w.Stats()
	if accepted != 10 || st.Dropped != 90 || w.QueueDepth() != 10 {
		t.Errorf("accepted %d, Stats %+v, depth %d; want 10 accepted, 90 dropped, depth 10", accepted, st, w.QueueDepth())
	}
	fs.gateMu.Lock()
	close(fs.gate)
	fs.gateMu.Unlock()
	closeWithin(t, w, 30*time.Second)
	if st := w.Stats(); st.Written != 11 || st.Failed != 0 {
		t.Errorf("Stats after Close = %+v; want 11 written (everything accepted)", st)
	}
}

func TestWriterStoreDownThenUp(t *testing.T) {
	t.Parallel()
	fs := &flakyStore{Store: openTestSQLite(t)}
	fs.down.Store(true)
	w := newTestWriter(t, fs, WriterOptions{BatchSize: 50, FlushInterval: time.Millisecond})
	for i := range 1000 {
		if !w.Record(ev(i)) {
			t.Fatalf("Record %d refused while the store is down and the queue has room", i)
		}
	}
	for fs.calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if st := w.Stats(); st.Written != 0 || st.Errors == 0 || st.Queued != 1000 {
		t.Errorf("Stats while down = %+v; want nothing written, errors counted, 1000 queued", st)
	}
	fs.down.Store(false)
	closeWithin(t, w, 30*time.Second)
	if st := w.Stats(); st.Written != 1000 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("Stats after recovery = %+v; want all 1000 written", st)
	}
	if res := mustVerify(t, fs); res.Checked != 1000 {
		t.Errorf("stored %d; want 1000", res.Checked)
	}
}

func TestWriterCloseTimeoutWhileDown(t *testing.T) {
	t.Parallel()
	fs := &flakyStore{Store: openTestSQLite(t)}
	fs.down.Store(true)
	w := newTestWriter(t, fs, WriterOptions{BatchSize: 10})
	for i := range 95 {
		w.Record(ev(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the store down: got %v; want DeadlineExceeded", err)
	}
	if st := w.Stats(); st.Failed != 95 || st.Queued != 0 {
		t.Errorf("Stats = %+v; want all 95 counted as failed", st)
	}
}

func TestWriterInvalidEvents(t *testing.T) {
	t.Parallel()
	fs := &flakyStore{Store: openTestSQLite(t), invalid: func(e Event) bool { return e.Reason == "poison" }}
	w := newTestWriter(t, fs, WriterOptions{BatchSize: 10, FlushInterval: time.Millisecond})
	if w.Record(Event{Action: "Bad Action", Outcome: OutcomeSuccess}) {
		t.Errorf("Record accepted an invalid event")
	}
	for i := range 10 {
		e := ev(i)
		if i == 3 {
			e.Reason = "poison"
		}
		w.Record(e)
	}
	closeWithin(t, w, 30*time.Second)
	if st := w.Stats(); st.Invalid != 1 || st.Failed != 1 || st.Written != 9 {
		t.Errorf("Stats = %+v; want 1 invalid, 1 failed (refused by the store), 9 written", st)
	}
}

func TestWriterCopiesMaps(t *testing.T) {
	t.Parallel()
	s := openTestSQLite(t)
	w := newTestWriter(t, s, WriterOptions{FlushInterval: time.Hour})
	d := map[string]string{"key_id": "K1"}
	r := Resources{ResourceRun: {"a"}}
	w.Record(Event{Action: ActionRequest, Outcome: OutcomeSuccess, Details: d, Resources: r})
	d["key_id"] = "changed"
	r[ResourceRun][0] = "changed"
	closeWithin(t, w, 10*time.Second)
	got := queryAll(t, s, Filter{})
	if len(got) != 1 || got[0].Details["key_id"] != "K1" || got[0].Resources[ResourceRun][0] != "a" {
		t.Errorf("stored %+v; want the values at Record time", got)
	}
}
