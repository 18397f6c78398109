package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/observe"
)

// recorder keeps the audit events the gateway's events become.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(e audit.Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return true
}

func (r *recorder) all() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Event(nil), r.events...)
}

// TestAdminKeys: admins see every key of the project (owners' and
// standalone) and can revoke any; others cannot; writes must be same-origin.
// The admin page lists and revokes through the gateway's own self-service
// (app.New wires it), and the revocation is audited.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	sink, err := observe.New(observe.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	g := gatewaytest.New(t, gatewaytest.Options{Events: sink})
	dc := g.Management(t)
	g.User(t, "U2root", "admin")
	g.User(t, "U2plain")
	g.User(t, "U2bob")
	root, _ := g.Mint(t, "U2root", descopesim.MintOptions{})
	plain, _ := g.Mint(t, "U2plain", descopesim.MintOptions{})
	made, err := dc.CreateAccessKey(context.Background(), descope.NewAccessKey{Name: "bob's cli", UserID: "U2bob",
		Description: "mlflow-descope-auth self-service (cli) for bob"})
	if err != nil {
		t.Fatal(err)
	}
	bobKey, bobSecret := made.Key.ID, made.Cleartext.Reveal()
	ci, _, err := g.Sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "ci", Roles: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, token, path string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(method, g.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := call(http.MethodGet, root, "/auth/admin/keys", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-key-id="`+bobKey+`"`) || !strings.Contains(body, `data-key-id="`+ci+`"`) ||
		!strings.Contains(body, "U2bob") || !strings.Contains(body, "standalone") {
		t.Fatalf("admin keys page: status %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := call(http.MethodGet, plain, "/auth/admin/keys", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin: status %d", resp.StatusCode)
	}
	if resp, _ := call(http.MethodPost, plain, "/auth/admin/keys/"+bobKey+"/revoke", map[string]string{"Origin": g.URL}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin revoke: status %d", resp.StatusCode)
	}
	if resp, _ := call(http.MethodPost, root, "/auth/admin/keys/"+bobKey+"/revoke", map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site revoke: status %d", resp.StatusCode)
	}
	if _, err := dc.AccessKey(context.Background(), bobKey); err != nil {
		t.Fatalf("bob's key is gone after refused revokes: %v", err)
	}
	// Used once, so the gateway has it cached: revoking must stop it at once.
	if resp, _ := call(http.MethodGet, bobSecret, "/api/2.0/mlflow/experiments/search", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob's key before revoke: %d", resp.StatusCode)
	}
	resp, _ = call(http.MethodPost, root, "/auth/admin/keys/"+bobKey+"/revoke", map[string]string{"Origin": g.URL})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/admin/keys?revoked=1" {
		t.Fatalf("admin revoke: status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := dc.AccessKey(context.Background(), bobKey); err == nil {
		t.Error("bob's key still exists after the admin revoked it")
	}
	if resp, _ := call(http.MethodGet, bobSecret, "/api/2.0/mlflow/experiments/search", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's key after revoke: %d, want 401", resp.StatusCode)
	}
	if resp, _ := call(http.MethodPost, root, "/auth/admin/keys/K2nope/revoke", map[string]string{"Origin": g.URL}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown key: status %d", resp.StatusCode)
	}
	var found bool
	for _, e := range rec.all() {
		if e.Action == audit.ActionAccessKeyRevoke && e.Reason == "admin" && e.Actor.UserID == "U2root" && e.Details["owner_id"] == "U2bob" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit event for the admin's revoke: %+v", rec.all())
	}
}

// TestAdminKeysNotConfigured: without a key manager the page says so.
func TestAdminKeysNotConfigured(t *testing.T) {
	t.Parallel()
	s := newSite(t, admin.Options{})
	resp, body := s.get(t, s.admin, "/auth/admin/keys")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "not configured") {
		t.Errorf("keys page without a manager: %d\n%s", resp.StatusCode, body)
	}
}
