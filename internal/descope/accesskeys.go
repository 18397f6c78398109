package descope

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// NewAccessKey describes an access key to create. The request body follows
// Descope's SDKs (POST /v1/mgmt/accesskey/create).
type NewAccessKey struct {
	Name        string
	Description string
	// ExpireTime is when the key stops working; zero means never.
	ExpireTime time.Time
	// UserID binds the key to a user. Descope then ignores RoleNames and
	// KeyTenants: the key carries the user's own authorization, as it is
	// at each exchange (the SDKs document this for create).
	UserID       string
	RoleNames    []string
	KeyTenants   []KeyTenant
	PermittedIPs []string
	CustomClaims map[string]any
}

// CreatedAccessKey is a new key and its cleartext, which Descope shows
// only once.
type CreatedAccessKey struct {
	Key       *AccessKey
	Cleartext Secret
}

// CreateAccessKey creates an access key (POST /v1/mgmt/accesskey/create).
func (c *Client) CreateAccessKey(ctx context.Context, k NewAccessKey) (*CreatedAccessKey, error) {
	if k.Name == "" {
		return nil, errors.New("descope: create access key: empty name")
	}
	type tenant struct {
		TenantID  string   `json:"tenantId"`
		RoleNames []string `json:"roleNames"`
	}
	body := struct {
		Name         string         `json:"name"`
		ExpireTime   int64          `json:"expireTime"`
		RoleNames    []string       `json:"roleNames"`
		KeyTenants   []tenant       `json:"keyTenants"`
		UserID       string         `json:"userId,omitempty"`
		CustomClaims map[string]any `json:"customClaims,omitempty"`
		Description  string         `json:"description,omitempty"`
		PermittedIPs []string       `json:"permittedIps,omitempty"`
	}{
		Name: k.Name, RoleNames: k.RoleNames, KeyTenants: []tenant{}, UserID: k.UserID,
		CustomClaims: k.CustomClaims, Description: k.Description, PermittedIPs: k.PermittedIPs,
	}
	if body.RoleNames == nil {
		body.RoleNames = []string{}
	}
	for _, t := range k.KeyTenants {
		roles := t.RoleNames
		if roles == nil {
			roles = []string{}
		}
		body.KeyTenants = append(body.KeyTenants, tenant{TenantID: t.TenantID, RoleNames: roles})
	}
	if !k.ExpireTime.IsZero() {
		body.ExpireTime = k.ExpireTime.Unix()
	}
	var out struct {
		Key       *accessKeyWire `json:"key"`
		Cleartext string         `json:"cleartext"`
	}
	if err := c.mgmt(ctx, call{op: "create_access_key", method: http.MethodPost, path: "/v1/mgmt/accesskey/create",
		body: body, out: &out}); err != nil {
		return nil, err
	}
	if out.Key == nil || out.Key.ID == "" || out.Cleartext == "" {
		// The key may exist now, but without its cleartext it is of no use
		// to anyone; the caller reports a failure.
		return nil, unavailable("create_access_key", errors.New("answer has no key or no cleartext"))
	}
	return &CreatedAccessKey{Key: out.Key.key(), Cleartext: Secret(out.Cleartext)}, nil
}

// AccessKeySearch selects keys for SearchAccessKeys. Zero fields do not
// filter.
type AccessKeySearch struct {
	TenantIDs   []string
	BoundUserID string
}

// SearchAccessKeys lists access keys (POST /v1/mgmt/accesskey/search).
// Descope answers every matching key at once; there is no paging.
func (c *Client) SearchAccessKeys(ctx context.Context, s AccessKeySearch) ([]AccessKey, error) {
	body := struct {
		TenantIDs   []string `json:"tenantIds"`
		BoundUserID string   `json:"boundUserId,omitempty"`
	}{TenantIDs: s.TenantIDs, BoundUserID: s.BoundUserID}
	if body.TenantIDs == nil {
		body.TenantIDs = []string{}
	}
	var out struct {
		Keys []accessKeyWire `json:"keys"`
	}
	if err := c.mgmt(ctx, call{op: "search_access_keys", method: http.MethodPost, path: "/v1/mgmt/accesskey/search",
		body: body, out: &out, limit: maxPageBytes}); err != nil {
		return nil, err
	}
	keys := make([]AccessKey, 0, len(out.Keys))
	for i := range out.Keys {
		keys = append(keys, *out.Keys[i].key())
	}
	return keys, nil
}

// DeleteAccessKey deletes an access key for good (POST
// /v1/mgmt/accesskey/delete). Tokens already exchanged for it stay valid
// until they expire; a missing key is an error matching ErrRejected.
func (c *Client) DeleteAccessKey(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("descope: delete access key: empty id")
	}
	return c.mgmt(ctx, call{op: "delete_access_key", method: http.MethodPost, path: "/v1/mgmt/accesskey/delete",
		body: map[string]string{"id": id}})
}
