package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// window is one fault as it happened: injected at start, undone at cleared,
// and harmless again (by its canary) recovery after cleared. Failures are
// expected from start to cleared+recovery+slack: slack covers requests
// already waiting on the broken dependency when it came back (a Descope call
// the gateway gives up on after 10 s).
type window struct {
	name     string
	what     string // how the fault was made, for the report
	at, dur  time.Duration
	slack    time.Duration
	canary   string // which canary tells recovery: "api" (both replicas), "refresh", "replica", or "audit" (set by the fault itself)
	start    time.Duration
	cleared  time.Duration
	recovery time.Duration
	inject   func(context.Context) error
	clear    func(context.Context) error
	injected bool
	// measured is closed when a recovery the fault measures itself is
	// known (nil otherwise).
	measured chan struct{}
}

// end is when failures stop being this fault's. The audit database's
// recovery (its backlog written) is no reason for a request to fail, so it
// does not widen the window.
func (w *window) end() time.Duration {
	if w.canary == "audit" {
		return w.cleared + w.slack
	}
	return w.cleared + w.recovery + w.slack
}

// covers reports whether a request that ran from start to end overlapped
// the window: a request sent just before a fault can be the one waiting on
// the broken dependency when it breaks.
func (w *window) covers(start, end time.Duration) bool {
	return w.injected && start <= w.end() && end >= w.start
}

// schedule builds the run's faults, spread over d as on the 60 s plan.
func schedule(d time.Duration, s *sim, db *tcpProxy, auditDSN string, rec *recorder, a, b *gateway, gwBin string, replicaSig syscall.Signal) []*window {
	scale := func(sec float64) time.Duration { return time.Duration(sec / 60 * float64(d)) }
	descope := func(status, retryAfter, delayMs int, paths ...string) func(context.Context) error {
		return func(ctx context.Context) error {
			var fs []fault
			for _, p := range paths {
				fs = append(fs, fault{PathPrefix: p, Status: status, RetryAfter: retryAfter, DelayMs: delayMs})
			}
			return s.inject(ctx, fs...)
		}
	}
	clearDescope := func(ctx context.Context) error { return s.clearFaults(ctx) }
	auth := []string{"/v1/auth/refresh", "/v1/auth/accesskey/exchange"}
	return []*window{
		{name: "descope_5xx", what: "refresh and access-key exchange answer 503", at: scale(3), dur: scale(4), slack: 2 * time.Second, canary: "refresh",
			inject: descope(503, 0, 0, auth...), clear: clearDescope},
		{name: "descope_429", what: "refresh and exchange answer 429 with Retry-After: 2", at: scale(10), dur: scale(4), slack: 3 * time.Second, canary: "refresh",
			inject: descope(429, 2, 0, auth...), clear: clearDescope},
		{name: "jwks_down", what: "GET /v2/keys answers 500, then hangs 12 s (timeouts)", at: scale(17), dur: scale(4), slack: 13 * time.Second, canary: "api",
			inject: func(ctx context.Context) error {
				if err := s.inject(ctx, fault{PathPrefix: "/v2/keys/", Status: 500}); err != nil {
					return err
				}
				time.AfterFunc(scale(2), func() {
					_ = s.clearFaults(context.Background())
					_ = s.inject(context.Background(), fault{PathPrefix: "/v2/keys/", DelayMs: 12000})
				})
				return nil
			}, clear: clearDescope},
		{name: "descope_timeouts", what: "refresh and exchange hang 11 s (the gateway gives up at 10 s)", at: scale(24), dur: scale(4), slack: 12 * time.Second, canary: "refresh",
			inject: descope(0, 0, 11000, auth...), clear: clearDescope},
		auditOutage(scale(30), db, rec, auditDSN),
		{name: "replica_restart", what: fmt.Sprintf("replica B stopped with %s, then started again", sigName(replicaSig)), at: scale(36), slack: 2 * time.Second, canary: "replica",
			inject: func(context.Context) error { b.stop(replicaSig); return nil },
			clear:  func(ctx context.Context) error { return restart(ctx, b, gwBin) }},
		{name: "mlflow_killed", what: "SIGKILL to the MLflow child's process group (replica A's supervisor restarts it)", at: scale(44), slack: 2 * time.Second, canary: "api",
			inject: func(context.Context) error {
				pid, _, err := a.mlflowChild()
				if err != nil {
					return err
				}
				return syscall.Kill(-pid, syscall.SIGKILL)
			}, clear: func(context.Context) error { return nil }},
	}
}

// restart starts g again as a process supervisor (systemd, Kubernetes)
// would: a replica that exits at start (it does while its database is
// unreachable: it could not know who signed out) is started again a second
// later, for up to 4 minutes.
func restart(ctx context.Context, g *gateway, bin string) error {
	deadline := time.Now().Add(4 * time.Minute)
	for {
		err := g.start(ctx, bin, time.Until(deadline))
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if g.proc().exited() == nil {
			return err // not an exit: it never became ready
		}
		time.Sleep(time.Second)
	}
}

// auditOutage cuts the audit database for 5 s. Its recovery is how long
// after the database came back every request answered during the outage
// had its audit event stored (the writers' backlog written), read from the
// database directly.
func auditOutage(at time.Duration, db *tcpProxy, rec *recorder, dsn string) *window {
	w := &window{name: "audit_db_down", what: "every connection to PostgreSQL cut and new ones refused for 5 s",
		at: at, dur: 5 * time.Second, slack: 2 * time.Second, canary: "audit", measured: make(chan struct{})}
	w.inject = func(context.Context) error { db.pause(); return nil }
	w.clear = func(ctx context.Context) error {
		db.resume()
		var during []string
		for _, s := range rec.all() {
			if s.reqID != "" && s.end >= w.start {
				during = append(during, s.reqID)
			}
		}
		go func() {
			defer close(w.measured)
			resumed := time.Now()
			for time.Since(resumed) < 2*time.Minute {
				if ids, _, err := auditRequestIDs(ctx, dsn); err == nil {
					all := true
					for _, id := range during {
						all = all && ids[id] > 0
					}
					if all {
						w.recovery = time.Since(resumed)
						return
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			w.recovery = 2 * time.Minute
		}()
		return nil
	}
	return w
}

func sigName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// runSchedule injects and clears every fault at its time, relative to t0,
// each on its own timer: a slow one (a replica draining) does not push the
// next one back.
func runSchedule(ctx context.Context, ws []*window, rec *recorder, logf func(string, ...any)) error {
	errs := make(chan error, len(ws))
	for _, w := range ws {
		go func() { errs <- runFault(ctx, w, rec, logf) }()
	}
	var first error
	for range ws {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func runFault(ctx context.Context, w *window, rec *recorder, logf func(string, ...any)) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Until(rec.t0.Add(w.at))):
	}
	w.start = rec.since(time.Now())
	if err := w.inject(ctx); err != nil {
		return fmt.Errorf("soak: inject %s: %w", w.name, err)
	}
	w.injected = true
	logf("t=%5.1fs fault %s: %s", w.start.Seconds(), w.name, w.what)
	if w.dur > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(w.dur):
		}
	}
	if err := w.clear(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("soak: clear %s: %w", w.name, err)
	}
	w.cleared = rec.since(time.Now())
	logf("t=%5.1fs fault %s cleared", w.cleared.Seconds(), w.name)
	return nil
}
