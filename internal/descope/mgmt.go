package descope

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Management calls authenticate with "Bearer {projectId}:{managementKey}".
// Each returns ErrNoManagementKey when the client has none; a missing user
// or key is an *APIError matching ErrRejected.

// AccessKey is a machine credential as the management API describes it.
type AccessKey struct {
	ID           string
	Name         string
	Description  string
	RoleNames    []string
	KeyTenants   []KeyTenant
	Status       string // active or inactive
	CreatedTime  time.Time
	ExpireTime   time.Time // zero: never expires
	CreatedBy    string
	ClientID     string
	BoundUserID  string // the user the key acts for, if bound
	PermittedIPs []string
	CustomClaims map[string]any
}

// KeyTenant is an access key's membership of one tenant.
type KeyTenant struct {
	TenantID   string   `json:"tenantId"`
	TenantName string   `json:"tenantName"`
	RoleNames  []string `json:"roleNames"`
}

// Active reports whether the key is active and not expired at now.
func (k *AccessKey) Active(now time.Time) bool {
	return k.Status == "active" && (k.ExpireTime.IsZero() || now.Before(k.ExpireTime))
}

type accessKeyWire struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Description  string         `json:"description"`
	RoleNames    []string       `json:"roleNames"`
	KeyTenants   []KeyTenant    `json:"keyTenants"`
	Status       string         `json:"status"`
	CreatedTime  int64          `json:"createdTime"`
	ExpireTime   int64          `json:"expireTime"`
	CreatedBy    string         `json:"createdBy"`
	ClientID     string         `json:"clientId"`
	BoundUserID  string         `json:"boundUserId"`
	UserID       string         `json:"userId"` // older name of boundUserId
	PermittedIPs []string       `json:"permittedIps"`
	CustomClaims map[string]any `json:"customClaims"`
}

// AccessKey loads one access key (GET /v1/mgmt/accesskey?id=).
func (c *Client) AccessKey(ctx context.Context, id string) (*AccessKey, error) {
	if id == "" {
		return nil, errors.New("descope: access key: empty id")
	}
	var out struct {
		Key *accessKeyWire `json:"key"`
	}
	if err := c.mgmt(ctx, call{op: "load_access_key", method: http.MethodGet, path: "/v1/mgmt/accesskey",
		query: url.Values{"id": {id}}, out: &out}); err != nil {
		return nil, err
	}
	if out.Key == nil || out.Key.ID == "" {
		return nil, unavailable("load_access_key", errors.New("answer has no key"))
	}
	return out.Key.key(), nil
}

// key converts the wire form.
func (w *accessKeyWire) key() *AccessKey {
	bound := w.BoundUserID
	if bound == "" {
		bound = w.UserID
	}
	return &AccessKey{
		ID: w.ID, Name: w.Name, Description: w.Description,
		RoleNames: w.RoleNames, KeyTenants: w.KeyTenants, Status: w.Status,
		CreatedTime: unixTime(w.CreatedTime), ExpireTime: unixTime(w.ExpireTime),
		CreatedBy: w.CreatedBy, ClientID: w.ClientID, BoundUserID: bound,
		PermittedIPs: w.PermittedIPs, CustomClaims: w.CustomClaims,
	}
}

// UserSearch selects users for SearchUsers. Zero fields do not filter.
type UserSearch struct {
	Limit     int // page size; 0 means 100
	Page      int // from 0
	RoleNames []string
	TenantIDs []string
	Statuses  []string // enabled, disabled, invited, expired
	UserIDs   []string
	LoginIDs  []string
	// FromModifiedTime keeps users modified at or after this instant
	// (deleted users never appear: run a full pass to notice deletions).
	FromModifiedTime time.Time
}

// UserPage is one page of search results.
type UserPage struct {
	Users []User
	Total int
}

// SearchUsers searches the project's users (POST /v2/mgmt/user/search).
func (c *Client) SearchUsers(ctx context.Context, s UserSearch) (*UserPage, error) {
	if s.Limit < 0 || s.Page < 0 {
		return nil, errors.New("descope: search users: negative limit or page")
	}
	body := struct {
		Limit            int      `json:"limit"`
		Page             int      `json:"page"`
		RoleNames        []string `json:"roleNames,omitempty"`
		TenantIDs        []string `json:"tenantIds,omitempty"`
		Statuses         []string `json:"statuses,omitempty"`
		UserIDs          []string `json:"userIds,omitempty"`
		LoginIDs         []string `json:"loginIds,omitempty"`
		FromModifiedTime int64    `json:"fromModifiedTime,omitempty"` // Unix milliseconds
	}{
		Limit: s.Limit, Page: s.Page, RoleNames: s.RoleNames, TenantIDs: s.TenantIDs,
		Statuses: s.Statuses, UserIDs: s.UserIDs, LoginIDs: s.LoginIDs,
	}
	if body.Limit == 0 {
		body.Limit = 100
	}
	if !s.FromModifiedTime.IsZero() {
		body.FromModifiedTime = s.FromModifiedTime.UnixMilli()
	}
	var out struct {
		Users []User `json:"users"`
		Total int    `json:"total"`
	}
	if err := c.mgmt(ctx, call{op: "search_users", method: http.MethodPost, path: "/v2/mgmt/user/search",
		body: body, out: &out, limit: maxPageBytes}); err != nil {
		return nil, err
	}
	return &UserPage{Users: out.Users, Total: out.Total}, nil
}

// UserByLoginID loads a user by login ID (GET /v1/mgmt/user?loginId=).
func (c *Client) UserByLoginID(ctx context.Context, loginID string) (*User, error) {
	return c.loadUser(ctx, "loginId", loginID)
}

// UserByID loads a user by user ID (GET /v1/mgmt/user?userId=).
func (c *Client) UserByID(ctx context.Context, userID string) (*User, error) {
	return c.loadUser(ctx, "userId", userID)
}

func (c *Client) loadUser(ctx context.Context, param, value string) (*User, error) {
	if value == "" {
		return nil, fmt.Errorf("descope: load user: empty %s", param)
	}
	var out struct {
		User *User `json:"user"`
	}
	if err := c.mgmt(ctx, call{op: "load_user", method: http.MethodGet, path: "/v1/mgmt/user",
		query: url.Values{param: {value}}, out: &out}); err != nil {
		return nil, err
	}
	if out.User == nil || out.User.UserID == "" {
		return nil, unavailable("load_user", errors.New("answer has no user"))
	}
	return out.User, nil
}

// Role is a project or tenant role.
type Role struct {
	Name            string   `json:"name"`
	Description     string   `json:"description"`
	PermissionNames []string `json:"permissionNames"`
	TenantID        string   `json:"tenantId"` // empty for project roles
	CreatedTime     int64    `json:"createdTime"`
}

// Roles lists every role (GET /v1/mgmt/role/all).
func (c *Client) Roles(ctx context.Context) ([]Role, error) {
	var out struct {
		Roles []Role `json:"roles"`
	}
	if err := c.mgmt(ctx, call{op: "load_roles", method: http.MethodGet, path: "/v1/mgmt/role/all",
		out: &out, limit: maxPageBytes}); err != nil {
		return nil, err
	}
	return out.Roles, nil
}

// mgmt sends a management call with the management key.
func (c *Client) mgmt(ctx context.Context, r call) error {
	if c.mgmtKey == "" {
		return fmt.Errorf("descope: %s: %w", r.op, ErrNoManagementKey)
	}
	r.secret = c.mgmtKey.Reveal()
	return c.do(ctx, r)
}
