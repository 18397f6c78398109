package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// lateKeys is the KeyManager of a service built after the admin handler
// (it needs the test gateway's Descope client).
type lateKeys struct{ svc *selfservice.Service }

func (l *lateKeys) AllKeys(ctx context.Context) ([]selfservice.Key, error) { return l.svc.AllKeys(ctx) }
func (l *lateKeys) AdminRevoke(r *http.Request, by selfservice.User, id string) error {
	return l.svc.AdminRevoke(r, by, id)
}
func (l *lateKeys) Unavailable() string { return l.svc.Unavailable() }

type memRecorder struct{ events []audit.Event }

func (m *memRecorder) Record(e audit.Event) bool { m.events = append(m.events, e); return true }

// TestAdminKeys: admins see every key of the project (owners' and
// standalone) and can revoke any; others cannot; writes must be same-origin.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	store, err := audit.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := &lateKeys{}
	rec := &memRecorder{}
	h, err := admin.New(admin.Options{Audit: store, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	g := gatewaytest.New(t, gatewaytest.Options{Admin: h, SelfService: func(g *gatewaytest.Gateway) http.Handler {
		db, dialect := store.(audit.SQLBacked).SQL()
		svc, err := selfservice.New(context.Background(), selfservice.Options{
			Descope: g.Descope, DB: db, Dialect: dialect, Evict: g.Keys.Evict, Audit: rec,
			CurrentUser: func(*http.Request) (selfservice.User, bool) { return selfservice.User{}, false },
			ClientIP:    func(r *http.Request) netip.Addr { return gateway.ClientIPFrom(r.Context()) },
			Origin:      func(r *http.Request) string { return gateway.OriginFrom(r.Context()) },
		})
		if err != nil {
			t.Fatal(err)
		}
		keys.svc = svc
		return svc.Handler()
	}})
	g.User(t, "U2root", "admin")
	g.User(t, "U2plain")
	g.User(t, "U2bob")
	root, _ := g.Mint(t, "U2root", descopesim.MintOptions{})
	plain, _ := g.Mint(t, "U2plain", descopesim.MintOptions{})
	made, err := g.Descope.CreateAccessKey(context.Background(), descope.NewAccessKey{Name: "bob's cli", UserID: "U2bob",
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
	if _, err := g.Descope.AccessKey(context.Background(), bobKey); err != nil {
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
	if _, err := g.Descope.AccessKey(context.Background(), bobKey); err == nil {
		t.Error("bob's key still exists after the admin revoked it")
	}
	if resp, _ := call(http.MethodGet, bobSecret, "/api/2.0/mlflow/experiments/search", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's key after revoke: %d, want 401", resp.StatusCode)
	}
	if resp, _ := call(http.MethodPost, root, "/auth/admin/keys/K2nope/revoke", map[string]string{"Origin": g.URL}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown key: status %d", resp.StatusCode)
	}
	var found bool
	for _, e := range rec.events {
		if e.Action == audit.ActionAccessKeyRevoke && e.Reason == "admin" && e.Actor.UserID == "U2root" && e.Details["owner_id"] == "U2bob" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit event for the admin's revoke: %+v", rec.events)
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
