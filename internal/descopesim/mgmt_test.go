package descopesim

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type searchBody struct {
	Users []wireUser `json:"users"`
	Total int        `json:"total"`
}

func TestUserSearch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := newSim(t, Options{Now: func() time.Time { return now }})
	for i := range 7 {
		u := User{ID: fmt.Sprintf("U2s%d", i), Email: fmt.Sprintf("s%d@example.com", i), Roles: []string{"member"}}
		if i%2 == 0 {
			u.Tenants = []UserTenant{{ID: "T-even", Roles: []string{"lead"}}}
		}
		mustUser(t, s, u)
	}
	mustOK(t, s.SetUserStatus("U2s6", StatusDisabled))
	s.Advance(time.Hour)
	mustOK(t, s.UpdateUser(User{ID: "U2s1", Email: "s1@example.com", Name: "changed"}))
	mgmt := testProject + ":" + DefaultManagementKey
	afterMs := strconv.FormatInt(now.Add(30*time.Minute).UnixMilli(), 10)

	tests := []struct {
		name      string
		body      string
		wantIDs   []string
		wantTotal int
	}{
		{name: "first page", body: `{"limit":3,"page":0}`, wantIDs: []string{"U2s0", "U2s1", "U2s2"}, wantTotal: 7},
		{name: "last page", body: `{"limit":3,"page":2}`, wantIDs: []string{"U2s6"}, wantTotal: 7},
		{name: "past the end", body: `{"limit":3,"page":5}`, wantIDs: nil, wantTotal: 7},
		{name: "default limit", body: `{}`, wantIDs: []string{"U2s0", "U2s1", "U2s2", "U2s3", "U2s4", "U2s5", "U2s6"}, wantTotal: 7},
		{name: "tenant", body: `{"tenantIds":["T-even"]}`, wantIDs: []string{"U2s0", "U2s2", "U2s4", "U2s6"}, wantTotal: 4},
		{name: "tenant role name", body: `{"roleNames":["lead"],"limit":2,"page":1}`, wantIDs: []string{"U2s4", "U2s6"}, wantTotal: 4},
		{name: "status", body: `{"statuses":["disabled"]}`, wantIDs: []string{"U2s6"}, wantTotal: 1},
		{name: "modified since", body: `{"fromModifiedTime":` + afterMs + `}`, wantIDs: []string{"U2s1"}, wantTotal: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got searchBody
			if resp := call(t, s, http.MethodPost, "/v2/mgmt/user/search", mgmt, tt.body, &got); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var ids []string
			for _, u := range got.Users {
				ids = append(ids, u.UserID)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if got.Total != tt.wantTotal {
				t.Errorf("total = %d; want %d", got.Total, tt.wantTotal)
			}
		})
	}
}

func TestManagementAuth(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{ManagementKey: "k1"})
	mustUser(t, s, User{ID: "U2a", LoginIDs: []string{"a@example.com"}})
	tests := []struct {
		name       string
		auth       string
		path       string
		wantStatus int
	}{
		{name: "right key", auth: testProject + ":k1", path: "/v1/mgmt/user?loginId=a@example.com", wantStatus: http.StatusOK},
		{name: "by user id", auth: testProject + ":k1", path: "/v1/mgmt/user?userId=U2a", wantStatus: http.StatusOK},
		{name: "unknown user", auth: testProject + ":k1", path: "/v1/mgmt/user?loginId=b@example.com", wantStatus: http.StatusBadRequest},
		{name: "wrong key", auth: testProject + ":k2", path: "/v1/mgmt/user?userId=U2a", wantStatus: http.StatusUnauthorized},
		{name: "wrong project", auth: "P2Other:k1", path: "/v1/mgmt/user?userId=U2a", wantStatus: http.StatusUnauthorized},
		{name: "no key", auth: testProject, path: "/v1/mgmt/role/all", wantStatus: http.StatusUnauthorized},
		{name: "roles", auth: testProject + ":k1", path: "/v1/mgmt/role/all", wantStatus: http.StatusOK},
		{name: "tenants", auth: testProject + ":k1", path: "/v1/mgmt/tenant/all", wantStatus: http.StatusOK},
		{name: "license", auth: testProject + ":k1", path: "/v1/mgmt/license", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if resp := call(t, s, http.MethodGet, tt.path, tt.auth, "", nil); resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestRolesAndTenants(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustOK(t, s.CreateRole(Role{Name: "admin", Permissions: []string{"all"}}))
	mustOK(t, s.CreateTenant(Tenant{ID: "T1", Name: "One"}))
	mustUser(t, s, User{ID: "U2r", Roles: []string{"viewer"}, Tenants: []UserTenant{{ID: "T2", Name: "Two", Roles: []string{"editor"}}}})
	mgmt := testProject + ":" + DefaultManagementKey

	var roles struct {
		Roles []struct {
			Name            string   `json:"name"`
			PermissionNames []string `json:"permissionNames"`
		} `json:"roles"`
	}
	call(t, s, http.MethodGet, "/v1/mgmt/role/all", mgmt, "", &roles)
	var names []string
	for _, r := range roles.Roles {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"admin", "editor", "viewer"}, names); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	var tenants struct {
		Tenants []Tenant `json:"tenants"`
	}
	call(t, s, http.MethodGet, "/v1/mgmt/tenant/all", mgmt, "", &tenants)
	if diff := cmp.Diff([]Tenant{{ID: "T1", Name: "One"}, {ID: "T2", Name: "Two"}}, tenants.Tenants); diff != "" {
		t.Errorf("tenants (-want +got):\n%s", diff)
	}
}
