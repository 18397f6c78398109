package provision_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// TestExplainNamesTheMLflowUser: explain finds a user by MLflow username,
// user ID or login ID (old or new), and says which MLflow username the
// user has, since when, why, and that it outlived a login ID change.
func TestExplainNamesTheMLflowUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := descopesim.New(descopesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	for _, u := range []descopesim.User{
		{ID: "U2alice", LoginIDs: []string{"alice.new@example.com"}},
		{ID: "U2newbie", LoginIDs: []string{"alice@example.com"}},
		{ID: "U2never", LoginIDs: []string{"never@example.com"}},
	} {
		if err := sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	store, err := audit.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, dialect := store.(audit.SQLBacked).SQL()
	names, err := naming.New(ctx, naming.Options{DB: db, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	profile := func(login string) func(context.Context) (naming.Profile, error) {
		return func(context.Context) (naming.Profile, error) { return naming.Profile{LoginID: login}, nil }
	}
	if _, err := names.Assign(ctx, "U2alice", profile("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := names.Assign(ctx, "U2newbie", profile("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := names.NoteProfile(ctx, "U2alice", naming.Profile{LoginID: "alice.new@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"alice@example.com", []string{"descope user:     U2alice", "mlflow username:  alice@example.com (decided", "from the login ID",
			"login id then:  alice@example.com (now alice.new@example.com; the username was kept)",
			"also matches:     MLflow user alice@example.com~2 of Descope user U2newbie (login id alice@example.com)"}},
		{"alice.new@example.com", []string{"descope user:     U2alice", "mlflow username:  alice@example.com "}},
		{"U2newbie", []string{"mlflow username:  alice@example.com~2", "because:", "another Descope user (U2alice)"}},
		{"alice@example.com~2", []string{"descope user:     U2newbie"}},
		{"never@example.com", []string{"descope user:     U2never", "mlflow username:  none yet", "from the loginId"}},
	} {
		var b strings.Builder
		if err := provision.Explain(ctx, provision.ExplainDeps{Descope: dc, Names: names}, tt.q, &b); err != nil {
			t.Fatalf("Explain(%s): %v", tt.q, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("Explain(%s) =\n%s\nwant a line containing %q", tt.q, b.String(), w)
			}
		}
	}
}
