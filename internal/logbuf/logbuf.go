// Package logbuf batches log lines into few write system calls: a Writer
// keeps what it is given in memory and writes it out when enough has
// gathered, after at most an interval, and on Close. At thousands of requests
// a second one access-log line per write(2) is a visible share of the
// gateway's CPU.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer is a buffered, periodically flushed io.Writer, safe for concurrent
// use. Each Write is kept whole: slog hands over one complete line per call.
type Writer struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	err    error // the first error of the underlying writer
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// New returns a Writer that writes to w when size bytes have gathered and at
// least every interval. Call Close to write out the rest.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	b := &Writer{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *Writer) flushEvery(d time.Duration) {
	defer close(b.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// Write buffers p. After the underlying writer failed, Write returns that
// error (logging has nowhere else to report it) and drops p.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.closed {
		// After Close (a late log line during shutdown): write through.
		if err := b.buf.Flush(); err != nil {
			b.err = err
			return 0, err
		}
	}
	// A line that does not fit in what is left goes out after what is
	// already buffered, never split across two system calls when avoidable.
	if len(p) > b.buf.Available() && b.buf.Buffered() > 0 {
		if err := b.buf.Flush(); err != nil {
			b.err = err
			return 0, err
		}
	}
	n, err := b.buf.Write(p)
	if err == nil && b.closed {
		err = b.buf.Flush()
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if err := b.buf.Flush(); err != nil {
		b.err = err
	}
	return b.err
}

// Close stops the periodic flush and writes out what is buffered. Writes
// after Close go straight through.
func (b *Writer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return b.Flush()
}
