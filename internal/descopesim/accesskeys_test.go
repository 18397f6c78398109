package descopesim

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

type exchangeBody struct {
	KeyID      string `json:"keyId"`
	SessionJwt string `json:"sessionJwt"`
	Expiration int64  `json:"expiration"`
	RefreshJwt string `json:"refreshJwt"`
}

func TestExchangeAccessKey(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		opts       AccessKeyOptions
		prepare    func(t *testing.T, s *Server, id string)
		body       string
		wantStatus int
		want       map[string]any
		absent     []string
		wantTTL    time.Duration
	}{
		{
			name: "key roles, tenants and custom claims",
			opts: AccessKeyOptions{Roles: []string{"ci"}, KeyTenants: []KeyTenant{{TenantID: "T1", RoleNames: []string{"editor"}}},
				CustomClaims: map[string]any{"team": "ml"}},
			wantStatus: http.StatusOK,
			want: map[string]any{"roles": []any{"ci"}, "team": "ml",
				"tenants": map[string]any{"T1": map[string]any{"roles": []any{"editor"}}}},
			absent:  []string{"drn", "nsec", "amr", "dct"},
			wantTTL: DefaultAccessKeyTTL,
		},
		{
			name:       "bound user authorization",
			opts:       AccessKeyOptions{BoundUserID: "U2b", TTL: time.Hour, Alg: AlgES384},
			wantStatus: http.StatusOK,
			want:       map[string]any{"roles": []any{"owner"}},
			wantTTL:    time.Hour,
		},
		{
			name:       "exchange-time claims go under nsec",
			opts:       AccessKeyOptions{},
			body:       `{"loginOptions":{"customClaims":{"roles":["admin"]}}}`,
			wantStatus: http.StatusOK,
			want:       map[string]any{"nsec": map[string]any{"roles": []any{"admin"}}},
			absent:     []string{"roles"},
			wantTTL:    DefaultAccessKeyTTL,
		},
		{
			name:       "deactivated",
			prepare:    func(t *testing.T, s *Server, id string) { mustOK(t, s.DeactivateAccessKey(id)) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "deleted",
			prepare:    func(t *testing.T, s *Server, id string) { mustOK(t, s.DeleteAccessKey(id)) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "expired",
			opts:       AccessKeyOptions{ExpireTime: base.Add(time.Minute)},
			prepare:    func(t *testing.T, s *Server, id string) { s.Advance(time.Hour) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "bound user disabled",
			opts:       AccessKeyOptions{BoundUserID: "U2b"},
			prepare:    func(t *testing.T, s *Server, id string) { mustOK(t, s.SetUserStatus("U2b", StatusDisabled)) },
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{Now: func() time.Time { return base }})
			mustUser(t, s, User{ID: "U2b", Roles: []string{"owner"}})
			id, secret, err := s.CreateAccessKey(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				tt.prepare(t, s, id)
			}
			var body exchangeBody
			resp := call(t, s, http.MethodPost, "/v1/auth/accesskey/exchange", testProject+":"+secret, tt.body, &body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			if body.KeyID != id || body.RefreshJwt != "" {
				t.Errorf("keyId = %q, refreshJwt = %q; want %q and none", body.KeyID, body.RefreshJwt, id)
			}
			claims := mustVerifyAt(t, s, body.SessionJwt)
			if claims["sub"] != id {
				t.Errorf("sub = %v; want %s", claims["sub"], id)
			}
			exp, _ := claims.GetExpirationTime()
			if exp.Sub(base) != tt.wantTTL || body.Expiration != exp.Unix() {
				t.Errorf("exp = %v (expiration %d); want now + %v", exp, body.Expiration, tt.wantTTL)
			}
			for k, want := range tt.want {
				if diff := cmp.Diff(want, claims[k]); diff != "" {
					t.Errorf("claim %q (-want +got):\n%s", k, diff)
				}
			}
			for _, k := range tt.absent {
				if _, ok := claims[k]; ok {
					t.Errorf("claim %q present; want absent", k)
				}
			}
		})
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustVerifyAt verifies a token minted at a fixed simulator time with the
// simulator's own check (the wall clock may be far from it).
func mustVerifyAt(t *testing.T, s *Server, tok string) jwt.MapClaims {
	t.Helper()
	claims, err := s.verify(tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return claims
}

func TestMgmtAccessKeys(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mgmt := testProject + ":" + DefaultManagementKey
	var created struct {
		Key       wireKey `json:"key"`
		Cleartext string  `json:"cleartext"`
	}
	resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/create", mgmt,
		`{"name":"ci","expireTime":0,"roleNames":[],"keyTenants":[{"tenantId":"T1","roleNames":["editor"]}],"userId":null,"customClaims":null}`, &created)
	if resp.StatusCode != http.StatusOK || created.Cleartext == "" || created.Key.Status != KeyActive || created.Key.BoundUserID != "" {
		t.Fatalf("create: status %d, %+v", resp.StatusCode, created)
	}
	id := created.Key.ID
	steps := []struct {
		name   string
		method string
		path   string
		body   string
		status string // key status afterwards; "" = deleted
	}{
		{name: "deactivate", method: http.MethodPost, path: "/v1/mgmt/accesskey/deactivate", body: `{"id":"` + id + `"}`, status: KeyInactive},
		{name: "activate", method: http.MethodPost, path: "/v1/mgmt/accesskey/activate", body: `{"id":"` + id + `"}`, status: KeyActive},
		{name: "update", method: http.MethodPost, path: "/v1/mgmt/accesskey/update", body: `{"id":"` + id + `","name":"ci2"}`, status: KeyActive},
		{name: "delete", method: http.MethodPost, path: "/v1/mgmt/accesskey/delete", body: `{"id":"` + id + `"}`},
	}
	for _, st := range steps { // sequential: each step builds on the last
		if resp := call(t, s, st.method, st.path, mgmt, st.body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", st.name, resp.StatusCode)
		}
		var loaded struct {
			Key wireKey `json:"key"`
		}
		resp := call(t, s, http.MethodGet, "/v1/mgmt/accesskey?id="+id, mgmt, "", &loaded)
		if st.status == "" {
			if resp.StatusCode == http.StatusOK {
				t.Errorf("%s: key still loads", st.name)
			}
			continue
		}
		if loaded.Key.Status != st.status || len(loaded.Key.KeyTenants) != 1 {
			t.Errorf("%s: loaded key = %+v; want status %s", st.name, loaded.Key, st.status)
		}
	}
}

// TestMgmtBoundKeysAndRotation covers what the self-service keys rely on:
// a key created for a user carries the user's authorization (the SDKs say
// roleNames and keyTenants are then ignored), search by bound user, update
// keeps what it is not given, and rotation replaces the secret at once.
func TestMgmtBoundKeysAndRotation(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustOK(t, s.CreateUser(User{ID: "U2own", LoginIDs: []string{"own@example.com"}, Roles: []string{"editor"},
		Tenants: []UserTenant{{ID: "T2", Roles: []string{"viewer"}}}}))
	mgmt := testProject + ":" + DefaultManagementKey
	var created struct {
		Key       wireKey `json:"key"`
		Cleartext string  `json:"cleartext"`
	}
	resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/create", mgmt,
		`{"name":"mine","expireTime":0,"roleNames":["admin"],"keyTenants":[{"tenantId":"T9","roleNames":["admin"]}],
		"userId":"U2own","description":"by me","permittedIps":["10.0.0.0/8"],"customClaims":null,"customAttributes":null}`, &created)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: status %d", resp.StatusCode)
	}
	if k := created.Key; k.BoundUserID != "U2own" || k.Description != "by me" || len(k.RoleNames) != 0 || len(k.KeyTenants) != 0 ||
		!cmp.Equal(k.PermittedIPs, []string{"10.0.0.0/8"}) {
		t.Errorf("created key = %+v; want bound, described, no roles of its own", k)
	}
	var ex exchangeBody
	if resp := call(t, s, http.MethodPost, "/v1/auth/accesskey/exchange", testProject+":"+created.Cleartext, "", &ex); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	claims := mustVerifyAt(t, s, ex.SessionJwt)
	if !cmp.Equal(claims["roles"], []any{"editor"}) || !cmp.Equal(claims["tenants"], map[string]any{"T2": map[string]any{"roles": []any{"viewer"}}}) {
		t.Errorf("bound key claims roles=%v tenants=%v; want the user's own", claims["roles"], claims["tenants"])
	}

	if resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/create", mgmt, `{"name":"x","userId":"U2nobody"}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("create for an unknown user: status %d, want 400", resp.StatusCode)
	}
	if resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/create", mgmt, `{"name":""}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("create without a name: status %d, want 400", resp.StatusCode)
	}
	if _, _, err := s.CreateAccessKey(AccessKeyOptions{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	var found struct {
		Keys []wireKey `json:"keys"`
	}
	call(t, s, http.MethodPost, "/v1/mgmt/accesskey/search", mgmt, `{"tenantIds":[],"boundUserId":"U2own","creatingUser":null}`, &found)
	if len(found.Keys) != 1 || found.Keys[0].ID != created.Key.ID {
		t.Errorf("search by bound user = %+v; want only the user's key", found.Keys)
	}
	call(t, s, http.MethodPost, "/v1/mgmt/accesskey/search", mgmt, `{"tenantIds":[],"boundUserId":null}`, &found)
	if len(found.Keys) != 2 {
		t.Errorf("search all = %d keys, want 2", len(found.Keys))
	}

	var updated struct {
		Key wireKey `json:"key"`
	}
	call(t, s, http.MethodPost, "/v1/mgmt/accesskey/update", mgmt, `{"id":"`+created.Key.ID+`","name":"renamed"}`, &updated)
	if updated.Key.Name != "renamed" || updated.Key.Description != "by me" || len(updated.Key.PermittedIPs) != 1 {
		t.Errorf("update with only a name = %+v; want the rest kept", updated.Key)
	}
	call(t, s, http.MethodPost, "/v1/mgmt/accesskey/update", mgmt, `{"id":"`+created.Key.ID+`","name":"renamed","description":"","permittedIps":[]}`, &updated)
	if updated.Key.Description != "" || len(updated.Key.PermittedIPs) != 0 {
		t.Errorf("update clearing description and IPs = %+v", updated.Key)
	}

	var rotated struct {
		Key       wireKey `json:"key"`
		Cleartext string  `json:"cleartext"`
	}
	if resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/rotate", mgmt, `{"id":"`+created.Key.ID+`"}`, &rotated); resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate: status %d", resp.StatusCode)
	}
	if rotated.Key.ID != created.Key.ID || rotated.Cleartext == "" || rotated.Cleartext == created.Cleartext {
		t.Errorf("rotate = %+v", rotated)
	}
	if resp := call(t, s, http.MethodPost, "/v1/auth/accesskey/exchange", testProject+":"+created.Cleartext, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: status %d, want 401", resp.StatusCode)
	}
	if resp := call(t, s, http.MethodPost, "/v1/auth/accesskey/exchange", testProject+":"+rotated.Cleartext, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("new secret after rotation: status %d, want 200", resp.StatusCode)
	}
	if resp := call(t, s, http.MethodPost, "/v1/mgmt/accesskey/rotate", mgmt, `{"id":"K2none"}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("rotate unknown key: status %d, want 400", resp.StatusCode)
	}
}
