package provision_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// fakeRoles is an MLflow whose roles/list answers with fail for the first
// failures calls, then with an empty list.
func fakeRoles(t *testing.T, failures int32, fail func(w http.ResponseWriter)) (*provision.Policy, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/3.0/mlflow/roles/list" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) <= failures {
			fail(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"roles": []}`)
	}))
	t.Cleanup(srv.Close)
	client, err := mlflow.NewClient(srv.URL, "admin", func(string) (string, error) { return "v1.x.y", nil }, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	p, err := provision.New(provision.Options{MLflow: client})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := provision.NewPolicy(provision.PolicyOptions{Provisioner: p, RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return pol, &calls
}

// hangUp drops the connection without an answer, as a crashing MLflow does.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestMappingWaitsOutMLflowOutages: MLflow dying or answering 503 while the
// mapping is applied must not stop the gateway (it did: CI once killed MLflow
// mid-apply and the whole gateway exited); it is applied once MLflow is back,
// and /ready says so only then.
func TestMappingWaitsOutMLflowOutages(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(http.ResponseWriter)
	}{
		{"connection dropped", hangUp},
		{"503", func(w http.ResponseWriter) { http.Error(w, "starting", http.StatusServiceUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, calls := fakeRoles(t, 3, tc.fail)
			if a.MappingApplied() {
				t.Fatal("mapping ready before it was applied")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.ApplyMapping(ctx); err != nil {
				t.Fatalf("run: %v", err)
			}
			if !a.MappingApplied() {
				t.Error("mapping not ready after it was applied")
			}
			if n := calls.Load(); n != 4 {
				t.Errorf("roles/list called %d times, want 4 (3 failures, 1 success)", n)
			}
		})
	}
}

// TestRefusedMappingStopsTheGateway: a 4xx from MLflow is a mapping MLflow
// will never take; retrying would hide it, so run fails at once.
func TestRefusedMappingStopsTheGateway(t *testing.T) {
	a, calls := fakeRoles(t, 1000, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad role"}`)
	})
	err := a.ApplyMapping(context.Background())
	if err == nil || !errors.Is(err, mlflow.ErrInvalidParameter) {
		t.Fatalf("run = %v, want the refusal", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("roles/list called %d times, want 1", n)
	}
	if a.MappingApplied() {
		t.Error("mapping ready after MLflow refused it")
	}
}

// TestMappingRetryEndsWithContext: a gateway told to stop while MLflow is
// still down stops cleanly.
func TestMappingRetryEndsWithContext(t *testing.T) {
	a, _ := fakeRoles(t, 1<<30, hangUp)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.ApplyMapping(ctx); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

// TestBoundKeySharesUsernameOnlyWhenSure: with permission rules in the
// mapping, a user record (roles only) cannot show the user's permissions,
// so a key never shares the user's MLflow username; with role rules only,
// the same roles share it and other roles do not.
func TestBoundKeySharesUsernameOnlyWhenSure(t *testing.T) {
	parse := func(src string) *rolemap.Mapping {
		m, err := rolemap.Parse("roles.json", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	byRole := parse(`{"roles": [{"descope_role": "ml-editor", "mlflow_role": "editors",
	  "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}]}`)
	byPermission := parse(`{"roles": [{"descope_permission": "mlflow:edit", "mlflow_role": "editors",
	  "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}]}`)
	user := &descope.User{UserID: "U2alice", RoleNames: []string{"ml-editor"}}
	for _, tc := range []struct {
		name    string
		mapping *rolemap.Mapping
		key     descope.Token
		want    bool
	}{
		{"role rules, same roles", byRole, descope.Token{Roles: []string{"ml-editor"}}, true},
		{"role rules, fewer roles", byRole, descope.Token{}, false},
		// The user's ml-editor role may carry mlflow:edit; the key has none.
		{"permission rules, key without permissions", byPermission, descope.Token{}, false},
		{"permission rules, same roles", byPermission, descope.Token{Roles: []string{"ml-editor"}}, false},
	} {
		p, err := provision.New(provision.Options{MLflow: &mlflow.Client{}, Mapping: tc.mapping})
		if err != nil {
			t.Fatal(err)
		}
		a, err := provision.NewPolicy(provision.PolicyOptions{Provisioner: p})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.SameAsUser(&tc.key, user); got != tc.want {
			t.Errorf("%s: sameAsUser = %v, want %v", tc.name, got, tc.want)
		}
	}
}
