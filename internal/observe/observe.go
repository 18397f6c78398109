// Package observe turns what the gateway, provisioning, access-key exchange
// and the user sync report into audit events. It implements
// gateway.Observer; metrics are a separate observer (internal/metrics).
//
// The gateway's sign-in, sign-out, refresh and authentication-failure
// callbacks do not carry the request ID, client address, status or latency;
// the request's completion (Observer.Request) does. Events from those
// callbacks are therefore held per request and written when the request
// completes, with those fields filled in; if the completion never comes (an
// aborted handler), they are written when the request's context ends.
package observe

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
)

// Recorder takes events without blocking; *audit.Writer implements it.
type Recorder interface {
	Record(e audit.Event) bool
}

var _ Recorder = (*audit.Writer)(nil)

// Options configures an Audit observer.
type Options struct {
	Recorder Recorder
	// Now stamps events at the moment they happen. Default time.Now.
	Now func() time.Time
}

// Audit records audit events. It implements gateway.Observer and is safe
// for concurrent use.
type Audit struct {
	rec Recorder
	now func() time.Time

	mu      sync.Mutex
	pending map[context.Context]*held
	npend   atomic.Int64
}

// held are the events of one request waiting for its completion.
type held struct {
	events []audit.Event
	stop   func() bool
}

var _ gateway.Observer = (*Audit)(nil)

// New returns an Audit observer writing to opts.Recorder.
func New(opts Options) (*Audit, error) {
	if opts.Recorder == nil {
		return nil, errors.New("observe: recorder is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Audit{rec: opts.Recorder, now: opts.Now, pending: map[context.Context]*held{}}, nil
}

// Request implements gateway.Observer. It completes the request's held
// events and records a request event for every request forwarded to MLflow,
// every authenticated request the gateway itself refused, and every use of
// the admin pages.
func (a *Audit) Request(r *http.Request, info gateway.RequestInfo) {
	for _, e := range a.take(r.Context()) {
		a.record(complete(e, info))
	}
	if wantRequestEvent(info) {
		a.record(requestEvent(info))
	}
}

// SignIn implements gateway.Observer.
func (a *Audit) SignIn(r *http.Request, id *gateway.Identity) {
	a.hold(r.Context(), audit.Event{Action: audit.ActionSignIn, Outcome: audit.OutcomeSuccess, Actor: actor(id)})
}

// SignOut implements gateway.Observer. id is nil when the browser had no
// valid session.
func (a *Audit) SignOut(r *http.Request, id *gateway.Identity) {
	a.hold(r.Context(), audit.Event{Action: audit.ActionSignOut, Outcome: audit.OutcomeSuccess, Actor: actor(id)})
}

// Refresh implements gateway.Observer.
func (a *Audit) Refresh(r *http.Request, id *gateway.Identity) {
	a.hold(r.Context(), audit.Event{Action: audit.ActionRefresh, Outcome: audit.OutcomeSuccess, Actor: actor(id)})
}

// AuthFailure implements gateway.Observer. A refused sign-in at
// /auth/session becomes a failed sign_in event; the outcome (failure,
// denied, error) follows the status the client got.
func (a *Audit) AuthFailure(r *http.Request, method gateway.Method, reason string) {
	a.hold(r.Context(), audit.Event{Action: audit.ActionAuthFailure, Outcome: audit.OutcomeFailure,
		Reason: reason, Actor: audit.Actor{Method: audit.Method(method)}})
}

// Held reports how many requests have events waiting for their
// completion (for tests).
func (a *Audit) Held() int { return int(a.npend.Load()) }

func (a *Audit) record(e audit.Event) {
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	a.rec.Record(e)
}

// hold keeps e until the request whose context is ctx completes.
func (a *Audit) hold(ctx context.Context, e audit.Event) {
	e.Time = a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.pending[ctx]
	if !ok {
		h = &held{}
		a.pending[ctx] = h
		a.npend.Add(1)
		// Fallback for a request that never reports its completion.
		h.stop = context.AfterFunc(ctx, func() {
			for _, e := range a.take(ctx) {
				a.record(e)
			}
		})
	}
	h.events = append(h.events, e)
}

func (a *Audit) take(ctx context.Context) []audit.Event {
	if a.npend.Load() == 0 {
		return nil
	}
	a.mu.Lock()
	h, ok := a.pending[ctx]
	if ok {
		delete(a.pending, ctx)
		a.npend.Add(-1)
	}
	a.mu.Unlock()
	if !ok {
		return nil
	}
	h.stop()
	return h.events
}

// complete fills in what only the request's completion knows.
func complete(e audit.Event, info gateway.RequestInfo) audit.Event {
	e.RequestID = info.RequestID
	e.ClientIP = clientIP(info)
	e.Route = route(info)
	e.Status = info.Status
	e.Latency = info.Elapsed
	if e.Action == audit.ActionAuthFailure {
		if info.Identity != nil && e.Actor.UserID == "" {
			m := e.Actor.Method
			e.Actor = actor(info.Identity)
			if m != "" {
				e.Actor.Method = m
			}
		}
		e.Outcome = outcomeOf(info.Status)
		if e.Outcome == audit.OutcomeSuccess { // e.g. a redirect to the login page
			e.Outcome = audit.OutcomeFailure
		}
		if info.Route == "auth_session" {
			e.Action = audit.ActionSignIn
		}
	}
	return e
}

// reportedAsFailure are refusals of an identified caller that the gateway
// also reports through AuthFailure (or that are a step-up redirect).
func reportedAsFailure(reason string) bool {
	switch reason {
	case "cross_site", "reserved_username", "not_admin", "step_up_required":
		return true
	}
	return false
}

func wantRequestEvent(info gateway.RequestInfo) bool {
	if info.Proxied {
		return true
	}
	if info.Identity == nil {
		return false // anonymous: an auth_failure event, or nothing (no session yet)
	}
	switch {
	case info.Route == "auth_admin":
		return info.Reason == ""
	case strings.HasPrefix(info.Route, "auth_"), info.Route == "outside_prefix":
		return false // sign-in, sign-out and whoami have their own events or none
	default:
		return !reportedAsFailure(info.Reason)
	}
}

func requestEvent(info gateway.RequestInfo) audit.Event {
	e := audit.Event{
		Action:       audit.ActionRequest,
		Outcome:      outcomeOf(info.Status),
		Reason:       info.Reason,
		Actor:        actor(info.Identity),
		ClientIP:     clientIP(info),
		RequestID:    info.RequestID,
		Route:        route(info),
		RPC:          info.RPC,
		Resources:    resources(info),
		Status:       info.Status,
		MLflowDenied: info.MLflowDenied,
		Latency:      info.Elapsed,
	}
	if info.MLflowDenied {
		e.Outcome = audit.OutcomeDenied
		if e.Reason == "" {
			e.Reason = "mlflow_permission_denied"
			if info.Status == http.StatusUnauthorized {
				e.Reason = "mlflow_unauthenticated"
			}
		}
	}
	if info.Identity != nil && info.Identity.KeyID != "" {
		e.Details = map[string]string{"key_id": info.Identity.KeyID}
	}
	return e
}

func resources(info gateway.RequestInfo) audit.Resources {
	ids := info.IDs
	if ids.Empty() {
		return nil
	}
	return audit.Resources{
		audit.ResourceExperiment:   ids.ExperimentIDs,
		audit.ResourceRun:          ids.RunIDs,
		audit.ResourceModel:        ids.ModelNames,
		audit.ResourceModelVersion: ids.Versions,
		audit.ResourceLoggedModel:  ids.LoggedModelIDs,
		audit.ResourceArtifactPath: ids.ArtifactPaths,
		"trace_id":                 ids.TraceIDs,
	}
}

// route is the method and MLflow's route pattern (or, for routes the
// classifier does not know, the family or the gateway's own route name):
// never the raw path.
func route(info gateway.RequestInfo) string {
	r := info.Route
	if info.Pattern != "" {
		r = info.Pattern
	}
	if info.Method == "" {
		return r
	}
	return info.Method + " " + r
}

func clientIP(info gateway.RequestInfo) string {
	if !info.ClientIP.IsValid() {
		return ""
	}
	return info.ClientIP.String()
}

func actor(id *gateway.Identity) audit.Actor {
	if id == nil {
		return audit.Actor{}
	}
	login := id.LoginID
	if login == "" {
		login = id.Email
	}
	return audit.Actor{UserID: id.UserID, Username: id.Username, LoginID: login, Method: audit.Method(id.Method)}
}

// outcomeOf maps an HTTP status to an audit outcome.
func outcomeOf(status int) audit.Outcome {
	switch {
	case status < 400:
		return audit.OutcomeSuccess
	case status == http.StatusForbidden:
		return audit.OutcomeDenied
	case status >= 500:
		return audit.OutcomeError
	default:
		return audit.OutcomeFailure
	}
}
