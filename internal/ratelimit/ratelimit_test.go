package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestAllowAndRefill(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1000, 0)}
	l := New(3, time.Second, 10, c.now)
	for i := range 3 {
		if ok, _ := l.Allow("ip1"); !ok {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("ip1")
	if ok || wait != time.Second {
		t.Fatalf("4th event: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if ok, _ := l.Allow("ip2"); !ok {
		t.Error("another key shares the first key's bucket")
	}
	c.t = c.t.Add(1500 * time.Millisecond)
	if ok, _ := l.Allow("ip1"); !ok {
		t.Error("no refill after 1.5s")
	}
	if blocked, _ := l.Blocked("ip1"); !blocked {
		t.Error("Blocked = false with half a token left")
	}
}

func TestBoundedMemory(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1000, 0)}
	l := New(1, time.Minute, 100, c.now)
	for i := range 10000 {
		l.Allow("ip" + strconv.Itoa(i))
	}
	l.mu.Lock()
	n := len(l.m)
	l.mu.Unlock()
	if n > 100 {
		t.Fatalf("%d keys remembered, want at most 100", n)
	}
}
