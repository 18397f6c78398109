package mlflow

import (
	"context"
	"net/url"
)

// Admin REST paths for users (MLflow 3.17-3.18, mlflow/server/auth/routes.py).
const (
	pathCreateUser    = "/api/2.0/mlflow/users/create"
	pathGetUser       = "/api/2.0/mlflow/users/get"
	pathListUsers     = "/api/2.0/mlflow/users/list"
	pathCurrentUser   = "/api/2.0/mlflow/users/current"
	pathUpdateAdmin   = "/api/2.0/mlflow/users/update-admin"
	pathDeleteUser    = "/api/2.0/mlflow/users/delete"
	pathListUserRoles = "/api/3.0/mlflow/users/roles/list"
)

// MinPasswordLen is the shortest password MLflow accepts in users/create.
const MinPasswordLen = 12

// User is an MLflow user.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
	// Roles is filled by Users (users/list) only.
	Roles []Role `json:"roles,omitempty"`
}

// User returns the named user. It returns an error matching ErrNotFound if
// MLflow has no such user.
func (c *Client) User(ctx context.Context, name string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.call(ctx, "get user", "GET", pathGetUser, url.Values{"username": {name}}, nil, &out)
	return out.User, err
}

// CurrentUser returns the user the Client acts as (users/current), which
// proves that MLflow accepts the Client's assertions.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.call(ctx, "current user", "GET", pathCurrentUser, nil, nil, &out)
	return out.User, err
}

// Users lists every user with their roles.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out struct {
		Users []User `json:"users"`
	}
	err := c.call(ctx, "list users", "GET", pathListUsers, nil, nil, &out)
	return out.Users, err
}

// CreateUser creates a non-admin user. MLflow requires a password of at least
// MinPasswordLen characters (ErrInvalidParameter) even though the plugin never
// checks it. It returns an error matching ErrAlreadyExists if the user exists.
func (c *Client) CreateUser(ctx context.Context, name, password string) error {
	body := map[string]string{"username": name, "password": password}
	return c.call(ctx, "create user", "POST", pathCreateUser, nil, body, nil)
}

// SetAdmin sets or clears the user's is_admin flag. It returns an error
// matching ErrNotFound if MLflow has no such user.
func (c *Client) SetAdmin(ctx context.Context, name string, admin bool) error {
	body := map[string]any{"username": name, "is_admin": admin}
	return c.call(ctx, "set admin", "PATCH", pathUpdateAdmin, nil, body, nil)
}

// DeleteUser deletes the user and their role assignments. It returns an error
// matching ErrNotFound if MLflow has no such user. MLflow refuses to delete
// the calling admin.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	body := map[string]string{"username": name}
	return c.call(ctx, "delete user", "DELETE", pathDeleteUser, nil, body, nil)
}

// UserRoles lists the roles assigned to the user, in every workspace.
func (c *Client) UserRoles(ctx context.Context, name string) ([]Role, error) {
	var out struct {
		Roles []Role `json:"roles"`
	}
	err := c.call(ctx, "list user roles", "GET", pathListUserRoles, url.Values{"username": {name}}, nil, &out)
	return out.Roles, err
}
