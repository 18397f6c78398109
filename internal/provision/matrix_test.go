package provision_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

const matrixMapping = `{
  // project roles → MLflow roles in the default workspace
  "admin_roles": ["platform-admin"],
  "roles": [
    {"descope_role": "ml-editor", "mlflow_role": "editors", "description": "edit everything",
     "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"},
                {"resource_type": "registered_model", "pattern": "*", "permission": "EDIT"}]},
    {"descope_role": "ml-viewer", "mlflow_role": "viewers",
     "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "READ"},
                {"resource_type": "registered_model", "pattern": "*", "permission": "READ"}]}
  ],
  "tenant_roles": [
    {"descope_role": "tenant-admin", "workspace_permission": "MANAGE"},
    {"descope_role": "member", "workspace_permission": "USE",
     "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"},
                {"resource_type": "registered_model", "pattern": "*", "permission": "EDIT"}]}
  ]
}`

// env is Descope (simulated) plus the verifier the gateway would use.
type env struct {
	sim      *descopesim.Server
	dc       *descope.Client
	verifier *descope.Verifier
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	sim, err := descopesim.New(descopesim.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	v, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{sim: sim, dc: dc, verifier: v}
}

func (e *env) addUser(tb testing.TB, u descopesim.User) {
	tb.Helper()
	if err := e.sim.CreateUser(u); err != nil {
		tb.Fatal(err)
	}
}

// signIn mints a session for the user and returns its Subject, as the
// gateway builds it from the verified token.
func (e *env) signIn(tb testing.TB, userID string, opts descopesim.MintOptions) provision.Subject {
	tb.Helper()
	raw, _, err := e.sim.MintSession(userID, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := e.verifier.Verify(context.Background(), raw, descope.KindSession)
	if err != nil {
		tb.Fatal(err)
	}
	return provision.SubjectFromToken(tok.Subject, tok)
}

func newProvisioner(tb testing.TB, m *realMLflow, workspaces bool, blocked func(string) bool) *provision.Provisioner {
	tb.Helper()
	mp, err := rolemap.Parse("roles.json", []byte(matrixMapping))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := provision.New(provision.Options{MLflow: m.client, Mapping: mp, AdminRoles: []string{"admin"}, Workspaces: workspaces, Blocked: blocked})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.SyncRoles(context.Background()); err != nil {
		tb.Fatalf("SyncRoles: %v", err)
	}
	return p
}

func TestPermissionMatrixRealMLflow(t *testing.T) {
	t.Parallel()
	// want: A allow (200), D deny (403); one letter per op, in order.
	tests := []struct {
		defaultPermission string
		want              map[string]string
	}{
		{"READ", map[string]string{
			"U2admin":  "AAAAAA",
			"U2editor": "AAAADA",
			"U2viewer": "AADADA",
			"U2nobody": "AADADA",
		}},
		{"NO_PERMISSIONS", map[string]string{
			"U2admin":  "AAAAAA",
			"U2editor": "AAAADA",
			"U2viewer": "AADADA",
			"U2nobody": "DADADA",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.defaultPermission, func(t *testing.T) {
			t.Parallel()
			permissionMatrix(t, tt.defaultPermission, tt.want)
		})
	}
}

func permissionMatrix(t *testing.T, defaultPermission string, want map[string]string) {
	m := startMLflow(t, false, defaultPermission)
	e := newEnv(t)
	ctx := context.Background()
	p := newProvisioner(t, m, false, nil)
	users := []descopesim.User{
		{ID: "U2admin", LoginIDs: []string{"admin@example.com"}, Roles: []string{"admin"}},
		{ID: "U2editor", LoginIDs: []string{"editor@example.com"}, Roles: []string{"ml-editor"}},
		{ID: "U2viewer", LoginIDs: []string{"viewer@example.com"}, Roles: []string{"ml-viewer"}},
		{ID: "U2nobody", LoginIDs: []string{"nobody@example.com"}},
	}
	for _, u := range users {
		e.addUser(t, u)
		if err := p.Ensure(ctx, e.signIn(t, u.ID, descopesim.MintOptions{})); err != nil {
			t.Fatalf("Ensure %s: %v", u.ID, err)
		}
	}
	admin := m.client.AdminUsername()
	exp := m.mustCall(t, admin, "", "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "shared"})
	expID := exp["experiment_id"].(string)
	run := m.mustCall(t, admin, "", "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID})
	runID := run["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)

	type op struct {
		name string
		do   func(user string) int
	}
	ops := []op{
		{"read experiment", func(u string) int {
			st, _ := m.call(t, u, "", "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+expID, nil)
			return st
		}},
		{"create experiment", func(u string) int {
			st, _ := m.call(t, u, "", "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "exp-" + u})
			return st
		}},
		{"log to another's run", func(u string) int {
			st, _ := m.call(t, u, "", "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": runID, "key": "m", "value": 1, "timestamp": time.Now().UnixMilli(), "step": 0})
			return st
		}},
		{"register model", func(u string) int {
			st, _ := m.call(t, u, "", "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "model-" + u})
			return st
		}},
		{"grant permission", func(u string) int {
			st, _ := m.call(t, u, "", "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": "U2nobody", "resource_type": "experiment", "resource_id": expID, "permission": "MANAGE"})
			if st == http.StatusOK { // undo, so later cells see the same state
				m.mustCall(t, admin, "", "POST", "/api/3.0/mlflow/users/permissions/revoke", map[string]any{"username": "U2nobody", "resource_type": "experiment", "resource_id": expID})
			}
			return st
		}},
		{"list users", func(u string) int {
			st, _ := m.call(t, u, "", "GET", "/api/2.0/mlflow/users/list", nil)
			return st
		}},
	}
	var grid bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&grid, "%-9s", u.ID)
		for i, o := range ops {
			st := o.do(u.ID)
			got := map[int]byte{http.StatusOK: 'A', http.StatusForbidden: 'D'}[st]
			if got == 0 {
				got = '?'
			}
			fmt.Fprintf(&grid, " %s=%c(%d)", strings.ReplaceAll(o.name, " ", "_"), got, st)
			if w := want[u.ID][i]; got != w {
				t.Errorf("%s / %s: got %c (status %d); want %c", u.ID, o.name, got, st, w)
			}
		}
		grid.WriteByte('\n')
	}
	t.Logf("permission matrix (default_permission %s):\n%s", defaultPermission, grid.String())
}
