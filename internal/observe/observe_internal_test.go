package observe

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

type memRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memRecorder) Record(e audit.Event) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return true
}

func (m *memRecorder) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}

func TestWantRequestEvent(t *testing.T) {
	t.Parallel()
	alice := &event.Actor{UserID: "U2alice", Method: event.MethodCookie}
	tests := []struct {
		name string
		info *event.Request
		want bool
	}{
		{"proxied", &event.Request{Proxied: true, Route: "api", Actor: alice}, true},
		{"proxied anonymous (never happens)", &event.Request{Proxied: true, Route: "api"}, true},
		{"anonymous refusal", &event.Request{Route: "mlflow", Reason: "no_session", Status: 302}, false},
		{"unknown route refused", &event.Request{Route: "api", Reason: "unknown_route", Status: 403, Actor: alice}, true},
		{"provisioning failed", &event.Request{Route: "api", Status: 503, Actor: alice}, true},
		{"cross-site (auth_failure)", &event.Request{Route: "mlflow", Reason: "cross_site", Status: 403, Actor: alice}, false},
		{"admin page", &event.Request{Route: "auth_admin", Status: 200, Actor: alice}, true},
		{"admin page, not admin", &event.Request{Route: "auth_admin", Reason: "not_admin", Status: 403, Actor: alice}, false},
		{"whoami", &event.Request{Route: "auth_whoami", Status: 200, Actor: alice}, false},
		{"sign-in", &event.Request{Route: "auth_session", Status: 200, Actor: alice}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := wantRequestEvent(tt.info); got != tt.want {
				t.Errorf("wantRequestEvent = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   audit.Outcome
	}{
		{200, audit.OutcomeSuccess}, {302, audit.OutcomeSuccess}, {400, audit.OutcomeFailure},
		{401, audit.OutcomeFailure}, {403, audit.OutcomeDenied}, {502, audit.OutcomeError}, {503, audit.OutcomeError},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.status); got != tt.want {
			t.Errorf("outcomeOf(%d) = %s; want %s", tt.status, got, tt.want)
		}
	}
}

// The events of a request are written when its record arrives, completed
// with what only the completion knows; a refused sign-in becomes a failed
// sign_in event.
func TestRequestEventsAreCompleted(t *testing.T) {
	t.Parallel()
	rec := &memRecorder{}
	a, err := New(Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	bob := &event.Actor{UserID: "U2bob", Method: event.MethodCookie}
	a.Handle(&event.Record{
		Request: &event.Request{ID: "req-1", Method: "POST", Route: "auth_session", Status: 200, Elapsed: time.Millisecond,
			ClientIP: netip.MustParseAddr("192.0.2.7"), Actor: bob},
		Events: []event.Event{event.SignIn{Actor: *bob}},
	})
	a.Handle(&event.Record{
		Request: &event.Request{ID: "req-2", Method: "POST", Route: "auth_session", Status: 401, Reason: "expired"},
		Events:  []event.Event{event.AuthFailure{Method: event.MethodCookie, Reason: "expired"}},
	})
	evs := rec.all()
	if len(evs) != 2 {
		t.Fatalf("events = %+v", evs)
	}
	if e := evs[0]; e.Action != audit.ActionSignIn || e.Actor.UserID != "U2bob" || e.RequestID != "req-1" ||
		e.ClientIP != "192.0.2.7" || e.Status != 200 || e.Route != "POST auth_session" || e.Latency != time.Millisecond {
		t.Errorf("sign-in = %+v", e)
	}
	if e := evs[1]; e.Action != audit.ActionSignIn || e.Outcome != audit.OutcomeFailure || e.Reason != "expired" || e.RequestID != "req-2" {
		t.Errorf("refused sign-in = %+v", e)
	}
}
