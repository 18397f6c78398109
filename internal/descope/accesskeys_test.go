package descope

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAccessKeyManagement checks the management calls for access keys send
// the bodies Descope's SDKs send and read the answers they read.
func TestAccessKeyManagement(t *testing.T) {
	t.Parallel()
	authMgmt := "Bearer " + testProject + ":" + testMgmtKey
	const keyJSON = `{"id":"K9","name":"cli-box-20260101","description":"d","roleNames":[],"keyTenants":[],
		"status":"active","createdTime":1700000000,"expireTime":1702592000,"boundUserId":"U1","permittedIps":["10.0.0.0/8"]}`
	wantKey := &AccessKey{ID: "K9", Name: "cli-box-20260101", Description: "d", RoleNames: []string{}, KeyTenants: []KeyTenant{},
		Status: "active", CreatedTime: time.Unix(1700000000, 0).UTC(), ExpireTime: time.Unix(1702592000, 0).UTC(),
		BoundUserID: "U1", PermittedIPs: []string{"10.0.0.0/8"}}

	tests := []struct {
		name  string
		reply reply
		call  func(context.Context, *Client) (any, error)
		want  any
		req   request
	}{
		{
			name:  "create bound key",
			reply: reply{body: `{"key":` + keyJSON + `,"cleartext":"K9secret"}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				k, err := c.CreateAccessKey(ctx, NewAccessKey{Name: "cli-box-20260101", Description: "d", UserID: "U1",
					ExpireTime: time.Unix(1702592000, 0), PermittedIPs: []string{"10.0.0.0/8"}})
				if err != nil {
					return nil, err
				}
				return []any{k.Key, k.Cleartext.Reveal()}, nil
			},
			want: []any{wantKey, "K9secret"},
			req: request{Method: "POST", Path: "/v1/mgmt/accesskey/create", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"name": "cli-box-20260101", "expireTime": 1702592000.0, "roleNames": []any{}, "keyTenants": []any{},
					"userId": "U1", "description": "d", "permittedIps": []any{"10.0.0.0/8"}}},
		},
		{
			name:  "create standalone key with tenants",
			reply: reply{body: `{"key":{"id":"K8","name":"ci","status":"active"},"cleartext":"K8secret"}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				k, err := c.CreateAccessKey(ctx, NewAccessKey{Name: "ci", KeyTenants: []KeyTenant{{TenantID: "T1"}}})
				if err != nil {
					return nil, err
				}
				return k.Key.ID, nil
			},
			want: "K8",
			req: request{Method: "POST", Path: "/v1/mgmt/accesskey/create", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"name": "ci", "expireTime": 0.0, "roleNames": []any{},
					"keyTenants": []any{map[string]any{"tenantId": "T1", "roleNames": []any{}}}}},
		},
		{
			name:  "search by bound user",
			reply: reply{body: `{"keys":[` + keyJSON + `]}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SearchAccessKeys(ctx, AccessKeySearch{BoundUserID: "U1"})
			},
			want: []AccessKey{*wantKey},
			req: request{Method: "POST", Path: "/v1/mgmt/accesskey/search", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"tenantIds": []any{}, "boundUserId": "U1"}},
		},
		{
			name:  "search all",
			reply: reply{body: `{"keys":[]}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SearchAccessKeys(ctx, AccessKeySearch{})
			},
			want: []AccessKey{},
			req: request{Method: "POST", Path: "/v1/mgmt/accesskey/search", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"tenantIds": []any{}}},
		},
		{
			name:  "delete",
			reply: reply{body: `{}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteAccessKey(ctx, "K9") },
			req: request{Method: "POST", Path: "/v1/mgmt/accesskey/delete", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"id": "K9"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stub := newAPIStub(t, tt.reply)
			c := newTestClient(t, stub.URL, nil)
			got, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.req, stub.request()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccessKeyManagementErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("no cleartext is unavailable", func(t *testing.T) {
		t.Parallel()
		stub := newAPIStub(t, reply{body: `{"key":{"id":"K1"}}`})
		_, err := newTestClient(t, stub.URL, nil).CreateAccessKey(ctx, NewAccessKey{Name: "x"})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("unknown key is rejected", func(t *testing.T) {
		t.Parallel()
		stub := newAPIStub(t, reply{status: 400, body: `{"errorCode":"E062108","errorDescription":"Access key not found"}`})
		err := newTestClient(t, stub.URL, nil).DeleteAccessKey(ctx, "K404")
		if !errors.Is(err, ErrRejected) {
			t.Errorf("err = %v, want ErrRejected", err)
		}
	})
	t.Run("no management key", func(t *testing.T) {
		t.Parallel()
		stub := newAPIStub(t, reply{body: `{}`})
		c := newTestClient(t, stub.URL, func(o *Options) { o.ManagementKey = "" })
		if _, err := c.SearchAccessKeys(ctx, AccessKeySearch{}); !errors.Is(err, ErrNoManagementKey) {
			t.Errorf("search: %v, want ErrNoManagementKey", err)
		}
		if _, err := c.CreateAccessKey(ctx, NewAccessKey{Name: "x"}); !errors.Is(err, ErrNoManagementKey) {
			t.Errorf("create: %v, want ErrNoManagementKey", err)
		}
		if err := c.DeleteAccessKey(ctx, "K1"); !errors.Is(err, ErrNoManagementKey) {
			t.Errorf("delete: %v, want ErrNoManagementKey", err)
		}
	})
	t.Run("arguments", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, "http://127.0.0.1:1", nil)
		if _, err := c.CreateAccessKey(ctx, NewAccessKey{}); err == nil {
			t.Error("create without a name: no error")
		}
		if err := c.DeleteAccessKey(ctx, ""); err == nil {
			t.Error("delete without an id: no error")
		}
	})
}
