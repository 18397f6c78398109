package provision_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

func sorted(s []string) []string { slices.Sort(s); return s }

func mustMapping(tb testing.TB, src string) *rolemap.Mapping {
	tb.Helper()
	m, err := rolemap.Parse("roles.json", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func fakeProvisioner(tb testing.TB, c *mlflow.Client, src string, workspaces bool, events *[]provision.Event) *provision.Provisioner {
	tb.Helper()
	var mu sync.Mutex
	p, err := provision.New(provision.Options{MLflow: c, Mapping: mustMapping(tb, src), AdminRoles: []string{"admin"}, Workspaces: workspaces,
		Events: event.SinkFunc(func(r *event.Record) {
			if events != nil {
				mu.Lock()
				for _, e := range r.Events {
					*events = append(*events, e.(provision.Event))
				}
				mu.Unlock()
			}
		})})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func grantsOf(r *mlflow.Role) []string {
	var out []string
	for _, p := range r.Permissions {
		out = append(out, p.ResourceType+" "+p.ResourcePattern+" "+p.Permission)
	}
	return sorted(out)
}

func TestSyncRoles(t *testing.T) {
	t.Parallel()
	f, c := newFakeMLflow(t)
	ctx := context.Background()
	hand := f.AddRole("hand-made", "default", "made in the UI", mlflow.Grant{ResourceType: "experiment", ResourcePattern: "*", Permission: "MANAGE"})
	p := fakeProvisioner(t, c, matrixMapping, false, nil)
	evs, err := p.SyncRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("first SyncRoles reported no change")
	}
	ed := f.Role("default", "editors")
	if ed == nil {
		t.Fatal("editors not created")
	}
	if diff := cmp.Diff([]string{"experiment * EDIT", "registered_model * EDIT"}, grantsOf(ed)); diff != "" {
		t.Errorf("editors grants (-want +got):\n%s", diff)
	}
	if !provision.Managed(*ed) || *ed.Description != provision.ManagedTag+" edit everything" {
		t.Errorf("editors description = %q", *ed.Description)
	}
	// Idempotent.
	if evs, err := p.SyncRoles(ctx); err != nil || len(evs) != 0 {
		t.Errorf("second SyncRoles: events %v err %v; want none", evs, err)
	}
	// The file changes: viewers go away, editors lose a grant and change one.
	p2 := fakeProvisioner(t, c, `{"roles": [{"descope_role": "ml-editor", "mlflow_role": "editors", "description": "edit everything",
		"grants": [{"resource_type": "experiment", "pattern": "*", "permission": "MANAGE"}]}]}`, false, nil)
	if _, err := p2.SyncRoles(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Role("default", "viewers") != nil {
		t.Error("viewers still exists after leaving the file")
	}
	if diff := cmp.Diff([]string{"experiment * MANAGE"}, grantsOf(f.Role("default", "editors"))); diff != "" {
		t.Errorf("editors grants after change (-want +got):\n%s", diff)
	}
	if got := f.Role("default", "hand-made"); got == nil || got.ID != hand.ID || len(got.Permissions) != 1 {
		t.Errorf("hand-made role was touched: %+v", got)
	}
	// A hand-made role with a mapped name is left alone and reported.
	f.AddRole("auditors", "default", "mine")
	p3 := fakeProvisioner(t, c, `{"roles": [{"descope_role": "audit", "mlflow_role": "auditors"}]}`, false, nil)
	if _, err := p3.SyncRoles(ctx); !errors.Is(err, provision.ErrUnmanagedConflict) {
		t.Errorf("SyncRoles over a hand-made role: err %v; want ErrUnmanagedConflict", err)
	}
}

func TestEnsureReconcilesRoles(t *testing.T) {
	t.Parallel()
	f, c := newFakeMLflow(t)
	ctx := context.Background()
	var events []provision.Event
	p := fakeProvisioner(t, c, matrixMapping, false, &events)
	if _, err := p.SyncRoles(ctx); err != nil {
		t.Fatal(err)
	}
	hand := f.AddRole("hand-made", "default", "made in the UI")
	tests := []struct {
		name      string
		s         provision.Subject
		wantRoles []string
		wantAdmin bool
	}{
		{"editor", provision.Subject{Username: "U1", ProjectRoles: []string{"ml-editor"}}, []string{"default/editors"}, false},
		{"editor and viewer", provision.Subject{Username: "U1", ProjectRoles: []string{"ml-editor", "ml-viewer"}}, []string{"default/editors", "default/viewers"}, false},
		{"viewer only: editors taken away", provision.Subject{Username: "U1", ProjectRoles: []string{"ml-viewer"}}, []string{"default/viewers"}, false},
		{"admin by env", provision.Subject{Username: "U1", ProjectRoles: []string{"admin"}}, nil, true},
		{"admin by file", provision.Subject{Username: "U1", ProjectRoles: []string{"platform-admin"}}, nil, true},
		{"admin by gateway flag", provision.Subject{Username: "U1", Admin: true}, nil, true},
		{"nothing", provision.Subject{Username: "U1"}, nil, false},
	}
	// A hand-made role given in MLflow survives every reconciliation.
	if err := p.Ensure(ctx, provision.Subject{Username: "U1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignRole(ctx, "U1", hand.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests { // sequential: each step starts from the last
		if err := p.Ensure(ctx, tt.s); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := sorted(append(slices.Clone(tt.wantRoles), "default/hand-made"))
		if diff := cmp.Diff(want, f.RoleNames("U1")); diff != "" {
			t.Errorf("%s: roles (-want +got):\n%s", tt.name, diff)
		}
		u, _ := c.User(ctx, "U1")
		if u.IsAdmin != tt.wantAdmin {
			t.Errorf("%s: is_admin = %t; want %t", tt.name, u.IsAdmin, tt.wantAdmin)
		}
	}
	// Unchanged identity: served from the cache, no MLflow call.
	before := f.TotalCalls()
	if err := p.Ensure(ctx, provision.Subject{Username: "U1"}); err != nil {
		t.Fatal(err)
	}
	if f.TotalCalls() != before {
		t.Errorf("cached Ensure made %d calls", f.TotalCalls()-before)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"create_role", "provision_user", "assign_role", "unassign_role", "set_admin"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %s event in %v", want, actions)
		}
	}
}

func TestEnsureWorkspaces(t *testing.T) {
	t.Parallel()
	f, c := newFakeMLflow(t)
	ctx := context.Background()
	p := fakeProvisioner(t, c, matrixMapping, true, nil)
	f.HideWS = true // another replica creates the workspace between our GET and POST
	f.Workspaces[rolemap.DeriveWorkspaceName("T2B")] = true
	s := provision.Subject{Username: "U1", TenantRoles: map[string][]string{"T2A": {"member"}, "T2B": {"tenant-admin"}, "T2C": {"guest"}}}
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	a, b := rolemap.DeriveWorkspaceName("T2A"), rolemap.DeriveWorkspaceName("T2B")
	if diff := cmp.Diff(sorted([]string{a + "/tenant-member", b + "/tenant-tenant-admin"}), f.RoleNames("U1")); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"experiment * EDIT", "registered_model * EDIT", "workspace * USE"}, grantsOf(f.Role(a, "tenant-member"))); diff != "" {
		t.Errorf("tenant-member grants (-want +got):\n%s", diff)
	}
	if !f.Workspaces[a] || f.Workspaces[rolemap.DeriveWorkspaceName("T2C")] {
		t.Errorf("workspaces = %v; want %s and no workspace for a tenant without a rule", f.Workspaces, a)
	}
	// Leaving tenant B in Descope takes the workspace role away.
	s.TenantRoles = map[string][]string{"T2A": {"member"}}
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a + "/tenant-member"}, f.RoleNames("U1")); diff != "" {
		t.Errorf("roles after leaving B (-want +got):\n%s", diff)
	}
	// SyncRoles keeps tenant roles found in tenant workspaces.
	if _, err := p.SyncRoles(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Role(a, "tenant-member") == nil {
		t.Error("SyncRoles deleted a tenant role")
	}
}

func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	f, c := newFakeMLflow(t)
	p := fakeProvisioner(t, c, matrixMapping, false, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			errs <- p.Ensure(context.Background(), provision.Subject{Username: "U1", ProjectRoles: []string{"ml-editor"}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.UserCreates != 1 {
		t.Errorf("user created %d times; want 1", f.UserCreates)
	}
	if diff := cmp.Diff([]string{"default/editors"}, f.RoleNames("U1")); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
}

func TestEnsureBlocked(t *testing.T) {
	t.Parallel()
	_, c := newFakeMLflow(t)
	p, err := provision.New(provision.Options{MLflow: c, Blocked: func(u string) bool { return u == "U1" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(context.Background(), provision.Subject{Username: "U1"}); !errors.Is(err, provision.ErrBlocked) {
		t.Errorf("Ensure(blocked) = %v; want ErrBlocked", err)
	}
	if err := p.Ensure(context.Background(), provision.Subject{Username: "U2"}); err != nil {
		t.Errorf("Ensure(U2) = %v", err)
	}
}

// TestRemovalsDoNotWaitForGrants: a role taken away in Descope leaves MLflow
// even when granting the user's new role fails (here: the role was deleted
// in MLflow behind the gateway's back).
func TestRemovalsDoNotWaitForGrants(t *testing.T) {
	t.Parallel()
	f, c := newFakeMLflow(t)
	ctx := context.Background()
	p := fakeProvisioner(t, c, matrixMapping, false, nil)
	if _, err := p.SyncRoles(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(ctx, provision.Subject{Username: "U1", ProjectRoles: []string{"ml-editor"}}); err != nil {
		t.Fatal(err)
	}
	viewers := f.Role("default", "viewers")
	f.Mu.Lock()
	delete(f.Roles, viewers.ID)
	f.Mu.Unlock()
	if err := p.Ensure(ctx, provision.Subject{Username: "U1", ProjectRoles: []string{"ml-viewer"}}); err == nil {
		t.Error("assigning a deleted role reported success")
	}
	if got := f.RoleNames("U1"); len(got) != 0 {
		t.Errorf("roles after the failed grant: %v; editors should be gone", got)
	}
}
