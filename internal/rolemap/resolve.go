package rolemap

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Workspace names as MLflow 3.17 validates them
// (mlflow/store/workspace/abstract_store.py WorkspaceNameValidator), plus
// "default", which cannot be created.
var (
	workspaceNameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	reservedWorkspaces = []string{"workspaces", "api", "ajax-api", "static-files", DefaultWorkspace}
)

const (
	minWorkspaceLen = 2
	maxWorkspaceLen = 63
)

// ValidWorkspaceName reports why MLflow would refuse to create a workspace
// called name, or nil.
func ValidWorkspaceName(name string) error {
	switch {
	case len(name) < minWorkspaceLen || len(name) > maxWorkspaceLen:
		return fmt.Errorf("rolemap: workspace name %q must be %d to %d characters", name, minWorkspaceLen, maxWorkspaceLen)
	case !workspaceNameRE.MatchString(name):
		return fmt.Errorf("rolemap: workspace name %q must be lowercase letters, digits and inner hyphens", name)
	case slices.Contains(reservedWorkspaces, name):
		return fmt.Errorf("rolemap: workspace name %q is reserved by MLflow", name)
	}
	return nil
}

// WorkspaceName is the MLflow workspace of a Descope tenant: the name the
// file's "tenants" section gives it, else the tenant ID lowercased, with
// every run of characters other than a-z and 0-9 turned into one hyphen and
// hyphens trimmed. When that changes the ID (uppercase letters, other
// characters), the result is too short, too long or reserved, or it is a
// workspace the file names (for another tenant, or for project roles), "-"
// and the first 8 hex digits of SHA-256(tenant ID) are appended (the name
// cut to fit 63 characters), so distinct tenant IDs never share a workspace.
func (m *Mapping) WorkspaceName(tenantID string) string {
	for _, t := range m.Tenants {
		if t.TenantID == tenantID {
			return t.Workspace
		}
	}
	name := DeriveWorkspaceName(tenantID)
	if m.namesWorkspace(name) {
		// A tenant whose ID is "acme" must not land in the workspace the
		// file gave another tenant as "acme".
		return hashedWorkspaceName(tenantID)
	}
	return name
}

// namesWorkspace reports whether the file itself names workspace ws.
func (m *Mapping) namesWorkspace(ws string) bool {
	for _, t := range m.Tenants {
		if t.Workspace == ws {
			return true
		}
	}
	for _, r := range m.Roles {
		if r.Workspace == ws {
			return true
		}
	}
	return false
}

// DeriveWorkspaceName applies WorkspaceName's rule without the file.
func DeriveWorkspaceName(tenantID string) string {
	if s := sanitizeRoleName(tenantID); s == tenantID && ValidWorkspaceName(s) == nil {
		return s
	}
	return hashedWorkspaceName(tenantID)
}

// hashedWorkspaceName is the sanitized tenant ID with "-" and 8 hex digits
// of SHA-256(tenant ID) appended.
func hashedWorkspaceName(tenantID string) string {
	s := sanitizeRoleName(tenantID)
	sum := sha256.Sum256([]byte(tenantID))
	suffix := hex.EncodeToString(sum[:4])
	if s == "" {
		s = "tenant"
	}
	if len(s) > maxWorkspaceLen-len(suffix)-1 {
		s = strings.TrimRight(s[:maxWorkspaceLen-len(suffix)-1], "-")
	}
	return s + "-" + suffix
}

// Input is what Resolve needs to know about a user's Descope claims.
type Input struct {
	ProjectRoles       []string
	ProjectPermissions []string
	// TenantRoles and TenantPermissions are by tenant ID; a tenant the user
	// belongs to with no role is a key with an empty slice.
	TenantRoles       map[string][]string
	TenantPermissions map[string][]string
	// AdminRoles are DESCOPE_ADMIN_ROLES: project roles that make an admin.
	AdminRoles []string
	// Workspaces is true when MLflow runs with --enable-workspaces; tenant
	// rules apply only then.
	Workspaces bool
}

// Result is what a user's claims mean in MLflow. Every decision carries the
// rule that made it.
type Result struct {
	Admin       bool
	AdminReason string
	Roles       []RoleRef // sorted by workspace, then name
	Workspaces  []WorkspaceRef
}

// RoleRef is an MLflow role the user should hold.
type RoleRef struct {
	Name      string
	Workspace string
	Reason    string
}

// WorkspaceRef is a tenant workspace the user belongs to.
type WorkspaceRef struct {
	Name       string
	TenantID   string
	Permission string // USE or MANAGE, the highest the rules give
	Reason     string
}

// Resolve maps a user's claims to MLflow decisions. Tenant-level roles never
// make an MLflow admin: a tenant admin administers only their workspace.
func (m *Mapping) Resolve(in Input) Result {
	var res Result
	src := m.Source
	for _, r := range in.AdminRoles {
		if slices.Contains(in.ProjectRoles, r) {
			res.Admin, res.AdminReason = true, fmt.Sprintf("DESCOPE_ADMIN_ROLES: project role %q", r)
			break
		}
	}
	if !res.Admin {
		res.Admin, res.AdminReason = m.adminByFile(in, src)
	}
	roles := map[string]RoleRef{}
	add := func(ref RoleRef) {
		k := ref.Workspace + "\x00" + ref.Name
		if _, ok := roles[k]; !ok {
			roles[k] = ref
		}
	}
	tenantIDs := sortedKeys(in.TenantRoles, in.TenantPermissions)
	for _, r := range m.Roles {
		why := ""
		switch {
		case r.DescopeRole != "" && slices.Contains(in.ProjectRoles, r.DescopeRole):
			why = fmt.Sprintf("project role %q", r.DescopeRole)
		case r.DescopePermission != "" && slices.Contains(in.ProjectPermissions, r.DescopePermission):
			why = fmt.Sprintf("project permission %q", r.DescopePermission)
		case r.Scope == "any":
			for _, t := range tenantIDs {
				if w := tenantMatch(r.DescopeRole, r.DescopePermission, in.TenantRoles[t], in.TenantPermissions[t]); w != "" {
					why = fmt.Sprintf("%s in tenant %q", w, t)
					break
				}
			}
		}
		if why != "" {
			add(RoleRef{Name: r.MLflowRole, Workspace: r.Workspace, Reason: fmt.Sprintf("%s:%d roles: %s", src, r.Line, why)})
		}
	}
	if in.Workspaces {
		for _, t := range tenantIDs {
			ws := m.WorkspaceName(t)
			var ref *WorkspaceRef
			for _, r := range m.TenantRoles {
				if r.Tenant != "" && r.Tenant != t {
					continue
				}
				w := tenantMatch(r.DescopeRole, r.DescopePermission, in.TenantRoles[t], in.TenantPermissions[t])
				if w == "" {
					continue
				}
				reason := fmt.Sprintf("%s:%d tenant_roles: %s in tenant %q", src, r.Line, w, t)
				add(RoleRef{Name: r.MLflowRole, Workspace: ws, Reason: reason})
				if ref == nil || permissionRank[r.WorkspacePermission] > permissionRank[ref.Permission] {
					ref = &WorkspaceRef{Name: ws, TenantID: t, Permission: r.WorkspacePermission, Reason: reason}
				}
			}
			if ref != nil {
				res.Workspaces = append(res.Workspaces, *ref)
			}
		}
	}
	for _, r := range roles {
		res.Roles = append(res.Roles, r)
	}
	slices.SortFunc(res.Roles, func(a, b RoleRef) int {
		return strings.Compare(a.Workspace+"\x00"+a.Name, b.Workspace+"\x00"+b.Name)
	})
	return res
}

func (m *Mapping) adminByFile(in Input, src string) (bool, string) {
	for _, r := range m.AdminRoles {
		if slices.Contains(in.ProjectRoles, r.Name) {
			return true, fmt.Sprintf("%s:%d admin_roles: project role %q", src, r.Line, r.Name)
		}
	}
	for _, p := range m.AdminPermissions {
		if slices.Contains(in.ProjectPermissions, p.Name) {
			return true, fmt.Sprintf("%s:%d admin_permissions: project permission %q", src, p.Line, p.Name)
		}
	}
	return false, ""
}

// tenantMatch describes how a tenant membership matches a rule, or "".
func tenantMatch(role, perm string, roles, perms []string) string {
	switch {
	case role == Any:
		return "membership"
	case role != "" && slices.Contains(roles, role):
		return fmt.Sprintf("role %q", role)
	case perm != "" && slices.Contains(perms, perm):
		return fmt.Sprintf("permission %q", perm)
	}
	return ""
}

func sortedKeys(maps ...map[string][]string) []string {
	var out []string
	for _, m := range maps {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// AllowedWorkspace reports whether a request naming workspace header
// (X-MLFLOW-WORKSPACE) may go on to MLflow: always for an admin and for an
// empty header (MLflow then uses "default" and decides itself); otherwise
// only if the result gives the user a role in that workspace. It is an early
// refusal only: MLflow's RBAC denies such requests anyway.
func AllowedWorkspace(res Result, header string) bool {
	header = strings.TrimSpace(header)
	if res.Admin || header == "" {
		return true
	}
	for _, r := range res.Roles {
		if r.Workspace == header {
			return true
		}
	}
	for _, w := range res.Workspaces {
		if w.Name == header {
			return true
		}
	}
	return false
}
