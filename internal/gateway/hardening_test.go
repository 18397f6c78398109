package gateway_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

func TestAmbiguousRequestsAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2eve")
	h.user(t, "U2root", "admin")
	sess, _ := h.mint(t, "U2eve", descopesim.MintOptions{})
	rootSess, _ := h.mint(t, "U2root", descopesim.MintOptions{})
	bearer := map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "application/json"}
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
	}{
		{"field spelled twice", "POST", "/api/2.0/mlflow/runs/log-parameter", `{"run_id":"a","runId":"b","key":"k","value":"v"}`, bearer, 400},
		{"repeated key", "POST", "/api/2.0/mlflow/experiments/delete", `{"experiment_id":"1","experiment_id":"2"}`, bearer, 400},
		{"run_id vs run_uuid", "POST", "/ajax-api/2.0/mlflow/runs/log-metric", `{"run_id":"a","run_uuid":"b","key":"m","value":1,"timestamp":1,"step":0}`, bearer, 400},
		{"query and body disagree", "POST", "/api/2.0/mlflow/runs/delete?run_id=a", `{"run_id":"b"}`, bearer, 400},
		{"GET with a body", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", `{"experiment_id":"2"}`, map[string]string{"Authorization": "Bearer " + sess}, 400},
		{"DELETE without JSON type", "DELETE", "/api/2.0/mlflow/registered-models/delete", `{"name":"m"}`, map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "text/plain"}, 400},
		{"PATCH without JSON type", "PATCH", "/api/2.0/mlflow/registered-models/update", `{"name":"m"}`, map[string]string{"Authorization": "Bearer " + sess}, 400},
		{"not JSON", "POST", "/api/2.0/mlflow/experiments/create", `name=x`, bearer, 400},
		{"JSON string body", "POST", "/api/2.0/mlflow/experiments/create", `"{\"name\":\"x\"}"`, bearer, 400},
		{"encoded slash", "GET", "/api/2.0/mlflow%2Fexperiments/search", "", bearer, 400},
		{"dot segment", "GET", "/api/2.0/mlflow/../mlflow/experiments/search", "", bearer, 400},
		{"encoded dot segment", "GET", "/api/2.0/mlflow/%2e%2e/mlflow/experiments/search", "", bearer, 400},
		{"double slash", "GET", "/api/2.0//mlflow/experiments/search", "", bearer, 400},
		{"backslash", "GET", "/api/2.0/mlflow%5Cexperiments/search", "", bearer, 400},
		{"unknown API route", "POST", "/api/2.0/mlflow/secret-admin-thing", `{}`, bearer, 403},
		{"unknown API route as admin", "POST", "/api/2.0/mlflow/secret-admin-thing", `{}`, map[string]string{"Authorization": "Bearer " + rootSess, "Content-Type": "application/json"}, 200},
		{"GraphQL by GET", "GET", "/graphql?query=%7Bx%7D", "", bearer, 400},
		{"plain request", "POST", "/api/2.0/mlflow/experiments/create", `{"name":"ok"}`, bearer, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.up.count()
			req, err := http.NewRequest(tt.method, h.gw.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Send the path exactly as written: no client-side cleaning.
			req.URL.Opaque = "//" + req.URL.Host + pathOnly(tt.path)
			resp, body := doReq(t, req, tt.hdr, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			reached := h.up.count() - before
			if tt.status != 200 {
				if reached != 0 {
					t.Errorf("refused request reached MLflow")
				}
				if code := errorCode(t, body); code == "" {
					t.Errorf("no error_code")
				}
				return
			}
			if reached != 1 {
				t.Fatalf("%d requests reached MLflow, want 1", reached)
			}
			if got := h.up.last(t); got.Body != tt.body {
				t.Errorf("MLflow received body %q, want exactly %q", got.Body, tt.body)
			}
		})
	}
}

func pathOnly(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i] + "?" + p[i+1:]
		}
	}
	return p
}

func TestWorkspaceAndBlockedChecks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, id := range []string{"T2TeamA", "T2TeamB"} {
		if err := h.sim.CreateTenant(descopesim.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.CreateUser(descopesim.User{ID: "U2tenantA", LoginIDs: []string{"a@example.com"}, Tenants: []descopesim.UserTenant{{ID: "T2TeamA"}}}); err != nil {
		t.Fatal(err)
	}
	h.user(t, "U2gone")
	sess, _ := h.mint(t, "U2tenantA", descopesim.MintOptions{})
	gone, _ := h.mint(t, "U2gone", descopesim.MintOptions{})
	// A second gateway with workspaces: every member of a tenant uses its
	// workspace (team-a for T2TeamA); the sync found U2gone disabled.
	mapping := writeMapping(t, `{"tenant_roles": [{"descope_role": "*", "workspace_permission": "USE"}],
	  "tenants": [{"tenant_id": "T2TeamA", "workspace": "team-a"}, {"tenant_id": "T2TeamB", "workspace": "team-b"}]}`)
	g := h.withEnv(t, "MLFLOW_DESCOPE_ENABLE_WORKSPACES=true", "DESCOPE_ROLE_MAPPING_FILE="+mapping)
	if _, err := g.App.Denylist().Block(t.Context(), "U2gone", "disabled in descope"); err != nil {
		t.Fatal(err)
	}
	gw := g.URL
	tests := []struct {
		name   string
		token  string
		hdr    map[string]string
		status int
	}{
		{"own workspace", sess, map[string]string{"X-MLFLOW-WORKSPACE": "team-a"}, 200},
		{"no workspace", sess, nil, 200},
		{"other tenant's workspace", sess, map[string]string{"X-MLFLOW-WORKSPACE": "team-b"}, 403},
		{"underscore spelling", sess, map[string]string{"X_MLFLOW_WORKSPACE": "team-b"}, 403},
		{"two spellings", sess, map[string]string{"X-MLFLOW-WORKSPACE": "team-a", "X_MLFLOW_WORKSPACE": "team-b"}, 403},
		{"user disabled in Descope", gone, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", gw+"/api/2.0/mlflow/experiments/search", nil)
			req.Header.Set("Authorization", "Bearer "+tt.token)
			for k, v := range tt.hdr {
				req.Header[k] = []string{v}
			}
			resp, body := send(t, http.DefaultClient, req)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
}

// TestAdminRuleAndUnknownRoutes: the gateway's admin decision is the
// policy's (the role mapping's admin rules too), and unknown API routes open
// to non-admins only when the operator allows it.
func TestAdminRuleAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2mapped", "platform-admin")
	h.user(t, "U2plain")
	mapped, _ := h.mint(t, "U2mapped", descopesim.MintOptions{})
	plain, _ := h.mint(t, "U2plain", descopesim.MintOptions{})
	byMapping := h.withEnv(t, "DESCOPE_ROLE_MAPPING_FILE="+writeMapping(t, `{"admin_roles": ["platform-admin"]}`)).URL
	allowing := h.withEnv(t, "MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow").URL
	unknown := "/api/2.0/mlflow/not-a-route"
	tests := []struct {
		name, base, token string
		status            int
	}{
		{"admin by the injected rule", byMapping, mapped, 200},
		{"not admin by the injected rule", byMapping, plain, 403},
		{"default rule: no admin role", h.gw.URL, mapped, 403},
		{"unknown routes allowed", allowing, plain, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, browser(t), "POST", tt.base+unknown, map[string]string{"Authorization": "Bearer " + tt.token, "Content-Type": "application/json"}, `{}`)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
}

// TestEncodedPrefixIsNotAWayAround: under a path prefix, a percent-encoded
// spelling of it (/%6dlflow/…) is not the prefix: it must not reach MLflow
// without the classifier's checks, even with unknown routes allowed.
func TestEncodedPrefixIsNotAWayAround(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{prefix: "/mlflow"})
	h.user(t, "U2eve")
	sess, _ := h.mint(t, "U2eve", descopesim.MintOptions{})
	gw := h.withEnv(t, "MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow").URL
	bearer := map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "application/json"}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"encoded prefix, conflicting ids", "POST", "/%6dlflow/api/2.0/mlflow/runs/update", `{"run_id":"B","run_uuid":"C"}`, 404},
		{"encoded prefix, plain read", "GET", "/%6Dlflow/api/2.0/mlflow/experiments/search", "", 404},
		{"real prefix, conflicting ids", "POST", "/mlflow/api/2.0/mlflow/runs/update", `{"run_id":"B","run_uuid":"C"}`, 400},
		{"health at the root", "GET", "/health", "", 200},
		{"health under the prefix", "GET", "/mlflow/health", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.up.count()
			req, err := http.NewRequest(tc.method, gw+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + req.URL.Host + tc.path
			resp, body := doReq(t, req, bearer, tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if h.up.count() != before {
				t.Error("reached MLflow")
			}
		})
	}
}

// TestConnectionCannotDropCheckedHeaders: the proxy deletes what Connection
// names after the checks ran, so naming anything but hop-by-hop headers is
// refused before MLflow.
func TestConnectionCannotDropCheckedHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2eve")
	sess, _ := h.mint(t, "U2eve", descopesim.MintOptions{})
	const path = "/api/2.0/mlflow/registered-models/update"
	body := `{"name":"m","description":"x"}`
	for _, tc := range []struct {
		conn   string
		status int
	}{
		{"Content-Type", 400},
		{"keep-alive, X-MLFLOW-WORKSPACE", 400},
		{"close", 200},
		{"keep-alive", 200},
	} {
		t.Run(tc.conn, func(t *testing.T) {
			before := h.up.count()
			resp, got := do(t, http.DefaultClient, "PATCH", h.gw.URL+path,
				map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "application/json", "Connection": tc.conn}, body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			if reached := h.up.count() - before; (tc.status == 200) != (reached == 1) {
				t.Errorf("reached MLflow %d times", reached)
			}
		})
	}
}

// TestBlockedUsersAreRefusedEverywhere: a user the sync found disabled is
// refused on the gateway's own pages and at sign-in, not only on MLflow's
// routes.
func TestBlockedUsersAreRefusedEverywhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2gone", "admin")
	sess, refresh := h.mint(t, "U2gone", descopesim.MintOptions{})
	g := h.withEnv(t)
	if _, err := g.App.Denylist().Block(t.Context(), "U2gone", "disabled in descope"); err != nil {
		t.Fatal(err)
	}
	gw := g.URL
	bearer := map[string]string{"Authorization": "Bearer " + sess}
	for _, p := range []string{"/auth/whoami", "/auth/admin/", "/api/2.0/mlflow/experiments/search"} {
		resp, body := do(t, http.DefaultClient, "GET", gw+p, bearer, "")
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "audit log") {
			t.Errorf("%s as a blocked admin: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := do(t, http.DefaultClient, "POST", gw+"/auth/session",
		map[string]string{"Content-Type": "application/json", "Origin": gw},
		`{"sessionJwt":"`+sess+`","refreshJwt":"`+refresh+`"}`)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in of a blocked user: %d, %d cookies: %s", resp.StatusCode, len(resp.Cookies()), body)
	}
}

// writeMapping writes a role mapping file and returns its path.
func writeMapping(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "roles.json")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
