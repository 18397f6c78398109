package usersync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// fakeProvisioner records what the sync asks for.
type fakeProvisioner struct {
	mu         sync.Mutex
	reconciled map[string]provision.Subject
	revoked    []string
}

func (f *fakeProvisioner) Reconcile(_ context.Context, s provision.Subject) ([]provision.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciled[s.Username] = s
	return []provision.Event{{Action: "assign_role", Username: s.Username}}, nil
}

func (f *fakeProvisioner) Revoke(_ context.Context, username, reason string) ([]provision.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, username)
	return []provision.Event{{Action: "unassign_role", Username: username, Detail: reason}}, nil
}

var _ usersync.Provisioner = (*fakeProvisioner)(nil)

type fakeUsers []string

func (f fakeUsers) Users(context.Context) ([]mlflow.User, error) {
	var out []mlflow.User
	for _, u := range f {
		out = append(out, mlflow.User{Username: u})
	}
	return out, nil
}

type harness struct {
	sim    *descopesim.Server
	prov   *fakeProvisioner
	syncer *usersync.Syncer
	sleeps []time.Duration
	off    []string
}

func newHarness(t *testing.T, mlflowUsers ...string) *harness {
	t.Helper()
	sim, err := descopesim.New(descopesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{sim: sim, prov: &fakeProvisioner{reconciled: map[string]provision.Subject{}}}
	h.syncer, err = usersync.New(usersync.Options{
		Descope: dc, MLflow: fakeUsers(mlflowUsers), Provisioner: h.prov, AdminUsername: "mlflow-admin",
		PageSize: 2, MaxRetries: 2,
		OnDisabled: func(id string) { h.off = append(h.off, id) },
		Sleep:      func(_ context.Context, d time.Duration) error { h.sleeps = append(h.sleeps, d); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mlflow-admin", "access-key-K1", "U1", "U2", "U3", "U4", "Ugone")
	if err := h.sim.CreateRole(descopesim.Role{Name: "reader", Permissions: []string{"mlflow:read"}}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []descopesim.User{
		{ID: "U1", Roles: []string{"reader"}, Tenants: []descopesim.UserTenant{{ID: "T1", Roles: []string{"member"}}}},
		{ID: "U2", Status: descopesim.StatusDisabled},
		{ID: "U3"},
		{ID: "U4"},
		{ID: "U5"}, // not in MLflow: ignored
	} {
		u.LoginIDs = []string{fmt.Sprintf("u%d@example.com", i)}
		if err := h.sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	// One 429 in the middle of paging: waited out, honouring Retry-After.
	if err := h.sim.InjectFault(descopesim.Fault{PathPrefix: "/v2/mgmt/user/search", Status: 429, RetryAfter: 7, Times: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err := h.syncer.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.DescopeUsers != 5 || rep.MLflowUsers != 5 {
		t.Errorf("saw %d descope users, %d mlflow users; want 5, 5", rep.DescopeUsers, rep.MLflowUsers)
	}
	if diff := cmp.Diff([]time.Duration{7 * time.Second}, h.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if got := h.sim.Count("/v2/mgmt/user/search"); got != 4 { // 3 pages of 2, plus the refused one
		t.Errorf("search calls = %d; want 4", got)
	}
	s := h.prov.reconciled["U1"]
	if !slices.Equal(s.ProjectRoles, []string{"reader"}) || !slices.Equal(s.ProjectPermissions, []string{"mlflow:read"}) || !slices.Equal(s.TenantRoles["T1"], []string{"member"}) {
		t.Errorf("U1 reconciled as %+v", s)
	}
	if diff := cmp.Diff([]string{"U2"}, rep.Disabled); diff != "" {
		t.Errorf("Disabled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Ugone"}, rep.Deleted); diff != "" {
		t.Errorf("Deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"U2", "Ugone"}, h.prov.revoked); diff != "" {
		t.Errorf("revoked (-want +got):\n%s", diff)
	}
	for id, want := range map[string]bool{"U1": false, "U2": true, "Ugone": true, "U5": false} {
		if got := h.syncer.Blocked(id); got != want {
			t.Errorf("Blocked(%s) = %t; want %t", id, got, want)
		}
	}
	if _, ok := h.prov.reconciled["access-key-K1"]; ok || len(h.prov.reconciled) != 3 {
		t.Errorf("reconciled %v; want U1, U3, U4 only", h.prov.reconciled)
	}
	if !slices.Equal(h.off, []string{"U2", "Ugone"}) {
		t.Errorf("OnDisabled got %v", h.off)
	}
	if len(rep.Events) == 0 {
		t.Error("report has no events")
	}
}

func TestRunOnceDescopeDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault descopesim.Fault
	}{
		{"search unavailable", descopesim.Fault{PathPrefix: "/v2/mgmt/user/search", Status: 503}},
		{"rate limited for good", descopesim.Fault{PathPrefix: "/v2/mgmt/user/search", Status: 429, RetryAfter: 1}},
		{"user lookup unavailable", descopesim.Fault{PathPrefix: "/v1/mgmt/user", Status: 503}},
		{"management key refused", descopesim.Fault{PathPrefix: "/v1/mgmt/user", Status: 401}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "U1", "Ugone")
			if err := h.sim.CreateUser(descopesim.User{ID: "U1", LoginIDs: []string{"u1@example.com"}}); err != nil {
				t.Fatal(err)
			}
			if err := h.sim.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			rep, err := h.syncer.RunOnce(context.Background())
			if len(h.prov.revoked) != 0 || h.syncer.Blocked("Ugone") {
				t.Errorf("revoked %v while Descope could not confirm a deletion", h.prov.revoked)
			}
			if tt.fault.PathPrefix == "/v2/mgmt/user/search" && (err == nil || !errors.Is(err, descope.ErrUnavailable)) {
				t.Errorf("RunOnce err = %v; want ErrUnavailable", err)
			}
			if tt.fault.PathPrefix == "/v1/mgmt/user" && rep.Failed["Ugone"] == "" {
				t.Errorf("Failed = %v; want Ugone listed", rep.Failed)
			}
			// The next run, with Descope back, does the job.
			h.sim.ClearFaults()
			if rep, err := h.syncer.RunOnce(context.Background()); err != nil || !slices.Equal(rep.Deleted, []string{"Ugone"}) {
				t.Errorf("after recovery: deleted %v err %v", rep.Deleted, err)
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := usersync.New(usersync.Options{Descope: descopeFor(t, h.sim), MLflow: fakeUsers(nil), Provisioner: h.prov, AdminUsername: "a", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func descopeFor(t *testing.T, sim *descopesim.Server) *descope.Client {
	t.Helper()
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := usersync.New(usersync.Options{}); err == nil {
		t.Error("New with no options succeeded")
	}
}
