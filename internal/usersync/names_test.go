package usersync_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// mlflowNames answers the naming store's questions from a fixed user list.
type mlflowNames []string

func (m mlflowNames) User(_ context.Context, name string) (mlflow.User, error) {
	if slices.Contains(m, name) {
		return mlflow.User{Username: name}, nil
	}
	return mlflow.User{}, mlflow.ErrNotFound
}

func (m mlflowNames) Users(context.Context) ([]mlflow.User, error) {
	return fakeUsers(m).Users(context.Background())
}

// TestSyncFindsUsersThroughTheirNames: with readable usernames, the sync
// reconciles, blocks and revokes each Descope user's own MLflow user (found
// through the mapping, not by taking a user ID for a name), leaves MLflow
// users that are nobody's alone, and records login ID changes.
func TestSyncFindsUsersThroughTheirNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := descopesim.New(descopesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	for _, u := range []descopesim.User{
		{ID: "U2active", LoginIDs: []string{"active.new@example.com"}},
		{ID: "U2disabled", LoginIDs: []string{"disabled@example.com"}, Status: descopesim.StatusDisabled},
		{ID: "U2legacy", LoginIDs: []string{"legacy@example.com"}},
		// A newcomer holding the disabled user's old login ID: not them.
		{ID: "U2other", LoginIDs: []string{"gone@example.com"}},
	} {
		if err := sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	store, err := audit.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, dialect := store.(audit.SQLBacked).SQL()
	inMLflow := mlflowNames{"mlflow-admin", "U2legacy", "active@example.com", "disabled@example.com", "gone@example.com", "handmade"}
	names, err := naming.New(ctx, naming.Options{DB: db, Dialect: dialect, MLflow: inMLflow,
		Reserved: naming.Reserved{Names: []string{"mlflow-admin"}, Prefixes: []string{"access-key-"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The names were decided at earlier sign-ins (U2legacy's by a release
	// before readable names); "handmade" is nobody's.
	for id, login := range map[string]string{"U2active": "active@example.com", "U2disabled": "disabled@example.com", "U2deleted": "gone@example.com"} {
		mu := slices.DeleteFunc(slices.Clone(inMLflow), func(n string) bool { return n == login })
		n2, _ := naming.New(ctx, naming.Options{DB: db, Dialect: dialect, MLflow: mu})
		if _, err := n2.Assign(ctx, id, func(context.Context) (naming.Profile, error) { return naming.Profile{LoginID: login}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := names.Assign(ctx, "U2legacy", nil); err != nil {
		t.Fatal(err)
	}
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvisioner{reconciled: map[string]provision.Subject{}}
	blocked := denylist.Memory()
	s, err := usersync.New(usersync.Options{Descope: dc, MLflow: fakeUsers(inMLflow), Provisioner: prov, AdminUsername: "mlflow-admin",
		Blocklist: blocked, Names: names, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var reconciled []string
	for name := range prov.reconciled {
		reconciled = append(reconciled, name)
	}
	slices.Sort(reconciled)
	if want := []string{"U2legacy", "active@example.com"}; !slices.Equal(reconciled, want) {
		t.Errorf("reconciled %v, want %v", reconciled, want)
	}
	slices.Sort(prov.revoked)
	if want := []string{"disabled@example.com", "gone@example.com"}; !slices.Equal(prov.revoked, want) {
		t.Errorf("revoked %v, want %v", prov.revoked, want)
	}
	for _, id := range []string{"U2disabled", "U2deleted"} {
		if !blocked.Blocked(id) {
			t.Errorf("%s not blocked", id)
		}
	}
	for _, id := range []string{"U2other", "handmade", "gone@example.com", "U2active"} {
		if blocked.Blocked(id) {
			t.Errorf("%s blocked", id)
		}
	}
	if !slices.Equal(rep.Deleted, []string{"U2deleted"}) || !slices.Equal(rep.Disabled, []string{"U2disabled"}) {
		t.Errorf("report: deleted %v, disabled %v", rep.Deleted, rep.Disabled)
	}
	r, _, _ := names.Lookup(ctx, "U2active")
	fresh, _ := naming.New(ctx, naming.Options{DB: db, Dialect: dialect})
	r2, _, _ := fresh.Lookup(ctx, "U2active")
	if r.LoginID != "active.new@example.com" || r2.LoginID != "active.new@example.com" || r2.Username != "active@example.com" {
		t.Errorf("after the sync: %+v / in the database %+v", r, r2)
	}
}
