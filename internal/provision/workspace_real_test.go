package provision_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// TestWorkspacesRealMLflow: with --enable-workspaces, a tenant's users work
// in their tenant's workspace only, whatever X-MLFLOW-WORKSPACE they send,
// and a tenant admin administers only their own workspace.
func TestWorkspacesRealMLflow(t *testing.T) {
	t.Parallel()
	m := startMLflow(t, true, "READ")
	e := newEnv(t)
	ctx := context.Background()
	p := newProvisioner(t, m, true, nil)
	e.addUser(t, descopesim.User{ID: "U2alice", LoginIDs: []string{"alice@a.example"}, Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"member"}}}})
	e.addUser(t, descopesim.User{ID: "U2carol", LoginIDs: []string{"carol@a.example"}, Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"tenant-admin"}}}})
	e.addUser(t, descopesim.User{ID: "U2bob", LoginIDs: []string{"bob@b.example"}, Tenants: []descopesim.UserTenant{{ID: "T2TenantB", Roles: []string{"member"}}}})
	wsA, wsB := rolemap.DeriveWorkspaceName("T2TenantA"), rolemap.DeriveWorkspaceName("T2TenantB")

	subjects := map[string]rolemap.Result{}
	// alice: default token shape (tenants claim); bob: the dct-only shape a
	// JWT template produces (tenant roles at top level, no tenants claim).
	for id, opts := range map[string]descopesim.MintOptions{
		"U2alice": {},
		"U2carol": {},
		"U2bob":   {Tenant: "T2TenantB", ExtraClaims: map[string]any{"tenants": nil, "roles": []string{"member"}}},
	} {
		s := e.signIn(t, id, opts)
		if err := p.Ensure(ctx, s); err != nil {
			t.Fatalf("Ensure %s: %v", id, err)
		}
		subjects[id] = p.Resolve(s)
	}
	if _, err := m.client.Workspace(ctx, wsA); err != nil {
		t.Fatalf("workspace %s of tenant A: %v", wsA, err)
	}
	if !rolemap.AllowedWorkspace(subjects["U2bob"], wsB) || rolemap.AllowedWorkspace(subjects["U2bob"], wsA) {
		t.Errorf("AllowedWorkspace for bob: want %s only", wsB)
	}

	expA := m.mustCall(t, "U2alice", wsA, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "alice-exp"})["experiment_id"].(string)
	expB := m.mustCall(t, "U2bob", wsB, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "bob-exp"})["experiment_id"].(string)
	m.mustCall(t, "U2bob", wsB, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "bob-model"})

	roleB := roleIDIn(t, m, wsB, "tenant-member")
	roleA := roleIDIn(t, m, wsA, "tenant-member")
	tests := []struct {
		name, user, ws, method, path string
		body                         any
		want                         int
	}{
		{"member reads own experiment", "U2alice", wsA, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expA, nil, 200},
		{"member reads other tenant's experiment via its workspace", "U2alice", wsB, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expB, nil, 403},
		{"member reads other tenant's experiment from own workspace", "U2alice", wsA, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expB, nil, 403},
		{"member reads other tenant's experiment without header", "U2alice", "", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expB, nil, 403},
		{"member creates in other workspace", "U2alice", wsB, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "sneaky"}, 403},
		{"member creates in default workspace", "U2alice", "default", "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "sneaky2"}, 403},
		{"member reads other tenant's model", "U2alice", wsB, "GET", "/api/2.0/mlflow/registered-models/get?name=bob-model", nil, 403},
		{"member registers model in other workspace", "U2alice", wsB, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "sneaky-model"}, 403},
		{"member renames other tenant's model", "U2alice", wsB, "PATCH", "/api/2.0/mlflow/registered-models/update", map[string]any{"name": "bob-model", "description": "x"}, 403},
		{"member cannot assign roles", "U2alice", wsA, "POST", "/api/3.0/mlflow/roles/assign", map[string]any{"username": "U2bob", "role_id": roleA}, 403},
		{"tenant admin assigns in own workspace", "U2carol", wsA, "POST", "/api/3.0/mlflow/roles/assign", map[string]any{"username": "U2bob", "role_id": roleA}, 200},
		{"tenant admin assigns in other workspace", "U2carol", wsB, "POST", "/api/3.0/mlflow/roles/assign", map[string]any{"username": "U2alice", "role_id": roleB}, 403},
		{"tenant admin creates role in own workspace", "U2carol", wsA, "POST", "/api/3.0/mlflow/roles/create", map[string]any{"name": "a-extra", "workspace": wsA}, 200},
		{"tenant admin creates role in other workspace", "U2carol", wsA, "POST", "/api/3.0/mlflow/roles/create", map[string]any{"name": "b-extra", "workspace": wsB}, 403},
		{"tenant admin reads other tenant's experiment", "U2carol", wsB, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expB, nil, 403},
		{"tenant admin cannot create workspaces", "U2carol", wsA, "POST", "/api/3.0/mlflow/workspaces", map[string]any{"name": "carol-ws"}, 403},
	}
	for _, tt := range tests {
		st, body := m.call(t, tt.user, tt.ws, tt.method, tt.path, tt.body)
		if st != tt.want {
			t.Errorf("%s: %s %s as %s in %q: status %d (%v); want %d", tt.name, tt.method, tt.path, tt.user, tt.ws, st, body, tt.want)
		}
	}
	// Search in the other tenant's workspace shows nothing of it.
	st, body := m.call(t, "U2alice", wsB, "POST", "/api/2.0/mlflow/experiments/search", map[string]any{"max_results": 100})
	if st == http.StatusOK && len(anyList(body["experiments"])) > 0 {
		t.Errorf("alice searching in %s sees %v", wsB, body["experiments"])
	}
	t.Logf("alice search in %s: status %d", wsB, st)
	// SyncRoles leaves tenant roles in tenant workspaces in place.
	if evs, err := p.SyncRoles(ctx); err != nil || len(evs) != 0 {
		t.Errorf("SyncRoles after tenants: %v, %v; want no change", evs, err)
	}
	if roleIDIn(t, m, wsA, "tenant-member") != roleA {
		t.Error("tenant role was recreated")
	}
}

func roleIDIn(tb testing.TB, m *realMLflow, ws, name string) int64 {
	tb.Helper()
	roles, err := m.client.Roles(context.Background(), ws)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range roles {
		if r.Name == name {
			return r.ID
		}
	}
	tb.Fatalf("no role %q in workspace %q (have %v)", name, ws, roles)
	return 0
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}
