// Package observe turns what the gateway, provisioning, access-key exchange
// and the user sync report (internal/event) into audit events. Audit is an
// event.Sink; metrics are another (internal/metrics).
//
// The events a request's handlers record (sign-in, sign-out, refresh,
// authentication failures, and the self-service pages' keys and sign-ins
// from code) arrive with the request's record, when it has
// completed, and are written with its request ID, client address, status
// and latency filled in.
package observe

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Recorder takes events without blocking; *audit.Writer implements it.
type Recorder interface {
	Record(e audit.Event) bool
}

var _ Recorder = (*audit.Writer)(nil)

// Options configures an Audit sink.
type Options struct {
	Recorder Recorder
	// Now stamps events. Default time.Now.
	Now func() time.Time
}

// Audit records audit events. It implements event.Sink and is safe for
// concurrent use.
type Audit struct {
	rec Recorder
	now func() time.Time
}

var _ event.Sink = (*Audit)(nil)

// New returns an Audit sink writing to opts.Recorder.
func New(opts Options) (*Audit, error) {
	if opts.Recorder == nil {
		return nil, errors.New("observe: recorder is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Audit{rec: opts.Recorder, now: opts.Now}, nil
}

// Handle implements event.Sink. Each event becomes an audit event (those of
// a request completed with the request's fields), and a request event is
// recorded for every request forwarded to MLflow, every authenticated
// request the gateway itself refused, and every use of the admin pages.
func (a *Audit) Handle(r *event.Record) {
	for _, e := range r.Events {
		ev, ok := a.eventOf(e)
		if !ok {
			continue
		}
		if r.Request != nil {
			ev = complete(ev, r.Request)
		}
		a.record(ev)
	}
	if r.Request != nil && wantRequestEvent(r.Request) {
		a.record(requestEvent(r.Request))
	}
}

// eventOf is the audit event of one event; false for a type the audit
// trail does not keep.
func (a *Audit) eventOf(e event.Event) (audit.Event, bool) {
	var ev audit.Event
	switch e := e.(type) {
	case event.SignIn:
		ev = audit.Event{Action: audit.ActionSignIn, Outcome: audit.OutcomeSuccess, Actor: actor(e.Actor)}
	case event.SignOut:
		ev = audit.Event{Action: audit.ActionSignOut, Outcome: audit.OutcomeSuccess, Actor: actor(e.Actor)}
	case event.Refresh:
		ev = audit.Event{Action: audit.ActionRefresh, Outcome: audit.OutcomeSuccess, Actor: actor(e.Actor)}
	case event.AuthFailure:
		// A refused sign-in at /auth/session becomes a failed sign_in
		// event; the outcome (failure, denied, error) follows the status
		// the client got (complete).
		ev = audit.Event{Action: audit.ActionAuthFailure, Outcome: audit.OutcomeFailure,
			Reason: string(e.Reason), Actor: audit.Actor{Method: audit.Method(e.Method)}}
	case event.KeyExchange:
		ev = keyExchange(e)
	case event.ProvisionChange:
		ev = provisionChange(e)
	case event.SyncRun:
		ev = syncRun(e)
	case event.UsernameAssigned:
		ev = audit.Event{Action: audit.ActionAssignUsername, Outcome: audit.OutcomeSuccess,
			Actor:   audit.Actor{UserID: e.UserID, Username: e.Username, LoginID: loginOf(e.LoginID, e.Email), Method: audit.MethodSystem},
			Details: details("source", e.Source, "why", e.Reason)}
	case event.LoginIDChanged:
		ev = audit.Event{Action: audit.ActionLoginIDChanged, Outcome: audit.OutcomeSuccess,
			Actor:   audit.Actor{UserID: e.UserID, Username: e.Username, LoginID: e.To, Method: audit.MethodSystem},
			Details: details("from", e.From, "to", e.To)}
	case event.Started:
		ev = audit.Event{Action: audit.ActionConfig, Outcome: audit.OutcomeSuccess, Actor: system(), Details: e.Details}
	case event.KeyCreated:
		ev = keyCreated(e)
	case event.KeyRevoked:
		ev = keyRevoked(e)
	case event.CodeSignIn:
		ev = codeSignIn(e)
	default:
		return ev, false
	}
	return ev, true
}

func (a *Audit) record(e audit.Event) {
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	a.rec.Record(e)
}

// complete fills in what only the request's completion knows.
func complete(e audit.Event, info *event.Request) audit.Event {
	e.RequestID = info.ID
	e.ClientIP = clientIP(info)
	e.Route = route(info)
	e.Status = info.Status
	e.Latency = info.Elapsed
	if e.Action == audit.ActionAuthFailure {
		if info.Actor != nil && e.Actor.UserID == "" {
			m := e.Actor.Method
			e.Actor = actor(*info.Actor)
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
func reportedAsFailure(reason event.Reason) bool {
	switch reason {
	case event.ReasonCrossSite, event.ReasonReservedUsername, event.ReasonNotAdmin, event.ReasonStepUpRequired:
		return true
	}
	return false
}

func wantRequestEvent(info *event.Request) bool {
	if info.Proxied {
		return true
	}
	if info.Actor == nil {
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

func requestEvent(info *event.Request) audit.Event {
	e := audit.Event{
		Action:       audit.ActionRequest,
		Outcome:      outcomeOf(info.Status),
		Reason:       string(info.Reason),
		Actor:        actorOf(info.Actor),
		ClientIP:     clientIP(info),
		RequestID:    info.ID,
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
			e.Reason = string(event.ReasonMLflowPermissionDenied)
			if info.Status == http.StatusUnauthorized {
				e.Reason = string(event.ReasonMLflowUnauthenticated)
			}
		}
	}
	if info.Actor != nil && info.Actor.KeyID != "" {
		e.Details = map[string]string{"key_id": info.Actor.KeyID}
	}
	return e
}

func resources(info *event.Request) audit.Resources {
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
func route(info *event.Request) string {
	r := info.Route
	if info.Pattern != "" {
		r = info.Pattern
	}
	if info.Method == "" {
		return r
	}
	return info.Method + " " + r
}

func clientIP(info *event.Request) string {
	if !info.ClientIP.IsValid() {
		return ""
	}
	return info.ClientIP.String()
}

// actorOf is actor for an identity that may be absent.
func actorOf(id *event.Actor) audit.Actor {
	if id == nil {
		return audit.Actor{}
	}
	return actor(*id)
}

func actor(id event.Actor) audit.Actor {
	return audit.Actor{UserID: id.UserID, Username: id.Username, LoginID: loginOf(id.LoginID, id.Email), Method: audit.Method(id.Method)}
}

// loginOf is what the audit trail records as the login ID: the login ID,
// else the email.
func loginOf(loginID, email string) string {
	if loginID == "" {
		return email
	}
	return loginID
}

// details builds a Details map from key/value pairs, leaving out empty
// values.
func details(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
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
