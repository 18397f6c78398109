package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer. Zero fields take the defaults shown.
type WriterOptions struct {
	QueueSize     int           // events accepted but not yet written; default 65536
	BatchSize     int           // events per Store.Append; default 500
	FlushInterval time.Duration // longest wait before a partial batch is written; default 200ms
	RetryMin      time.Duration // first wait after a failed append; default 100ms
	RetryMax      time.Duration // longest wait between retries; default 10s
	// Logger receives append failures and drops. Default: discard.
	Logger *slog.Logger
	// Stdout, if set, receives every stored event as one JSON line (with its
	// id and hash) after it has been committed, for a SIEM to collect.
	Stdout io.Writer
	// Metrics, if set, is updated as events flow. See NewMetrics.
	Metrics *Metrics
	// Now stamps events recorded without a Time. Default time.Now.
	Now func() time.Time
}

// WriterStats are cumulative counts since NewWriter.
type WriterStats struct {
	Accepted uint64 // taken into the queue by Record
	Queued   uint64 // accepted and not yet written or failed (queue depth plus the batch in flight)
	Written  uint64 // committed to the store
	Dropped  uint64 // refused by Record: queue full or writer closed
	Invalid  uint64 // refused by Record: failed Event.Validate
	Failed   uint64 // accepted but lost: rejected by the store as invalid, or abandoned when Close's context ended
	Errors   uint64 // failed Store.Append attempts (each is retried)
}

// Writer records events asynchronously in batches. Record never blocks;
// one goroutine, owned by the Writer and stopped by Close, appends to the
// store and retries with backoff while the store is failing.
type Writer struct {
	store Store
	opts  WriterOptions
	log   *slog.Logger

	// queue holds pointers: a channel of 65,536 Event values is a 17 MB
	// ring buffer whose pages become resident as it cycles, even when it is
	// never more than a few events deep.
	queue chan *Event

	mu     sync.RWMutex // guards closed against Record's send
	closed bool
	stop   chan struct{} // closed by Close: drain and exit
	once   sync.Once

	ctx   context.Context // canceled when Close gives up
	abort context.CancelFunc
	done  chan struct{} // closed when the goroutine exits

	accepted, written, dropped, invalid, failed, errs atomic.Uint64
}

// NewWriter starts a Writer over store. The caller still owns store and
// closes it after Writer.Close.
func NewWriter(store Store, opts WriterOptions) (*Writer, error) {
	if store == nil {
		return nil, errors.New("audit: new writer: nil store")
	}
	if opts.QueueSize < 0 || opts.BatchSize < 0 || opts.FlushInterval < 0 || opts.RetryMin < 0 || opts.RetryMax < 0 {
		return nil, errors.New("audit: new writer: negative option")
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 65536
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 500
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 10 * time.Second
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store: store,
		opts:  opts,
		log:   log.With("component", "audit"),
		queue: make(chan *Event, opts.QueueSize),
		stop:  make(chan struct{}),
		ctx:   ctx,
		abort: cancel,
		done:  make(chan struct{}),
	}
	go w.run()
	return w, nil
}

// Record queues e for writing and reports whether it was accepted. It never
// blocks: when the queue is full, or the Writer is closed, e is dropped and
// counted. An event that fails Validate is refused and counted as Invalid.
// Record copies e's maps, so the caller may reuse them.
func (w *Writer) Record(e Event) bool {
	if e.Time.IsZero() {
		e.Time = w.opts.Now()
	}
	if err := e.Validate(); err != nil {
		w.invalid.Add(1)
		if m := w.opts.Metrics; m != nil {
			m.Invalid.Inc()
		}
		w.log.Warn("audit event refused", "action", string(e.Action), "error", err)
		return false
	}
	e.Details = maps.Clone(e.Details)
	if e.Resources != nil {
		r := make(Resources, len(e.Resources))
		for k, v := range e.Resources {
			r[k] = slices.Clone(v)
		}
		e.Resources = r
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.queue <- &e:
			w.accepted.Add(1)
			if m := w.opts.Metrics; m != nil {
				m.Accepted.Inc()
			}
			return true
		default:
		}
	}
	w.dropped.Add(1)
	if m := w.opts.Metrics; m != nil {
		m.Dropped.Inc()
	}
	return false
}

// QueueDepth is the number of events waiting in the queue.
func (w *Writer) QueueDepth() int { return len(w.queue) }

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	s := WriterStats{
		Dropped: w.dropped.Load(),
		Invalid: w.invalid.Load(),
		Errors:  w.errs.Load(),
	}
	// Load written and failed before accepted so Queued never underflows.
	s.Written = w.written.Load()
	s.Failed = w.failed.Load()
	s.Accepted = w.accepted.Load()
	s.Queued = s.Accepted - s.Written - s.Failed
	return s
}

// Close stops accepting events and waits until every accepted event is
// written. If ctx ends first (the store is down), the remaining events are
// abandoned, counted as Failed, and an error wrapping ctx.Err() is returned.
// Close is safe to call more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	failedBefore := w.failed.Load()
	w.abort()
	<-w.done
	if lost := w.failed.Load() - failedBefore; lost > 0 {
		return fmt.Errorf("audit: writer close: %d events not written: %w", lost, ctx.Err())
	}
	return nil // finished just as ctx ended
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	defer w.abort()
	ticker := time.NewTicker(w.opts.FlushInterval)
	defer ticker.Stop()
	batch := make([]Event, 0, w.opts.BatchSize)
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, *e)
			if len(batch) < w.opts.BatchSize {
				continue
			}
		case <-ticker.C:
			w.observeQueue()
			if len(batch) == 0 {
				continue
			}
		case <-w.stop:
			w.drain(batch)
			return
		}
		if !w.flush(batch) {
			w.drain(batch) // aborted by Close: drain counts the loss
			return
		}
		batch = batch[:0]
	}
}

// drain writes batch and everything left in the queue. Record no longer
// sends, so the queue only shrinks.
func (w *Writer) drain(batch []Event) {
	for {
		for len(batch) < w.opts.BatchSize && len(w.queue) > 0 {
			batch = append(batch, *<-w.queue)
		}
		if len(batch) == 0 {
			w.observeQueue()
			return
		}
		if w.ctx.Err() != nil || !w.flush(batch) {
			lost := uint64(len(batch) + len(w.queue))
			w.failed.Add(lost)
			if m := w.opts.Metrics; m != nil {
				m.Failed.Add(float64(lost))
			}
			w.log.Error("audit events abandoned at shutdown", "count", lost)
			return
		}
		batch = batch[:0]
	}
}

// flush appends batch, retrying with backoff until it succeeds or the
// writer is aborted (then it returns false and batch is not written).
func (w *Writer) flush(batch []Event) bool {
	wait := w.opts.RetryMin
	for {
		start := time.Now()
		err := w.store.Append(w.ctx, batch)
		if m := w.opts.Metrics; m != nil {
			m.AppendSeconds.Observe(time.Since(start).Seconds())
		}
		if err == nil {
			w.written.Add(uint64(len(batch)))
			if m := w.opts.Metrics; m != nil {
				m.Written.Add(float64(len(batch)))
			}
			w.observeQueue()
			w.emit(batch)
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if errors.Is(err, ErrInvalidEvent) {
			w.splitInvalid(batch, err)
			return true
		}
		w.errs.Add(1)
		if m := w.opts.Metrics; m != nil {
			m.AppendErrors.Inc()
		}
		w.log.Warn("audit append failed", "error", err, "events", len(batch),
			"queue_depth", len(w.queue), "retry_in", wait.String())
		select {
		case <-time.After(wait):
		case <-w.ctx.Done():
			return false
		}
		wait = min(wait*2, w.opts.RetryMax)
	}
}

// splitInvalid handles a batch the store refused as invalid: it retries the
// events one by one so that only the offending ones are lost.
func (w *Writer) splitInvalid(batch []Event, err error) {
	if len(batch) == 1 {
		w.failed.Add(1)
		if m := w.opts.Metrics; m != nil {
			m.Failed.Inc()
		}
		w.log.Error("audit event refused by store", "action", string(batch[0].Action), "error", err)
		return
	}
	for i := range batch {
		if !w.flush(batch[i : i+1]) {
			// Aborted by Close: the rest of this batch is lost.
			lost := uint64(len(batch) - i)
			w.failed.Add(lost)
			if m := w.opts.Metrics; m != nil {
				m.Failed.Add(float64(lost))
			}
			return
		}
	}
}

// emit writes the committed events to Stdout as JSON lines.
func (w *Writer) emit(batch []Event) {
	if w.opts.Stdout == nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range batch {
		if err := enc.Encode(&batch[i]); err != nil {
			w.log.Error("audit event not encoded for stdout", "id", batch[i].ID, "error", err)
		}
	}
	if _, err := w.opts.Stdout.Write(buf.Bytes()); err != nil {
		w.log.Error("audit events not written to stdout", "error", err)
	}
}

func (w *Writer) observeQueue() {
	if m := w.opts.Metrics; m != nil {
		m.QueueDepth.Set(float64(len(w.queue)))
	}
}
