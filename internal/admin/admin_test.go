package admin_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
)

// site is a gateway with the admin pages over a seeded SQLite audit store.
type site struct {
	g     *gatewaytest.Gateway
	store audit.Store
	admin string // session JWT of an admin
	user  string // session JWT of a non-admin
}

func t0() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

func newSite(tb testing.TB, opts admin.Options) *site {
	tb.Helper()
	store, err := audit.Open(context.Background(), filepath.Join(tb.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	var evs []audit.Event
	for i := range 120 {
		user := []string{"U2alice", "U2bob", "U2carol"}[i%3]
		e := audit.Event{Time: t0().Add(time.Duration(i) * time.Minute), Action: audit.ActionRequest, Outcome: audit.OutcomeSuccess,
			Actor:    audit.Actor{UserID: user, Username: user, LoginID: strings.ToLower(user[2:]) + "@example.com", Method: audit.MethodCookie},
			ClientIP: "127.0.0.1", RequestID: fmt.Sprintf("req-%03d", i), Route: "GET api", RPC: "GetExperiment", Status: 200,
			Resources: audit.Resources{audit.ResourceExperiment: {fmt.Sprint(i % 10)}}}
		if i%10 == 0 {
			e.Action, e.RPC, e.Resources, e.Route = audit.ActionSignIn, "", nil, "POST auth_session"
		}
		if i%7 == 0 {
			e.Outcome, e.Status, e.Reason = audit.OutcomeDenied, 403, "mlflow_permission_denied"
		}
		evs = append(evs, e)
	}
	evs = append(evs, audit.Event{Time: t0().Add(3 * time.Hour), Action: audit.ActionAuthFailure, Outcome: audit.OutcomeFailure,
		Reason: "expired", Actor: audit.Actor{LoginID: "=HYPERLINK(\"x\")", Method: audit.MethodBearerJWT}})
	if err := store.Append(context.Background(), evs); err != nil {
		tb.Fatal(err)
	}
	opts.Audit = store
	// The admin pages of a real gateway, over the seeded store and with
	// the test's explain and sync status.
	g := gatewaytest.New(tb, gatewaytest.Options{AdminOptions: func(o *admin.Options) {
		opts.Prefix, opts.Logger = o.Prefix, o.Logger
		*o = opts
	}})
	g.User(tb, "U2root", "admin")
	g.User(tb, "U2plain")
	a, _ := g.Mint(tb, "U2root", descopesim.MintOptions{})
	u, _ := g.Mint(tb, "U2plain", descopesim.MintOptions{})
	return &site{g: g, store: store, admin: a, user: u}
}

func (s *site) get(tb testing.TB, token, path string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", s.g.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAdminPages(t *testing.T) {
	t.Parallel()
	s := newSite(t, admin.Options{
		ExportLimit: 50,
		Explain: func(ctx context.Context, id string, w io.Writer) error {
			if id == "nobody" {
				return errors.New("provision: explain: boom")
			}
			_, err := fmt.Fprintf(w, "user %s\n  admin: false <script>", id)
			return err
		},
		SyncStatus: func() any { return map[string]any{"last_run": "2026-03-01T12:00:00Z", "blocked": 2} },
		Names: func(ctx context.Context, q string) ([]naming.Record, error) {
			if q != "alice.now@example.com" {
				return nil, nil
			}
			// Alice's login ID changed since her first sign-in; her
			// username and her events (by user ID) stay hers.
			return []naming.Record{{UserID: "U2alice", Username: "alice@example.com", LoginID: "alice.now@example.com",
				FirstLoginID: "alice@example.com", Source: naming.SourceLoginID, Created: t0()}}, nil
		},
	})
	tests := []struct {
		name, token, path string
		status            int
		want, never       []string
	}{
		{"non-admin refused", s.user, "/auth/admin/", 403, []string{"dmins only"}, []string{"Recent sign-ins"}},
		{"anonymous sent to sign in", "", "/auth/admin/audit", 302, nil, []string{"<table"}},
		{"home", s.admin, "/auth/admin/", 200, []string{"Recent sign-ins", "req-110", "#/admin"}, []string{"<script"}},
		{"audit first page", s.admin, "/auth/admin/audit", 200, []string{"expired", "req-119", `id="page-next"`}, []string{"req-050"}},
		{"filter user", s.admin, "/auth/admin/audit?user=bob&limit=1000", 200, []string{"req-001", "req-118"}, []string{"req-000", "req-002"}},
		{"filter action and outcome", s.admin, "/auth/admin/audit?action=sign_in&outcome=denied", 200, []string{"req-070", "req-000"}, []string{"req-010<", "req-007"}},
		{"filter resource", s.admin, "/auth/admin/audit?resource=3&limit=1000", 200, []string{"req-003", "req-113"}, []string{"req-004"}},
		{"filter time", s.admin, "/auth/admin/audit?since=2026-03-01T12:05&until=2026-03-01T12:07", 200, []string{"req-005", "req-006"}, []string{"req-004", "req-007"}},
		{"bad filter", s.admin, "/auth/admin/audit?outcome=maybe", 400, []string{"outcome: success"}, nil},
		{"bad cursor", s.admin, "/auth/admin/audit?cursor=xyz", 400, []string{"no longer valid"}, nil},
		{"explain", s.admin, "/auth/admin/users?id=alice%40example.com", 200, []string{`<pre id="explanation">user alice@example.com`, "&lt;script&gt;"}, []string{"<script>"}},
		{"names by login ID now", s.admin, "/auth/admin/users?id=alice.now%40example.com", 200,
			[]string{`<td class="username"><a href="/#/admin/users/alice%40example.com">alice@example.com</a>`, `<td class="login-id">alice.now@example.com`,
				`<td class="first-login-id">alice@example.com`, `data-user-id="U2alice"`, "req-117", "req-045"}, []string{"req-118", "req-116", "names-problem"}},
		{"explain fails", s.admin, "/auth/admin/users?id=nobody", 200, []string{"gateway log"}, []string{"boom"}},
		{"sync", s.admin, "/auth/admin/sync", 200, []string{`&#34;blocked&#34;: 2`}, nil},
		{"unknown page", s.admin, "/auth/admin/nope", 404, nil, nil},
		{"static", s.admin, "/auth/admin/static/admin.css", 200, []string{"table.events"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := s.get(t, tt.token, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d\n%s", resp.StatusCode, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(body, n) {
					t.Errorf("body has %q", n)
				}
			}
			if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
					t.Errorf("CSP %q", csp)
				}
			}
		})
	}
}

func TestAdminNotConfigured(t *testing.T) {
	t.Parallel()
	s := newSite(t, admin.Options{})
	for _, p := range []string{"/auth/admin/users?id=alice", "/auth/admin/sync"} {
		resp, body := s.get(t, s.admin, p)
		if resp.StatusCode != 200 || !strings.Contains(body, "not configured") {
			t.Errorf("%s: %d, want a 'not configured' page", p, resp.StatusCode)
		}
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	s := newSite(t, admin.Options{ExportLimit: 30})
	t.Run("csv", func(t *testing.T) {
		t.Parallel()
		resp, body := s.get(t, s.admin, "/auth/admin/audit.csv?user=alice&outcome=denied")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 7 || rows[0][0] != "id" || rows[1][6] != "U2alice" || rows[1][3] != "denied" {
			t.Fatalf("%d rows; first %v", len(rows), rows[:2])
		}
		if resp.Trailer.Get("X-Export-Truncated") != "false" {
			t.Errorf("trailer %q", resp.Trailer.Get("X-Export-Truncated"))
		}
	})
	t.Run("csv bounded and neutralized", func(t *testing.T) {
		t.Parallel()
		resp, body := s.get(t, s.admin, "/auth/admin/audit.csv")
		rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll()
		if len(rows) != 31 || resp.Trailer.Get("X-Export-Truncated") != "true" {
			t.Fatalf("%d rows, truncated %q; want 30 and true", len(rows), resp.Trailer.Get("X-Export-Truncated"))
		}
		if rows[1][7] != `'=HYPERLINK("x")` {
			t.Errorf("formula not neutralized: %q", rows[1][7])
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		resp, body := s.get(t, s.admin, "/auth/admin/audit.json?action=sign_in")
		var out struct {
			Events    []audit.Event `json:"events"`
			Truncated bool          `json:"truncated"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
		}
		if len(out.Events) != 12 || out.Truncated || out.Events[0].Action != audit.ActionSignIn || out.Events[0].Hash == "" {
			t.Fatalf("%d events, truncated %v", len(out.Events), out.Truncated)
		}
	})
	t.Run("non-admin", func(t *testing.T) {
		t.Parallel()
		resp, body := s.get(t, s.user, "/auth/admin/audit.csv")
		if resp.StatusCode != 403 || strings.Contains(body, "U2alice") {
			t.Fatalf("non-admin export: %d", resp.StatusCode)
		}
	})
}
