package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder counts the writes it receives.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) snapshot() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.writes
}

func TestBatchesAndKeepsEveryLine(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 4096, time.Hour) // no timed flush during the test
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				fmt.Fprintf(w, "goroutine=%d line=%03d padding=%s\n", g, i, strings.Repeat("x", 40))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, writes := rec.snapshot()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines, want 2000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "goroutine=") || !strings.HasSuffix(l, strings.Repeat("x", 40)) {
			t.Fatalf("torn line %q", l)
		}
	}
	// ~150 KB in 4 KB batches: about 40 writes instead of 2000.
	if writes > 100 {
		t.Errorf("%d writes for 2000 lines: not batched", writes)
	}
}

func TestFlushesWithinTheInterval(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 1<<16, 20*time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "one line")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if out, _ := rec.snapshot(); out == "one line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written out by the periodic flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAfterCloseWritesGoThrough(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 1<<16, time.Hour)
	fmt.Fprintln(w, "before")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, "after")
	if out, _ := rec.snapshot(); out != "before\nafter\n" {
		t.Errorf("got %q", out)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriterErrorIsReported(t *testing.T) {
	rec := &recorder{fail: errors.New("disk full")}
	w := New(rec, 16, time.Hour)
	defer w.Close()
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = fmt.Fprintln(w, "a line longer than sixteen bytes")
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}
