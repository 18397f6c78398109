package main

import (
	"sync"
	"time"
)

// expectation is what the answer to a request must be.
type expectation uint8

const (
	mustPass   expectation = iota // a 401/403 is a wrong decision
	mustRefuse                    // a 2xx is a wrong decision
)

// sample is one request and its answer.
type sample struct {
	start, end time.Duration // since the load started
	class      string        // ui, key, attack, canary
	op         string
	gw         string
	status     int // 0: no HTTP answer (connection refused, reset, timeout)
	exp        expectation
	reqID      string // X-Request-Id of the answer
	err        string // transport error, shortened
}

// recorder keeps every sample of the run (a minute of load is tens of
// thousands: small).
type recorder struct {
	t0 time.Time
	mu sync.Mutex
	s  []sample
}

func (r *recorder) since(t time.Time) time.Duration { return t.Sub(r.t0) }

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.s = append(r.s, s)
	r.mu.Unlock()
}

func (r *recorder) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sample(nil), r.s...)
}

// wrong reports whether the answer contradicts the expectation.
func (s sample) wrong() bool {
	switch s.exp {
	case mustRefuse:
		return s.status >= 200 && s.status < 300
	default:
		return s.status == 401 || s.status == 403
	}
}

// failed reports a 5xx or no answer at all.
func (s sample) failed() bool { return s.status == 0 || s.status >= 500 }
