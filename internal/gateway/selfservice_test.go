package gateway

import (
	"net/http"
	"sync"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// selfServiceSpy records what the gateway handed the self-service handler.
type selfServiceSpy struct {
	mu     sync.Mutex
	calls  int
	id     *Identity
	origin string
}

func (s *selfServiceSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.id = IdentityFrom(r.Context())
	s.origin = OriginFrom(r.Context())
	s.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func (s *selfServiceSpy) last() (int, *Identity, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.id, s.origin
}

// TestSelfServiceMount: the self-service paths reach Options.SelfService
// with the identity (or none, for a request without any credential), a bad
// credential is answered by the gateway, and a cookie-authenticated write
// must pass the cross-site rule; without the option the paths do not exist.
func TestSelfServiceMount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2ss")
	spy := &selfServiceSpy{}
	base := h.withOptions(t, func(o *Options) { o.SelfService = spy })
	c := browser(t)
	sess, ref := h.mint(t, "U2ss", descopesim.MintOptions{})
	// withOptions serves on its own origin: sign in there.
	body := `{"sessionJwt":"` + sess + `","refreshJwt":"` + ref + `","next":"/"}`
	if resp, _ := do(t, c, http.MethodPost, base+"/auth/session", map[string]string{"Content-Type": "application/json", "Origin": base}, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	anon := browser(t)
	tests := []struct {
		name     string
		c        *http.Client
		method   string
		path     string
		hdr      map[string]string
		reached  bool
		wantUser string
		status   int
	}{
		{"anonymous CLI call", anon, http.MethodPost, "/auth/cli/token", map[string]string{"Content-Type": "application/json"}, true, "", http.StatusTeapot},
		{"anonymous page", anon, http.MethodGet, "/auth/keys", nil, true, "", http.StatusTeapot},
		{"device page", anon, http.MethodGet, "/auth/device", nil, true, "", http.StatusTeapot},
		{"device code", anon, http.MethodPost, "/auth/device/code", nil, true, "", http.StatusTeapot},
		{"signed in", c, http.MethodGet, "/auth/keys", nil, true, "U2ss", http.StatusTeapot},
		{"same-origin write", c, http.MethodPost, "/auth/keys", map[string]string{"Origin": base}, true, "U2ss", http.StatusTeapot},
		{"cross-site write", c, http.MethodPost, "/auth/keys", map[string]string{"Origin": "https://evil.example"}, false, "", http.StatusForbidden},
		{"write without origin", c, http.MethodPost, "/auth/keys/K1/revoke", nil, false, "", http.StatusForbidden},
		{"bad bearer", anon, http.MethodGet, "/auth/keys", map[string]string{"Authorization": "Bearer eyJ.bad.token"}, false, "", http.StatusUnauthorized},
		{"bearer session token", anon, http.MethodPost, "/auth/keys", map[string]string{"Authorization": "Bearer " + sess}, true, "U2ss", http.StatusTeapot},
	}
	for _, tt := range tests {
		before, _, _ := spy.last()
		resp, _ := do(t, tt.c, tt.method, base+tt.path, tt.hdr, "")
		calls, id, origin := spy.last()
		if resp.StatusCode != tt.status || (calls > before) != tt.reached {
			t.Errorf("%s: status %d, reached %v; want %d, %v", tt.name, resp.StatusCode, calls > before, tt.status, tt.reached)
			continue
		}
		if !tt.reached {
			continue
		}
		got := ""
		if id != nil {
			got = id.UserID
		}
		if got != tt.wantUser || origin != base {
			t.Errorf("%s: handed user %q origin %q; want %q %q", tt.name, got, origin, tt.wantUser, base)
		}
	}
	// Without the option the paths are the gateway's 404, never MLflow's.
	n := h.up.count()
	for _, p := range []string{"/auth/keys", "/auth/cli/authorize", "/auth/device"} {
		if resp, _ := do(t, c, http.MethodGet, h.gw.URL+p, nil, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without SelfService: status %d, want 404", p, resp.StatusCode)
		}
	}
	if h.up.count() != n {
		t.Error("a self-service path reached MLflow")
	}
}
