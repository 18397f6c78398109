package mlflow

import (
	"context"
	"errors"
	"net/url"
)

// Workspace CRUD (MLflow 3.10+, server started with --enable-workspaces;
// admin only). Without workspaces MLflow answers these with an error.
const pathWorkspaces = "/api/3.0/mlflow/workspaces"

// Workspace is an MLflow workspace.
type Workspace struct {
	Name                string `json:"name"`
	Description         string `json:"description,omitempty"`
	DefaultArtifactRoot string `json:"default_artifact_root,omitempty"`
}

// WorkspaceUpdate changes a workspace; nil fields are left alone.
type WorkspaceUpdate struct {
	Description         *string `json:"description,omitempty"`
	DefaultArtifactRoot *string `json:"default_artifact_root,omitempty"`
}

func workspacePath(name string) string { return pathWorkspaces + "/" + url.PathEscape(name) }

// CreateWorkspace creates a workspace. It returns an error matching
// ErrAlreadyExists if it exists; "default" is reserved (ErrInvalidParameter).
func (c *Client) CreateWorkspace(ctx context.Context, w Workspace) (Workspace, error) {
	var out struct {
		Workspace Workspace `json:"workspace"`
	}
	err := c.call(ctx, "create workspace", "POST", pathWorkspaces, nil, w, &out)
	return out.Workspace, err
}

// Workspace returns a workspace. It returns an error matching ErrNotFound if
// there is no such workspace.
func (c *Client) Workspace(ctx context.Context, name string) (Workspace, error) {
	var out struct {
		Workspace Workspace `json:"workspace"`
	}
	err := c.call(ctx, "get workspace", "GET", workspacePath(name), nil, nil, &out)
	return out.Workspace, err
}

// Workspaces lists every workspace, "default" included.
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) {
	var out struct {
		Workspaces []Workspace `json:"workspaces"`
	}
	err := c.call(ctx, "list workspaces", "GET", pathWorkspaces, nil, nil, &out)
	return out.Workspaces, err
}

// UpdateWorkspace changes a workspace's description or artifact root.
func (c *Client) UpdateWorkspace(ctx context.Context, name string, u WorkspaceUpdate) (Workspace, error) {
	if u.Description == nil && u.DefaultArtifactRoot == nil {
		return Workspace{}, errors.New("mlflow: update workspace: nothing to update")
	}
	var out struct {
		Workspace Workspace `json:"workspace"`
	}
	err := c.call(ctx, "update workspace", "PATCH", workspacePath(name), nil, u, &out)
	return out.Workspace, err
}

// DeleteWorkspace deletes an empty workspace (MLflow's default RESTRICT mode:
// it refuses while the workspace holds resources).
func (c *Client) DeleteWorkspace(ctx context.Context, name string) error {
	return c.call(ctx, "delete workspace", "DELETE", workspacePath(name), nil, nil, nil)
}
