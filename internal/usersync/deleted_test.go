package usersync_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// TestDeletedUserBlockedAtNextSync: a user deleted in Descope after a sync
// found them is blocked by the next one. The simulator answers the lookup the
// way Descope's management API does (400 E112102); the auth API's code
// (E062108) and a plain 404 count as well, and nothing else does.
func TestDeletedUserBlockedAtNextSync(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   *descopesim.Fault // answer to the lookup instead of the simulator's own
		blocked bool
	}{
		{name: "management code E112102"},
		{name: "auth code E062108", blocked: true, fault: &descopesim.Fault{PathPrefix: "/v1/mgmt/user", Method: "GET", Status: 400,
			Body: `{"errorCode":"E062108","errorDescription":"User not found","errorMessage":"x"}`}},
		{name: "404", blocked: true, fault: &descopesim.Fault{PathPrefix: "/v1/mgmt/user", Method: "GET", Status: 404}},
		{name: "other 400 is no proof", fault: &descopesim.Fault{PathPrefix: "/v1/mgmt/user", Method: "GET", Status: 400,
			Body: `{"errorCode":"E011001","errorDescription":"Bad request","errorMessage":"x"}`}},
		{name: "403 is no proof", fault: &descopesim.Fault{PathPrefix: "/v1/mgmt/user", Method: "GET", Status: 403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "U2bye")
			if err := h.sim.CreateUser(descopesim.User{ID: "U2bye", LoginIDs: []string{"bye@example.com"}}); err != nil {
				t.Fatal(err)
			}
			rep, err := h.syncer.RunOnce(context.Background())
			if err != nil || h.syncer.Blocked("U2bye") || len(rep.Deleted) != 0 {
				t.Fatalf("first sync: blocked %v deleted %v err %v; want the user kept", h.syncer.Blocked("U2bye"), rep.Deleted, err)
			}
			if err := h.sim.DeleteUser("U2bye"); err != nil {
				t.Fatal(err)
			}
			wantBlocked := true
			if tt.fault != nil {
				wantBlocked = tt.blocked
				if err := h.sim.InjectFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			rep, _ = h.syncer.RunOnce(context.Background())
			if got := h.syncer.Blocked("U2bye"); got != wantBlocked {
				t.Errorf("blocked after deletion = %v; want %v (deleted %v, failed %v)", got, wantBlocked, rep.Deleted, rep.Failed)
			}
			if wantBlocked && (!slices.Equal(rep.Deleted, []string{"U2bye"}) || !slices.Contains(h.prov.revoked, "U2bye")) {
				t.Errorf("deleted %v revoked %v; want U2bye in both", rep.Deleted, h.prov.revoked)
			}
		})
	}
}

// TestSimAnswersManagementUserNotFound pins the simulator's wire answer, so
// the test above exercises the management code and not a stand-in.
func TestSimAnswersManagementUserNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := descopeFor(t, h.sim).UserByID(context.Background(), "U2nobody")
	var ae *descope.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != descope.CodeManagementUserNotFound {
		t.Fatalf("UserByID(unknown) = %v; want 400 %s", err, descope.CodeManagementUserNotFound)
	}
	if !descope.IsUserNotFound(err) {
		t.Error("IsUserNotFound = false for the management code")
	}
}
