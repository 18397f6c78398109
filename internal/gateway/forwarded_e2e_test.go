package gateway_test

import (
	"net/http"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// TestNoRequestLooksLocalToMLflow: MLflow's assistant trusts a loopback
// client address, which uvicorn takes from X-Forwarded-For. Whatever the
// client or a proxy claims, what MLflow receives is never loopback.
func TestNoRequestLooksLocalToMLflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2local")
	tok, _ := h.mint(t, "U2local", descopesim.MintOptions{})
	trusted := h.withEnv(t, "MLFLOW_DESCOPE_TRUSTED_PROXIES=127.0.0.0/8").URL
	tests := []struct {
		name, base, xff, want string
	}{
		// A reverse proxy on the same host, not configured as trusted: the
		// gateway sees loopback (issue 15).
		{"untrusted same-host proxy", h.gw.URL, "203.0.113.9", "unknown"},
		{"client claims loopback", h.gw.URL, "127.0.0.1", "unknown"},
		// A trusted proxy names the real client.
		{"trusted proxy, remote client", trusted, "203.0.113.9", "203.0.113.9"},
		// A trusted proxy that forwards a user on its own host, or a client
		// that put loopback in front of the chain.
		{"trusted proxy, loopback client", trusted, "127.0.0.1", "unknown"},
		{"trusted proxy, ipv6 loopback client", trusted, "::1", "unknown"},
		{"trusted proxy, spoofed chain", trusted, "127.0.0.1, 127.0.0.2", "unknown"},
		{"trusted proxy, no header", trusted, "", "unknown"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", tt.base+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.name, resp.StatusCode)
		}
		got := h.up.last(t).Header.Values("X-Forwarded-For")
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: MLflow got X-Forwarded-For %q; want [%q]", tt.name, got, tt.want)
		}
	}
}

// TestAdminOnlyRoutes: a route the policy reserves is refused to non-admins
// before MLflow, reaches MLflow for admins, and for everyone once opened.
func TestAdminOnlyRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2plain")
	h.user(t, "U2boss", "admin")
	plain, _ := h.mint(t, "U2plain", descopesim.MintOptions{})
	boss, _ := h.mint(t, "U2boss", descopesim.MintOptions{})
	// The real policy (internal/routepolicy), as app.New configures it by
	// default: the assistant's setup is for admins.
	base := h.gw.URL
	put := func(tok string) (int, int) {
		before := h.up.count()
		req, _ := http.NewRequest("PUT", base+"/ajax-api/3.0/mlflow/assistant/config", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, h.up.count() - before
	}
	if status, reached := put(plain); status != http.StatusForbidden || reached != 0 {
		t.Errorf("non-admin: status %d, %d requests reached MLflow; want 403 and none", status, reached)
	}
	// Opened to every signed-in user by the setting.
	open := h.withEnv(t, "MLFLOW_DESCOPE_ASSISTANT_SETUP=users").URL
	before := h.up.count()
	req, _ := http.NewRequest("PUT", open+"/ajax-api/3.0/mlflow/assistant/config", nil)
	req.Header.Set("Authorization", "Bearer "+plain)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || h.up.count()-before != 1 {
		t.Errorf("non-admin with MLFLOW_DESCOPE_ASSISTANT_SETUP=users: status %d; want 200 from MLflow", resp.StatusCode)
	}
	if status, reached := put(boss); status != http.StatusOK || reached != 1 {
		t.Errorf("admin: status %d, %d requests reached MLflow; want 200 and one", status, reached)
	}
}
