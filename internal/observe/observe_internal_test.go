package observe

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
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
	alice := &gateway.Identity{UserID: "U2alice", Method: gateway.MethodCookie}
	tests := []struct {
		name string
		info gateway.RequestInfo
		want bool
	}{
		{"proxied", gateway.RequestInfo{Proxied: true, Route: "api", Identity: alice}, true},
		{"proxied anonymous (never happens)", gateway.RequestInfo{Proxied: true, Route: "api"}, true},
		{"anonymous refusal", gateway.RequestInfo{Route: "mlflow", Reason: "no_session", Status: 302}, false},
		{"unknown route refused", gateway.RequestInfo{Route: "api", Reason: "unknown_route", Status: 403, Identity: alice}, true},
		{"provisioning failed", gateway.RequestInfo{Route: "api", Status: 503, Identity: alice}, true},
		{"cross-site (auth_failure)", gateway.RequestInfo{Route: "mlflow", Reason: "cross_site", Status: 403, Identity: alice}, false},
		{"admin page", gateway.RequestInfo{Route: "auth_admin", Status: 200, Identity: alice}, true},
		{"admin page, not admin", gateway.RequestInfo{Route: "auth_admin", Reason: "not_admin", Status: 403, Identity: alice}, false},
		{"whoami", gateway.RequestInfo{Route: "auth_whoami", Status: 200, Identity: alice}, false},
		{"sign-in", gateway.RequestInfo{Route: "auth_session", Status: 200, Identity: alice}, false},
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

// A request that never reports its completion still has its held events
// written, when its context ends.
func TestHeldEventsWrittenWhenRequestEnds(t *testing.T) {
	t.Parallel()
	rec := &memRecorder{}
	a, err := New(Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, "POST", "/auth/session", nil)
	a.SignIn(r, &gateway.Identity{UserID: "U2bob", Method: gateway.MethodCookie})
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d events before the request ended", n)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	evs := rec.all()
	if len(evs) != 1 || evs[0].Action != audit.ActionSignIn || evs[0].Actor.UserID != "U2bob" {
		t.Fatalf("events = %+v", evs)
	}
	if a.Held() != 0 {
		t.Errorf("Held = %d; want 0", a.Held())
	}
}
