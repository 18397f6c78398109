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
		`{"name":"ci","expireTime":0,"roleNames":[],"keyTenants":[{"tenantId":"T1","roleNames":["editor"]}],"userId":"U2x","customClaims":null}`, &created)
	if resp.StatusCode != http.StatusOK || created.Cleartext == "" || created.Key.Status != KeyActive || created.Key.BoundUserID != "U2x" {
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
