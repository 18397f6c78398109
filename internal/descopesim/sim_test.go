package descopesim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewListenAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{name: "default", addr: ""},
		{name: "ipv4 loopback", addr: "127.0.0.1:0"},
		{name: "localhost", addr: "localhost:0"},
		{name: "all interfaces", addr: ":0", wantErr: true},
		{name: "unspecified", addr: "0.0.0.0:0", wantErr: true},
		{name: "public address", addr: "192.0.2.1:0", wantErr: true},
		{name: "no port", addr: "127.0.0.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(Options{Addr: tt.addr})
			if tt.wantErr {
				if err == nil {
					s.Close()
					t.Fatalf("New(%q) succeeded; want error", tt.addr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.addr, err)
			}
			defer s.Close()
			if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") && !strings.HasPrefix(s.URL(), "http://[::1]:") {
				t.Errorf("URL() = %q; want a loopback URL", s.URL())
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	tests := []struct {
		name       string
		project    string
		wantStatus int
	}{
		{name: "own project", project: testProject, wantStatus: http.StatusOK},
		{name: "unknown project", project: "P2Other", wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body struct {
				Keys      []map[string]string `json:"keys"`
				ErrorCode string              `json:"errorCode"`
			}
			resp := call(t, s, http.MethodGet, "/v2/keys/"+tt.project, "", "", &body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				if body.ErrorCode == "" {
					t.Errorf("error body has no errorCode")
				}
				return
			}
			var got []string
			for _, k := range body.Keys {
				if k["kid"] == "" || k["use"] != "sig" {
					t.Errorf("key %v: want kid and use=sig", k)
				}
				got = append(got, k["kty"]+"/"+k["alg"]+"/"+k["crv"])
			}
			if diff := cmp.Diff([]string{"EC/ES384/P-384", "RSA/RS256/"}, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMintSessionClaims(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	if err := s.CreateRole(Role{Name: "admin", Permissions: []string{"b.write", "a.read"}}); err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, User{ID: "U2one", Email: "one@example.com", Roles: []string{"admin"}})
	mustUser(t, s, User{ID: "U2multi", Email: "multi@example.com",
		Tenants: []UserTenant{{ID: "T1", Roles: []string{"admin"}}, {ID: "T2"}}})
	mustUser(t, s, User{ID: "U2single", Email: "single@example.com", Tenants: []UserTenant{{ID: "T9"}}})

	tests := []struct {
		name    string
		user    string
		opts    MintOptions
		want    map[string]any // claims that must have these values
		absent  []string
		wantAlg string
	}{
		{
			name: "project roles and permissions",
			user: "U2one",
			want: map[string]any{
				"sub": "U2one", "drn": "DS", "amr": []any{"email"},
				"roles": []any{"admin"}, "permissions": []any{"a.read", "b.write"},
			},
			absent:  []string{"tenants", "dct", "aud", "nbf"},
			wantAlg: AlgES384,
		},
		{
			name: "tenants without selection",
			user: "U2multi",
			opts: MintOptions{Alg: AlgRS256},
			want: map[string]any{"tenants": map[string]any{
				"T1": map[string]any{"roles": []any{"admin"}, "permissions": []any{"a.read", "b.write"}},
				"T2": map[string]any{},
			}},
			absent:  []string{"dct", "roles"},
			wantAlg: AlgRS256,
		},
		{
			name:    "selected tenant",
			user:    "U2multi",
			opts:    MintOptions{Tenant: "T2"},
			want:    map[string]any{"dct": "T2"},
			wantAlg: AlgES384,
		},
		{
			name:    "single tenant is current",
			user:    "U2single",
			want:    map[string]any{"dct": "T9"},
			wantAlg: AlgES384,
		},
		{
			name:    "extra claims and deleted amr",
			user:    "U2one",
			opts:    MintOptions{ExtraClaims: map[string]any{"email": "one@example.com", "amr": nil, "aud": testProject}},
			want:    map[string]any{"email": "one@example.com", "aud": testProject},
			absent:  []string{"amr"},
			wantAlg: AlgES384,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sess, ref, err := s.MintSession(tt.user, tt.opts)
			if err != nil {
				t.Fatalf("MintSession: %v", err)
			}
			claims, err := verifyJWKS(t, s, sess)
			if err != nil {
				t.Fatalf("session does not verify against the JWKS: %v", err)
			}
			if got, want := claims["iss"], s.URL()+"/"+testProject; got != want {
				t.Errorf("iss = %v; want %v", got, want)
			}
			exp, _ := claims.GetExpirationTime()
			iat, _ := claims.GetIssuedAt()
			if exp == nil || iat == nil || exp.Sub(iat.Time) != DefaultSessionTTL {
				t.Errorf("exp - iat = %v; want %v", exp, DefaultSessionTTL)
			}
			for k, want := range tt.want {
				if diff := cmp.Diff(want, claims[k]); diff != "" {
					t.Errorf("claim %q (-want +got):\n%s", k, diff)
				}
			}
			for _, k := range tt.absent {
				if v, ok := claims[k]; ok {
					t.Errorf("claim %q = %v; want absent", k, v)
				}
			}
			rc, err := verifyJWKS(t, s, ref)
			if err != nil {
				t.Fatalf("refresh does not verify: %v", err)
			}
			if rc["drn"] != "DSR" || rc["sub"] != tt.user {
				t.Errorf("refresh drn, sub = %v, %v; want DSR, %s", rc["drn"], rc["sub"], tt.user)
			}
		})
	}
}

func TestMintSessionErrors(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustUser(t, s, User{ID: "U2x", Tenants: []UserTenant{{ID: "T1"}}})
	tests := []struct {
		name string
		user string
		opts MintOptions
		want error
	}{
		{name: "unknown user", user: "U2nobody", want: ErrNotFound},
		{name: "foreign tenant", user: "U2x", opts: MintOptions{Tenant: "T2"}, want: ErrInvalid},
		{name: "unknown alg", user: "U2x", opts: MintOptions{Alg: "HS256"}, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := s.MintSession(tt.user, tt.opts); !errors.Is(err, tt.want) {
				t.Errorf("MintSession error = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestRotateKeys(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustUser(t, s, User{ID: "U2r"})
	oldSess, oldRef := mustMint(t, s, "U2r", MintOptions{})
	oldKids := s.KeyIDs()
	if err := s.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	for _, k := range s.KeyIDs() {
		for _, o := range oldKids {
			if k == o {
				t.Errorf("kid %s survived rotation", k)
			}
		}
	}
	if _, err := verifyJWKS(t, s, oldSess); err == nil {
		t.Errorf("old session verifies after rotation; want failure")
	}
	resp := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+oldRef, "{}", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh with old refresh token: status %d; want 401", resp.StatusCode)
	}
	newSess, _ := mustMint(t, s, "U2r", MintOptions{})
	if _, err := verifyJWKS(t, s, newSess); err != nil {
		t.Errorf("new session: %v", err)
	}
}

func TestAdvanceExpiresTokens(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSim(t, Options{Now: func() time.Time { return base }})
	mustUser(t, s, User{ID: "U2c"})
	_, ref := mustMint(t, s, "U2c", MintOptions{RefreshTTL: time.Hour})
	auth := testProject + ":" + ref
	if resp := call(t, s, http.MethodGet, "/v1/auth/me", auth, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("me before expiry: status %d", resp.StatusCode)
	}
	s.Advance(2 * time.Hour)
	if resp := call(t, s, http.MethodGet, "/v1/auth/me", auth, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("me after expiry: status %d; want 401", resp.StatusCode)
	}
}
