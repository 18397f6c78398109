package provision_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// TestLifecycleRealMLflow: a role removed in Descope is gone at the next
// refresh; a user disabled or deleted in Descope loses everything at the
// next sync and is blocked; explain says why each user is what it is.
func TestLifecycleRealMLflow(t *testing.T) {
	t.Parallel()
	m := startMLflow(t, false, "NO_PERMISSIONS")
	e := newEnv(t)
	ctx := context.Background()
	var syncer *usersync.Syncer
	p := newProvisioner(t, m, false, func(u string) bool { return syncer != nil && syncer.Blocked(u) })
	var err error
	syncer, err = usersync.New(usersync.Options{Descope: e.dc, MLflow: m.client, Provisioner: p, AdminUsername: m.client.AdminUsername()})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []descopesim.User{
		{ID: "U2admin", LoginIDs: []string{"admin@example.com"}, Roles: []string{"admin"}},
		{ID: "U2editor", LoginIDs: []string{"editor@example.com"}, Roles: []string{"ml-editor"}},
		{ID: "U2viewer", LoginIDs: []string{"viewer@example.com"}, Roles: []string{"ml-viewer"}},
		{ID: "U2nobody", LoginIDs: []string{"nobody@example.com"}},
	} {
		e.addUser(t, u)
		if err := p.Ensure(ctx, e.signIn(t, u.ID, descopesim.MintOptions{})); err != nil {
			t.Fatal(err)
		}
	}
	exp := m.mustCall(t, m.client.AdminUsername(), "", "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "shared"})["experiment_id"].(string)
	canRead := func(user string) bool {
		st, _ := m.call(t, user, "", "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+exp, nil)
		return st == 200
	}
	if !canRead("U2viewer") || canRead("U2nobody") {
		t.Fatalf("before: viewer read=%t nobody read=%t; want true, false", canRead("U2viewer"), canRead("U2nobody"))
	}

	// explain, for every matrix user.
	mp, _ := rolemap.Parse("roles.json", []byte(matrixMapping))
	for _, tt := range []struct{ id, want string }{
		{"admin@example.com", "admin:            yes, by DESCOPE_ADMIN_ROLES: project role \"admin\""},
		{"editor@example.com", "role:             editors in workspace default, by roles.json:5 roles: project role \"ml-editor\""},
		{"U2viewer", "role:             viewers in workspace default, by roles.json:8 roles: project role \"ml-viewer\""},
		{"nobody@example.com", "roles:            none"},
	} {
		var b strings.Builder
		if err := provision.Explain(ctx, provision.ExplainDeps{Descope: e.dc, Mapping: mp, AdminRoles: []string{"admin"}, MLflow: m.client}, tt.id, &b); err != nil {
			t.Fatalf("Explain(%s): %v", tt.id, err)
		}
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("Explain(%s) =\n%s\nwant a line containing %q", tt.id, b.String(), tt.want)
		}
	}

	// A role removed in Descope: gone at the next refresh (new token).
	if err := e.sim.UpdateUser(descopesim.User{ID: "U2viewer", LoginIDs: []string{"viewer@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(ctx, e.signIn(t, "U2viewer", descopesim.MintOptions{})); err != nil {
		t.Fatal(err)
	}
	if canRead("U2viewer") {
		t.Errorf("viewer still reads after the role was removed and the session refreshed")
	}

	// A role changed in Descope reaches MLflow at the next sync, without a
	// sign-in; a disabled user and a deleted user lose everything.
	if err := e.sim.UpdateUser(descopesim.User{ID: "U2nobody", LoginIDs: []string{"nobody@example.com"}, Roles: []string{"ml-viewer"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetUserStatus("U2editor", descopesim.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.DeleteUser("U2admin"); err != nil {
		t.Fatal(err)
	}
	rep, err := syncer.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if !slices.Equal(rep.Disabled, []string{"U2editor"}) || !slices.Equal(rep.Deleted, []string{"U2admin"}) || !slices.Contains(rep.Reconciled, "U2nobody") {
		t.Errorf("report: disabled %v deleted %v reconciled %v; want [U2editor] [U2admin] and U2nobody", rep.Disabled, rep.Deleted, rep.Reconciled)
	}
	if len(rep.Failed) > 0 {
		t.Errorf("report failures: %v", rep.Failed)
	}
	if !canRead("U2nobody") {
		t.Errorf("nobody cannot read after gaining ml-viewer and a sync")
	}
	if canRead("U2editor") || canRead("U2admin") {
		t.Errorf("disabled editor or deleted admin can still read")
	}
	for _, u := range []string{"U2editor", "U2admin"} {
		mu, err := m.client.User(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		roles, err := m.client.UserRoles(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if mu.IsAdmin || len(roles) > 0 {
			t.Errorf("%s after sync: is_admin=%t roles=%v; want neither", u, mu.IsAdmin, roles)
		}
		if !syncer.Blocked(u) {
			t.Errorf("Blocked(%s) = false after sync", u)
		}
	}
	// A blocked user's still-valid token does not bring the roles back.
	if err := p.Ensure(ctx, provision.Subject{Username: "U2editor", ProjectRoles: []string{"ml-editor"}}); err == nil {
		t.Errorf("Ensure for a blocked user succeeded")
	}
	// Enabled again: unblocked at the next sync.
	if err := e.sim.SetUserStatus("U2editor", descopesim.StatusEnabled); err != nil {
		t.Fatal(err)
	}
	if rep, err = syncer.RunOnce(ctx); err != nil || !slices.Equal(rep.Unblocked, []string{"U2editor"}) || !canRead("U2editor") {
		t.Errorf("after re-enabling: err %v unblocked %v read %t", err, rep.Unblocked, canRead("U2editor"))
	}

	// A role removed from the mapping file is deleted from MLflow at the next
	// SyncRoles; a hand-made role is left alone.
	hand, err := m.client.CreateRole(ctx, "hand-made", "default", "made in the UI")
	if err != nil {
		t.Fatal(err)
	}
	shrunk, err := provision.New(provision.Options{MLflow: m.client, Mapping: mustMapping(t, `{"roles": [{"descope_role": "ml-editor", "mlflow_role": "editors",
		"grants": [{"resource_type": "experiment", "pattern": "*", "permission": "READ"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shrunk.SyncRoles(ctx); err != nil {
		t.Fatal(err)
	}
	roles, err := m.client.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	if slices.Contains(names, "viewers") || !slices.Contains(names, "editors") || !slices.Contains(names, hand.Name) {
		t.Errorf("roles after shrinking the mapping: %v; want editors and hand-made, no viewers", names)
	}
	if canRead("U2nobody") {
		t.Errorf("nobody still reads after viewers left the mapping")
	}
	if evs, err := shrunk.SyncRoles(ctx); err != nil || len(evs) != 0 {
		t.Errorf("repeated SyncRoles: %v, %v; want no change", evs, err)
	}
}
