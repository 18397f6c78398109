package provision

import (
	"slices"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

// SubjectFromToken builds the Subject of a verified session (or access-key)
// token, under either tenant token shape.
func SubjectFromToken(username string, tok *descope.Token) Subject {
	return Subject{
		Username:           username,
		ProjectRoles:       tok.ProjectRoles(),
		ProjectPermissions: tok.ProjectPermissions(),
		TenantRoles:        tok.TenantRoles(),
		TenantPermissions:  tok.TenantPermissions(),
	}
}

// SubjectFromUser builds the Subject of a user record from the management
// API (roleNames, userTenants). The record carries role names only; their
// permissions come from the project's role definitions (descope.Client.Roles):
// a role held in a tenant takes the permissions of that tenant's role of the
// name if there is one, else of the project role.
func SubjectFromUser(u *descope.User, roles []descope.Role) Subject {
	s := Subject{
		Username:     u.UserID,
		ProjectRoles: slices.Clone(u.RoleNames),
	}
	s.ProjectPermissions = permissionsOf(u.RoleNames, "", roles)
	if len(u.UserTenants) > 0 {
		s.TenantRoles = map[string][]string{}
		s.TenantPermissions = map[string][]string{}
		for _, t := range u.UserTenants {
			s.TenantRoles[t.TenantID] = append(s.TenantRoles[t.TenantID], t.RoleNames...)
			s.TenantPermissions[t.TenantID] = append(s.TenantPermissions[t.TenantID], permissionsOf(t.RoleNames, t.TenantID, roles)...)
		}
	}
	return s
}

func permissionsOf(names []string, tenantID string, roles []descope.Role) []string {
	var out []string
	for _, n := range names {
		var def *descope.Role
		for i := range roles {
			r := &roles[i]
			if r.Name != n {
				continue
			}
			if tenantID != "" && r.TenantID == tenantID {
				def = r
				break
			}
			if r.TenantID == "" && def == nil {
				def = r
			}
		}
		if def == nil {
			continue
		}
		for _, p := range def.PermissionNames {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
