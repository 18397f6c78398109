package mlflow

import (
	"context"
	"errors"
	"net/url"
	"strconv"
)

// Admin REST paths for roles (MLflow 3.12+ RBAC; confirmed against 3.17.2 and 3.18).
const (
	pathCreateRole           = "/api/3.0/mlflow/roles/create"
	pathGetRole              = "/api/3.0/mlflow/roles/get"
	pathListRoles            = "/api/3.0/mlflow/roles/list"
	pathUpdateRole           = "/api/3.0/mlflow/roles/update"
	pathDeleteRole           = "/api/3.0/mlflow/roles/delete"
	pathAddRolePermission    = "/api/3.0/mlflow/roles/permissions/add"
	pathRemoveRolePermission = "/api/3.0/mlflow/roles/permissions/remove"
	pathListRolePermissions  = "/api/3.0/mlflow/roles/permissions/list"
	pathUpdateRolePermission = "/api/3.0/mlflow/roles/permissions/update"
	pathAssignRole           = "/api/3.0/mlflow/roles/assign"
	pathUnassignRole         = "/api/3.0/mlflow/roles/unassign"
	pathListRoleUsers        = "/api/3.0/mlflow/roles/users/list"
)

// Role is a named set of grants within one workspace ("default" when
// workspaces are off).
type Role struct {
	ID          int64            `json:"id"`
	Name        string           `json:"name"`
	Workspace   string           `json:"workspace"`
	Description *string          `json:"description"`
	Permissions []RolePermission `json:"permissions"`
}

// Grant is what a role permission allows: Permission (READ, USE, EDIT,
// MANAGE, NO_PERMISSIONS, DENY) on resources of ResourceType (experiment,
// registered_model, prompt, scorer, workspace, gateway types, ...) whose id or
// name is ResourcePattern ("*" for all).
type Grant struct {
	ResourceType    string `json:"resource_type"`
	ResourcePattern string `json:"resource_pattern"`
	Permission      string `json:"permission"`
}

// RolePermission is a grant stored on a role.
type RolePermission struct {
	ID     int64 `json:"id"`
	RoleID int64 `json:"role_id"`
	Grant
}

// RoleAssignment links a user to a role.
type RoleAssignment struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	RoleID int64 `json:"role_id"`
}

// RoleUpdate changes a role; nil fields are left alone.
type RoleUpdate struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

func roleQuery(id int64) url.Values { return url.Values{"role_id": {strconv.FormatInt(id, 10)}} }

// CreateRole creates a role named name in workspace. It returns an error
// matching ErrAlreadyExists if the workspace already has a role of that name.
func (c *Client) CreateRole(ctx context.Context, name, workspace, description string) (Role, error) {
	body := map[string]any{"name": name, "workspace": workspace}
	if description != "" {
		body["description"] = description
	}
	var out struct {
		Role Role `json:"role"`
	}
	err := c.call(ctx, "create role", "POST", pathCreateRole, nil, body, &out)
	return out.Role, err
}

// Role returns a role with its permissions. It returns an error matching
// ErrNotFound if there is no such role.
func (c *Client) Role(ctx context.Context, id int64) (Role, error) {
	var out struct {
		Role Role `json:"role"`
	}
	err := c.call(ctx, "get role", "GET", pathGetRole, roleQuery(id), nil, &out)
	return out.Role, err
}

// Roles lists the roles of the given workspaces, or of all workspaces when
// none is given.
func (c *Client) Roles(ctx context.Context, workspaces ...string) ([]Role, error) {
	q := url.Values{}
	for _, w := range workspaces {
		q.Add("workspace", w)
	}
	var out struct {
		Roles []Role `json:"roles"`
	}
	err := c.call(ctx, "list roles", "GET", pathListRoles, q, nil, &out)
	return out.Roles, err
}

// UpdateRole renames a role or changes its description.
func (c *Client) UpdateRole(ctx context.Context, id int64, u RoleUpdate) (Role, error) {
	if u.Name == nil && u.Description == nil {
		return Role{}, errors.New("mlflow: update role: nothing to update")
	}
	body := struct {
		RoleID int64 `json:"role_id"`
		RoleUpdate
	}{id, u}
	var out struct {
		Role Role `json:"role"`
	}
	err := c.call(ctx, "update role", "PATCH", pathUpdateRole, nil, body, &out)
	return out.Role, err
}

// DeleteRole deletes a role, its permissions and its assignments.
func (c *Client) DeleteRole(ctx context.Context, id int64) error {
	return c.call(ctx, "delete role", "DELETE", pathDeleteRole, nil, map[string]int64{"role_id": id}, nil)
}

// AddRolePermission adds a grant to a role. MLflow rejects unknown resource
// types and permissions (ErrInvalidParameter).
func (c *Client) AddRolePermission(ctx context.Context, roleID int64, g Grant) (RolePermission, error) {
	body := struct {
		RoleID int64 `json:"role_id"`
		Grant
	}{roleID, g}
	var out struct {
		RolePermission RolePermission `json:"role_permission"`
	}
	err := c.call(ctx, "add role permission", "POST", pathAddRolePermission, nil, body, &out)
	return out.RolePermission, err
}

// RemoveRolePermission deletes one grant by its id.
func (c *Client) RemoveRolePermission(ctx context.Context, permissionID int64) error {
	body := map[string]int64{"role_permission_id": permissionID}
	return c.call(ctx, "remove role permission", "DELETE", pathRemoveRolePermission, nil, body, nil)
}

// RolePermissions lists a role's grants.
func (c *Client) RolePermissions(ctx context.Context, roleID int64) ([]RolePermission, error) {
	var out struct {
		RolePermissions []RolePermission `json:"role_permissions"`
	}
	err := c.call(ctx, "list role permissions", "GET", pathListRolePermissions, roleQuery(roleID), nil, &out)
	return out.RolePermissions, err
}

// UpdateRolePermission changes the permission level of one grant.
func (c *Client) UpdateRolePermission(ctx context.Context, permissionID int64, permission string) (RolePermission, error) {
	body := map[string]any{"role_permission_id": permissionID, "permission": permission}
	var out struct {
		RolePermission RolePermission `json:"role_permission"`
	}
	err := c.call(ctx, "update role permission", "PATCH", pathUpdateRolePermission, nil, body, &out)
	return out.RolePermission, err
}

// AssignRole gives the user a role. It returns an error matching ErrNotFound
// if the user or role does not exist.
func (c *Client) AssignRole(ctx context.Context, username string, roleID int64) (RoleAssignment, error) {
	body := map[string]any{"username": username, "role_id": roleID}
	var out struct {
		Assignment RoleAssignment `json:"assignment"`
	}
	err := c.call(ctx, "assign role", "POST", pathAssignRole, nil, body, &out)
	return out.Assignment, err
}

// UnassignRole takes a role from the user.
func (c *Client) UnassignRole(ctx context.Context, username string, roleID int64) error {
	body := map[string]any{"username": username, "role_id": roleID}
	return c.call(ctx, "unassign role", "DELETE", pathUnassignRole, nil, body, nil)
}

// RoleUsers lists the assignments of a role.
func (c *Client) RoleUsers(ctx context.Context, roleID int64) ([]RoleAssignment, error) {
	var out struct {
		Assignments []RoleAssignment `json:"assignments"`
	}
	err := c.call(ctx, "list role users", "GET", pathListRoleUsers, roleQuery(roleID), nil, &out)
	return out.Assignments, err
}
