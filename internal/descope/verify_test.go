package descope

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t, "rsa1", "RS256")
	ecKey := newECKey(t, "ec1", "ES384")
	psKey := newRSAKey(t, "ps1", "PS256")
	ec256 := newECKey(t, "ec256", "ES256")
	ec521 := newECKey(t, "ec521", "ES512")
	ecNoAlg := newECKey(t, "ecnoalg", "ES256")
	ecNoAlg.alg = "" // published without alg: inferred from the curve
	f := newFixture(t, fixtureOpts{verifier: VerifierOptions{Audiences: []string{"mlflow"}}},
		rsaKey, ecKey, psKey, ec256, ec521, ecNoAlg)

	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := sessionClaims()
		edit(c)
		return c
	}
	signed := func(k *testKey, edit func(jwt.MapClaims)) func(testing.TB) string {
		return func(tb testing.TB) string { return k.sign(tb, with(edit)) }
	}
	keep := func(jwt.MapClaims) {}

	tests := []struct {
		name  string
		kind  Kind
		token func(testing.TB) string
		want  error // nil: accepted
	}{
		{"rsa session", KindSession, signed(rsaKey, keep), nil},
		{"ec session", KindSession, signed(ecKey, keep), nil},
		{"ps256", KindSession, signed(psKey, keep), nil},
		{"es256", KindSession, signed(ec256, keep), nil},
		{"es512", KindSession, signed(ec521, keep), nil},
		{"ec jwk without alg", KindSession, func(tb testing.TB) string {
			k := *ecNoAlg
			k.method = jwt.SigningMethodES256
			return k.sign(tb, sessionClaims())
		}, nil},
		{"iss bare project id", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = testProject }), nil},
		{"iss custom domain url", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "https://auth.example.com/" + testProject }), nil},
		{"dsub preferred", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["dsub"] = "U2other" }), nil},
		{"exp within leeway", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-3 * time.Second).Unix() }), nil},
		{"nbf within leeway", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(3 * time.Second).Unix() }), nil},
		{"aud project", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["aud"] = testProject }), nil},
		{"aud list with configured audience", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["aud"] = []any{"other", "mlflow"} }), nil},
		{"refresh", KindRefresh, signed(rsaKey, func(c jwt.MapClaims) { c["drn"] = "DSR" }), nil},
		{"access key without drn", KindAccessKey, signed(ecKey, func(c jwt.MapClaims) { delete(c, "drn"); delete(c, "amr") }), nil},
		{"access key with DS", KindAccessKey, signed(ecKey, keep), nil},

		{"expired", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-10 * time.Second).Unix() }), ErrExpired},
		{"nbf in future", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }), ErrNotYetValid},
		{"iat in future", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }), ErrNotYetValid},
		{"missing exp", KindSession, signed(rsaKey, func(c jwt.MapClaims) { delete(c, "exp") }), ErrMalformed},
		{"exp not a number", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), ErrMalformed},
		{"wrong iss project", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "https://api.descope.com/P2otherproject" }), ErrIssuer},
		{"iss suffix without slash", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "https://evil.example/x" + testProject }), ErrIssuer},
		{"iss path not url", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "evil/" + testProject }), ErrIssuer},
		{"iss in query", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "https://evil.example/?x=/" + testProject }), ErrIssuer},
		{"iss in fragment", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = "https://evil.example/#/" + testProject }), ErrIssuer},
		{"iss project prefix", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["iss"] = testProject + "x" }), ErrIssuer},
		{"missing iss", KindSession, signed(rsaKey, func(c jwt.MapClaims) { delete(c, "iss") }), ErrIssuer},
		{"aud other project", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["aud"] = "P2otherproject" }), ErrAudience},
		{"refresh used as session", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["drn"] = "DSR" }), ErrTokenKind},
		{"session used as refresh", KindRefresh, signed(rsaKey, keep), ErrTokenKind},
		{"refresh used as access key", KindAccessKey, signed(rsaKey, func(c jwt.MapClaims) { c["drn"] = "DSR" }), ErrTokenKind},
		{"session without drn", KindSession, signed(rsaKey, func(c jwt.MapClaims) { delete(c, "drn") }), ErrTokenKind},
		{"drn not a string", KindAccessKey, signed(rsaKey, func(c jwt.MapClaims) { c["drn"] = 1 }), ErrMalformed},
		{"roles not an array", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["roles"] = "admin" }), ErrMalformed},
		{"tenant not an object", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["tenants"] = map[string]any{"T1": "admin"} }), ErrMalformed},
		{"no subject", KindSession, signed(rsaKey, func(c jwt.MapClaims) { delete(c, "sub") }), ErrMalformed},
		{"alg none", KindSession, func(tb testing.TB) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims())
			tok.Header["kid"] = rsaKey.kid
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				tb.Fatal(err)
			}
			return s
		}, ErrSignature},
		{"hs256 with public key pem", KindSession, func(tb testing.TB) string {
			return hmacWithPublicKey(tb, rsaKey, true)
		}, ErrSignature},
		{"hs256 with public key der", KindSession, func(tb testing.TB) string {
			return hmacWithPublicKey(tb, ecKey, false)
		}, ErrSignature},
		{"alg differs from jwk alg", KindSession, func(tb testing.TB) string {
			k := *rsaKey // same RSA key, PS256 instead of the declared RS256
			k.method = jwt.SigningMethodPS256
			return k.sign(tb, sessionClaims())
		}, ErrSignature},
		{"signed by another key with a known kid", KindSession, func(tb testing.TB) string {
			other := newRSAKey(tb, rsaKey.kid, "RS256")
			return other.sign(tb, sessionClaims())
		}, ErrSignature},
		{"tampered payload", KindSession, func(tb testing.TB) string {
			return tamper(tb, rsaKey.sign(tb, sessionClaims()), func(c map[string]any) { c["roles"] = []any{"superadmin"} })
		}, ErrSignature},
		{"missing kid", KindSession, func(tb testing.TB) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, sessionClaims())
			s, err := tok.SignedString(rsaKey.priv)
			if err != nil {
				tb.Fatal(err)
			}
			return s
		}, ErrMalformed},
		{"crit header", KindSession, func(tb testing.TB) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, sessionClaims())
			tok.Header["kid"] = rsaKey.kid
			tok.Header["crit"] = []any{"exp"}
			s, err := tok.SignedString(rsaKey.priv)
			if err != nil {
				tb.Fatal(err)
			}
			return s
		}, ErrMalformed},
		{"garbage", KindSession, func(testing.TB) string { return "not.a.jwt" }, ErrMalformed},
		{"two segments", KindSession, func(testing.TB) string { return "eyJhbGciOiJSUzI1NiJ9.e30" }, ErrMalformed},
		{"empty", KindSession, func(testing.TB) string { return "" }, ErrMalformed},
		{"oversized", KindSession, signed(rsaKey, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 17<<10) }), ErrMalformed},
		{"unknown kind", Kind(42), signed(rsaKey, keep), ErrTokenKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := tt.token(t)
			tok, err := f.v.Verify(t.Context(), raw, tt.kind)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: got error %v; want none", err)
				}
				if tok.Raw != raw || tok.Kind != tt.kind || tok.Subject == "" || tok.Expiry.IsZero() {
					t.Errorf("Verify: got token %+v; want raw, kind, subject and expiry set", *tok)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: got error %v; want %v", err, tt.want)
			}
			if tok != nil {
				t.Errorf("Verify: got token with error %v", err)
			}
			if strings.Contains(err.Error(), raw) && raw != "" {
				t.Errorf("error text contains the token")
			}
		})
	}
}

// hmacWithPublicKey signs sessionClaims with HS256, using the public key
// (PEM or DER) as the HMAC secret: the classic key-confusion attack.
func hmacWithPublicKey(tb testing.TB, k *testKey, asPEM bool) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	secret := der
	if asPEM {
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims())
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// tamper rewrites a token's payload and keeps its signature.
func tamper(tb testing.TB, raw string, edit func(map[string]any)) string {
	tb.Helper()
	parts := strings.Split(raw, ".")
	payload, err := decodeB64(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		tb.Fatal(err)
	}
	edit(c)
	payload, err = json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	parts[1] = b64(payload)
	return strings.Join(parts, ".")
}

func TestVerifyPinnedIssuer(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "ec1", "ES384")
	pinned := "https://auth.example.com/" + testProject
	f := newFixture(t, fixtureOpts{verifier: VerifierOptions{Issuers: []string{pinned}}}, k)
	for _, tt := range []struct {
		iss  string
		want error
	}{
		{pinned, nil},
		{"https://api.descope.com/" + testProject, ErrIssuer},
		{testProject, ErrIssuer},
	} {
		t.Run(tt.iss, func(t *testing.T) {
			t.Parallel()
			c := sessionClaims()
			c["iss"] = tt.iss
			_, err := f.v.Verify(t.Context(), k.sign(t, c), KindSession)
			if !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
				t.Errorf("Verify(iss %q): got %v; want %v", tt.iss, err, tt.want)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	k := newRSAKey(t, "rsa1", "RS256")
	f := newFixture(t, fixtureOpts{}, k)
	c := sessionClaims()
	c["dsub"] = "U2descope"
	c["amr"] = []any{"oauth", "fed"}
	c["email"] = "ada@example.com"
	c["aud"] = testProject
	raw := k.sign(t, c)
	tok, err := f.v.Verify(t.Context(), raw, KindSession)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Subject, Issuer, KeyID string
		AMR, Roles, Perms, Aud []string
		Expiry, IssuedAt       time.Time
		Email                  any
	}{tok.Subject, tok.Issuer, tok.KeyID, tok.AMR, tok.Roles, tok.Permissions, tok.Audience, tok.Expiry, tok.IssuedAt, tok.Claims["email"]}
	want := struct {
		Subject, Issuer, KeyID string
		AMR, Roles, Perms, Aud []string
		Expiry, IssuedAt       time.Time
		Email                  any
	}{"U2descope", "https://api.descope.com/" + testProject, "rsa1", []string{"oauth", "fed"}, []string{"admin"}, []string{"read"},
		[]string{testProject}, testNow.Add(9 * time.Minute), testNow.Add(-time.Minute), "ada@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token claims (-want +got):\n%s", diff)
	}
}

func TestTenantShapes(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "ec1", "ES384")
	f := newFixture(t, fixtureOpts{}, k)
	tests := []struct {
		name        string
		edit        func(jwt.MapClaims)
		wantProject []string
		wantTenants map[string][]string
		wantPerms   map[string][]string
	}{
		{
			name: "default shape with dct",
			edit: func(c jwt.MapClaims) {
				c["dct"] = "T1"
				c["tenants"] = map[string]any{
					"T1": map[string]any{"roles": []any{"editor"}, "permissions": []any{"write"}},
					"T2": map[string]any{},
				}
			},
			wantProject: []string{"admin"},
			wantTenants: map[string][]string{"T1": {"editor"}, "T2": nil},
			wantPerms:   map[string][]string{"T1": {"write"}, "T2": nil},
		},
		{
			name:        "dct without tenants: top-level roles are the tenant's",
			edit:        func(c jwt.MapClaims) { c["dct"] = "T9" },
			wantProject: nil,
			wantTenants: map[string][]string{"T9": {"admin"}},
			wantPerms:   map[string][]string{"T9": {"read"}},
		},
		{
			name:        "no tenants at all",
			edit:        func(jwt.MapClaims) {},
			wantProject: []string{"admin"},
			wantTenants: map[string][]string{},
			wantPerms:   map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sessionClaims()
			tt.edit(c)
			tok, err := f.v.Verify(t.Context(), k.sign(t, c), KindSession)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantProject, tok.ProjectRoles()); diff != "" {
				t.Errorf("ProjectRoles (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTenants, tok.TenantRoles()); diff != "" {
				t.Errorf("TenantRoles (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPerms, tok.TenantPermissions()); diff != "" {
				t.Errorf("TenantPermissions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewVerifierRejectsBadOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, newECKey(t, "ec1", "ES256"))
	for name, o := range map[string]VerifierOptions{
		"negative leeway": {Leeway: -time.Second},
		"empty issuer":    {Issuers: []string{""}},
		"empty audience":  {Audiences: []string{""}},
	} {
		if _, err := NewVerifier(f.keys, o); err == nil {
			t.Errorf("NewVerifier(%s): got nil error; want one", name)
		}
	}
	if _, err := NewVerifier(nil, VerifierOptions{}); err == nil {
		t.Error("NewVerifier(nil keys): got nil error; want one")
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "ec1", "ES256")
	f := newFixture(t, fixtureOpts{}, k)
	raw := k.sign(t, sessionClaims())
	ctx := t.Context()
	first, err := f.v.Verify(ctx, raw, KindSession)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.v.Verify(ctx, raw, KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second verification did not come from the cache")
	}
	// A cached session token is still not a refresh token.
	if _, err := f.v.Verify(ctx, raw, KindRefresh); !errors.Is(err, ErrTokenKind) {
		t.Errorf("as refresh: err = %v, want ErrTokenKind", err)
	}
	// Tampering changes the hash: never a cache hit.
	if _, err := f.v.Verify(ctx, raw+"x", KindSession); err == nil {
		t.Error("tampered token accepted")
	}
	if f.v.cache.len() != 1 {
		t.Errorf("cache holds %d entries, want 1 (failures are not cached)", f.v.cache.len())
	}
}
