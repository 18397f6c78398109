package descopesim

import (
	"net/http"
	"testing"
	"time"
)

type refreshBody struct {
	SessionJwt        string    `json:"sessionJwt"`
	RefreshJwt        string    `json:"refreshJwt"`
	CookiePath        string    `json:"cookiePath"`
	CookieMaxAge      int64     `json:"cookieMaxAge"`
	CookieExpiration  int64     `json:"cookieExpiration"`
	SessionExpiration int64     `json:"sessionExpiration"`
	User              *wireUser `json:"user"`
	FirstSeen         bool      `json:"firstSeen"`
	ErrorCode         string    `json:"errorCode"`
	ErrorDescription  string    `json:"errorDescription"`
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rotation    bool
		prepare     func(t *testing.T, s *Server, sess, ref string) (auth string)
		wantStatus  int
		wantRotated bool
	}{
		{name: "plain", wantStatus: http.StatusOK},
		{name: "rotation", rotation: true, wantStatus: http.StatusOK, wantRotated: true},
		{
			name: "disabled user",
			prepare: func(t *testing.T, s *Server, _, ref string) string {
				if err := s.SetUserStatus("U2u", StatusDisabled); err != nil {
					t.Fatal(err)
				}
				return testProject + ":" + ref
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "deleted user",
			prepare: func(t *testing.T, s *Server, _, ref string) string {
				if err := s.DeleteUser("U2u"); err != nil {
					t.Fatal(err)
				}
				return testProject + ":" + ref
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "revoked",
			prepare: func(t *testing.T, s *Server, _, ref string) string {
				if err := s.RevokeRefresh(ref); err != nil {
					t.Fatal(err)
				}
				return testProject + ":" + ref
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "expired",
			prepare: func(t *testing.T, s *Server, _, ref string) string {
				s.Advance(DefaultRefreshTTL + time.Minute)
				return testProject + ":" + ref
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "session token used as refresh token",
			prepare:    func(t *testing.T, s *Server, sess, _ string) string { return testProject + ":" + sess },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "wrong project",
			prepare:    func(t *testing.T, s *Server, _, ref string) string { return "P2Other:" + ref },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "no credentials",
			prepare:    func(t *testing.T, s *Server, _, _ string) string { return "" },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "sdk auth management key suffix",
			prepare: func(t *testing.T, s *Server, _, ref string) string {
				return testProject + ":" + ref + ":some-auth-management-key"
			},
			wantStatus: http.StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{})
			s.SetRefreshRotation(tt.rotation)
			mustUser(t, s, User{ID: "U2u", Email: "u@example.com"})
			sess, ref := mustMint(t, s, "U2u", MintOptions{})
			auth := testProject + ":" + ref
			if tt.prepare != nil {
				auth = tt.prepare(t, s, sess, ref)
			}
			var body refreshBody
			resp := call(t, s, http.MethodPost, "/v1/auth/refresh", auth, "", &body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d; want %d (%+v)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != http.StatusOK {
				if body.ErrorCode == "" || body.ErrorDescription == "" {
					t.Errorf("error body = %+v; want errorCode and errorDescription", body)
				}
				return
			}
			claims, err := verifyJWKS(t, s, body.SessionJwt)
			if err != nil || claims["sub"] != "U2u" || claims["drn"] != "DS" {
				t.Errorf("new session claims %v, err %v", claims, err)
			}
			if body.User == nil || body.User.UserID != "U2u" || body.CookiePath != "/" || body.SessionExpiration == 0 {
				t.Errorf("response = %+v; want user, cookiePath and sessionExpiration", body)
			}
			if got := body.RefreshJwt != ""; got != tt.wantRotated {
				t.Fatalf("refreshJwt returned = %v; want %v", got, tt.wantRotated)
			}
			again := call(t, s, http.MethodPost, "/v1/auth/refresh", auth, "{}", nil)
			wantAgain := http.StatusOK
			if tt.wantRotated {
				wantAgain = http.StatusUnauthorized
				next := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+body.RefreshJwt, "{}", nil)
				if next.StatusCode != http.StatusOK {
					t.Errorf("refresh with rotated token: status %d", next.StatusCode)
				}
			}
			if again.StatusCode != wantAgain {
				t.Errorf("second refresh with the same token: status %d; want %d", again.StatusCode, wantAgain)
			}
		})
	}
}

func TestRefreshKeepsTemplateClaims(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustUser(t, s, User{ID: "U2t", Tenants: []UserTenant{{ID: "T1"}, {ID: "T2"}}})
	_, ref := mustMint(t, s, "U2t", MintOptions{Tenant: "T2", Alg: AlgRS256, ExtraClaims: map[string]any{"email": "t@example.com"}})
	var body refreshBody
	call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+ref, "", &body)
	claims, err := verifyJWKS(t, s, body.SessionJwt)
	if err != nil {
		t.Fatal(err)
	}
	if claims["dct"] != "T2" || claims["email"] != "t@example.com" {
		t.Errorf("refreshed claims = %v; want dct T2 and email", claims)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		path          string
		wantOtherLive bool
	}{
		{name: "logout", path: "/v1/auth/logout", wantOtherLive: true},
		{name: "logout all", path: "/v1/auth/logoutall", wantOtherLive: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{})
			mustUser(t, s, User{ID: "U2l"})
			_, ref := mustMint(t, s, "U2l", MintOptions{})
			_, other := mustMint(t, s, "U2l", MintOptions{Alg: AlgRS256})
			var body refreshBody
			if resp := call(t, s, http.MethodPost, tt.path, testProject+":"+ref, "{}", &body); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", tt.path, resp.StatusCode)
			}
			if body.SessionJwt != "" || body.RefreshJwt != "" {
				t.Errorf("logout returned tokens: %+v", body)
			}
			if resp := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+ref, "", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("refresh after logout: status %d; want 401", resp.StatusCode)
			}
			resp := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+other, "", nil)
			if got := resp.StatusCode == http.StatusOK; got != tt.wantOtherLive {
				t.Errorf("other session alive = %v; want %v", got, tt.wantOtherLive)
			}
			if resp := call(t, s, http.MethodPost, tt.path, testProject+":"+ref, "{}", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("second logout: status %d; want 401", resp.StatusCode)
			}
		})
	}
}

func TestMeAndSelectTenant(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustUser(t, s, User{ID: "U2m", LoginIDs: []string{"m@example.com", "m-alt"}, Email: "m@example.com", Name: "Em",
		Roles: []string{"viewer"}, Tenants: []UserTenant{{ID: "T1", Name: "One", Roles: []string{"admin"}}, {ID: "T2"}}})
	_, ref := mustMint(t, s, "U2m", MintOptions{})
	auth := testProject + ":" + ref

	var me wireUser
	if resp := call(t, s, http.MethodGet, "/v1/auth/me", auth, "", &me); resp.StatusCode != http.StatusOK {
		t.Fatalf("me: status %d", resp.StatusCode)
	}
	if me.UserID != "U2m" || me.Email != "m@example.com" || me.Name != "Em" || len(me.LoginIDs) != 2 ||
		me.Status != StatusEnabled || len(me.UserTenants) != 2 || me.UserTenants[0].TenantName != "One" ||
		me.RoleNames[0] != "viewer" {
		t.Errorf("me = %+v", me)
	}

	tests := []struct {
		name       string
		tenant     string
		wantStatus int
	}{
		{name: "member", tenant: "T2", wantStatus: http.StatusOK},
		{name: "not a member", tenant: "T3", wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body refreshBody
			resp := call(t, s, http.MethodPost, "/v1/auth/tenant/select", auth, `{"tenant":"`+tt.tenant+`"}`, &body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			for _, tok := range []string{body.SessionJwt, body.RefreshJwt} {
				claims, err := verifyJWKS(t, s, tok)
				if err != nil || claims["dct"] != tt.tenant {
					t.Errorf("claims %v, err %v; want dct %s", claims, err, tt.tenant)
				}
			}
		})
	}
}

// TestDeletedUsersTokensStayDead: re-creating a deleted user's ID does not
// bring the old refresh tokens back, as in Descope.
func TestDeletedUsersTokensStayDead(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustUser(t, s, User{ID: "U2gone"})
	_, ref := mustMint(t, s, "U2gone", MintOptions{})
	if err := s.DeleteUser("U2gone"); err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, User{ID: "U2gone"})
	if resp := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+ref, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old refresh token after delete and re-create: %d, want 401", resp.StatusCode)
	}
}
