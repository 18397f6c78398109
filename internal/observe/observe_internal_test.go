package observe

import (
	"sync"
	"testing"

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
