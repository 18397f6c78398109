// Package ratelimit keeps bounded per-key token buckets: per client IP or per
// identity, for sign-ins, failed authentications and access-key exchanges.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows burst events at once per key and refills one event every
// period. It remembers at most max keys; when full, it forgets keys whose
// bucket has refilled, then arbitrary ones, so a flood of distinct keys costs
// bounded memory and bounded time.
type Limiter struct {
	every time.Duration
	burst float64
	max   int
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter. now may be nil (time.Now).
func New(burst int, every time.Duration, max int, now func() time.Time) *Limiter {
	if burst < 1 {
		burst = 1
	}
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, burst: float64(burst), max: max, now: now, m: make(map[string]*bucket)}
}

// Allow takes one event for key. When the bucket is empty it returns false
// and how long until the next event would be allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return false, wait
}

// Blocked reports whether key's bucket is empty, without taking an event.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		return false, 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) * float64(l.every))
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if l.every <= 0 {
		b.tokens = l.burst
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// evict makes room in one sweep, so its cost is shared by many inserts:
// every key whose bucket is full again goes (forgetting it changes nothing),
// then arbitrary keys until a tenth of the room is free.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.m {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
	target := l.max - max(1, l.max/10)
	for k := range l.m {
		if len(l.m) <= target {
			break
		}
		delete(l.m, k)
	}
}
