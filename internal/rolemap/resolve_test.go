package rolemap

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

func inputOf(tok *descope.Token) Input {
	return Input{
		ProjectRoles: tok.ProjectRoles(), ProjectPermissions: tok.ProjectPermissions(),
		TenantRoles: tok.TenantRoles(), TenantPermissions: tok.TenantPermissions(),
		AdminRoles: []string{"admin", "mlflow-admin"}, Workspaces: true,
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	m, err := Load(filepath.Join("testdata", "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	research := "research"
	acme := DeriveWorkspaceName("T2Acme")
	tests := []struct {
		name string
		tok  descope.Token
		want Result
	}{
		{"no claims", descope.Token{}, Result{}},
		{"env admin", descope.Token{Roles: []string{"mlflow-admin"}},
			Result{Admin: true, AdminReason: `DESCOPE_ADMIN_ROLES: project role "mlflow-admin"`}},
		{"file admin by permission", descope.Token{Permissions: []string{"mlflow:admin"}},
			Result{Admin: true, AdminReason: `good.json:4 admin_permissions: project permission "mlflow:admin"`}},
		{"editor and viewer by permission", descope.Token{Roles: []string{"ml-editor"}, Permissions: []string{"mlflow:read"}},
			Result{Roles: []RoleRef{
				{"editors", "default", `good.json:7 roles: project role "ml-editor"`},
				{"viewers", "default", `good.json:11 roles: project permission "mlflow:read"`},
			}}},
		{"tenant roles never make admin nor project roles", descope.Token{Tenants: map[string]descope.TenantClaims{"T2Acme": {Roles: []string{"admin", "ml-editor"}}}},
			Result{}},
		{"scope any matches a tenant role", descope.Token{Tenants: map[string]descope.TenantClaims{"T2Acme": {Roles: []string{"auditor"}}}},
			Result{Roles: []RoleRef{{"auditors", "default", `good.json:13 roles: role "auditor" in tenant "T2Acme"`}}}},
		{"tenants claim shape", descope.Token{Roles: []string{"ml-editor"}, Tenants: map[string]descope.TenantClaims{
			"T2Acme":     {Roles: []string{"member", "tenant-admin"}},
			"T2Research": {Roles: []string{"member"}},
			"T2Other":    {},
		}, CurrentTenant: "T2Acme"},
			Result{
				Roles: []RoleRef{
					{"editors", "default", `good.json:7 roles: project role "ml-editor"`},
					{"tenant-member", research, `good.json:19 tenant_roles: role "member" in tenant "T2Research"`},
					{"tenant-member", acme, `good.json:19 tenant_roles: role "member" in tenant "T2Acme"`},
					{"tenant-tenant-admin", acme, `good.json:18 tenant_roles: role "tenant-admin" in tenant "T2Acme"`},
				},
				Workspaces: []WorkspaceRef{
					{acme, "T2Acme", "MANAGE", `good.json:18 tenant_roles: role "tenant-admin" in tenant "T2Acme"`},
					{research, "T2Research", "USE", `good.json:19 tenant_roles: role "member" in tenant "T2Research"`},
				},
			}},
		{"dct shape: top-level roles belong to the tenant", descope.Token{Roles: []string{"member", "ml-editor"}, CurrentTenant: "T2Acme"},
			Result{
				Roles: []RoleRef{
					{"tenant-member", acme, `good.json:19 tenant_roles: role "member" in tenant "T2Acme"`},
				},
				Workspaces: []WorkspaceRef{{acme, "T2Acme", "USE", `good.json:19 tenant_roles: role "member" in tenant "T2Acme"`}},
			}},
		{"any member of one tenant", descope.Token{Tenants: map[string]descope.TenantClaims{"T2Partner": {}}},
			Result{
				Roles:      []RoleRef{{"partner-guests", DeriveWorkspaceName("T2Partner"), `good.json:21 tenant_roles: membership in tenant "T2Partner"`}},
				Workspaces: []WorkspaceRef{{DeriveWorkspaceName("T2Partner"), "T2Partner", "USE", `good.json:21 tenant_roles: membership in tenant "T2Partner"`}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := m.Resolve(inputOf(&tt.tok))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveWorkspacesOff(t *testing.T) {
	t.Parallel()
	m, err := Load(filepath.Join("testdata", "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := Input{TenantRoles: map[string][]string{"T2Acme": {"member", "auditor"}}}
	got := m.Resolve(in)
	want := Result{Roles: []RoleRef{{"auditors", "default", `good.json:13 roles: role "auditor" in tenant "T2Acme"`}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve with workspaces off (-want +got):\n%s", diff)
	}
}

func TestDeriveWorkspaceName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"acme", "acme"},
		{"acme-research", "acme-research"},
		{"T2Acme", "t2acme-"}, // case changed: hashed
		{"acme_research", "acme-research-"},
		{"a", "a-"},             // too short
		{"api", "api-"},         // reserved
		{"default", "default-"}, // reserved
		{"--", "tenant-"},       // nothing left
		{strings.Repeat("x", 80), strings.Repeat("x", 54) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got := DeriveWorkspaceName(tt.in)
			if !strings.HasPrefix(got, tt.want) || (!strings.HasSuffix(tt.want, "-") && got != tt.want) {
				t.Errorf("DeriveWorkspaceName(%q) = %q; want %q…", tt.in, got, tt.want)
			}
			if err := ValidWorkspaceName(got); err != nil {
				t.Errorf("DeriveWorkspaceName(%q) = %q is not valid: %v", tt.in, got, err)
			}
		})
	}
	if DeriveWorkspaceName("T2acme") == DeriveWorkspaceName("T2ACME") {
		t.Error("tenant IDs differing in case share a workspace")
	}
}

func TestAllowedWorkspace(t *testing.T) {
	t.Parallel()
	member := Result{Roles: []RoleRef{{Name: "r", Workspace: "acme"}}, Workspaces: []WorkspaceRef{{Name: "acme"}}}
	tests := []struct {
		name   string
		res    Result
		header string
		want   bool
	}{
		{"own workspace", member, "acme", true},
		{"other workspace", member, "globex", false},
		{"no header", member, "", true},
		{"default without a role there", member, "default", false},
		{"admin anywhere", Result{Admin: true}, "globex", true},
		{"default role", Result{Roles: []RoleRef{{Name: "v", Workspace: "default"}}}, "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := AllowedWorkspace(tt.res, tt.header); got != tt.want {
				t.Errorf("AllowedWorkspace(%q) = %t; want %t", tt.header, got, tt.want)
			}
		})
	}
}

// TestTenantIDCannotTakeANamedWorkspace: a tenant whose ID equals a
// workspace the file gives another tenant (or project roles) gets a
// workspace of its own, not that one.
func TestTenantIDCannotTakeANamedWorkspace(t *testing.T) {
	t.Parallel()
	m, err := Parse("roles.json", []byte(`{
	  "roles": [{"descope_role": "ml-editor", "mlflow_role": "editors", "workspace": "ml-team",
	             "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}],
	  "tenant_roles": [{"descope_role": "tenant-admin", "workspace_permission": "MANAGE"}],
	  "tenants": [{"tenant_id": "T2SecretCorp", "workspace": "acme"}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.WorkspaceName("T2SecretCorp"); got != "acme" {
		t.Fatalf("the named tenant's workspace = %q, want acme", got)
	}
	for _, id := range []string{"acme", "ml-team"} {
		got := m.WorkspaceName(id)
		if got == "acme" || got == "ml-team" || !strings.HasPrefix(got, id+"-") {
			t.Errorf("tenant %q gets workspace %q; want its own hashed name", id, got)
		}
		if err := ValidWorkspaceName(got); err != nil {
			t.Errorf("tenant %q: %v", id, err)
		}
	}
	if got := m.WorkspaceName("other"); got != "other" {
		t.Errorf("an unclaimed tenant ID changed: %q", got)
	}
	// Through Resolve: the tenant admin of tenant "acme" holds nothing in
	// T2SecretCorp's workspace.
	r := m.Resolve(Input{TenantRoles: map[string][]string{"acme": {"tenant-admin"}}, Workspaces: true})
	if AllowedWorkspace(r, "acme") {
		t.Errorf("tenant acme's admin may act in T2SecretCorp's workspace: %+v", r)
	}
}
