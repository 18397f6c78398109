package descope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// signRaw signs exactly these header and payload bytes with k, so a test
// can send JSON that no encoder would produce (repeated members).
func (k *testKey) signRaw(tb testing.TB, header, payload string) string {
	tb.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	sig, err := k.method.Sign(input, k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + b64(sig)
}

// rawClaims renders valid session claims as JSON text and appends extra,
// which must start with a comma.
func rawClaims(tb testing.TB, drop []string, extra string) string {
	tb.Helper()
	c := sessionClaims()
	for _, d := range drop {
		delete(c, d)
	}
	data, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSuffix(string(data), "}") + extra + "}"
}

// TestVerifyRefusesRepeatedMembers: a validly signed token whose header or
// payload repeats a member, at any depth, is refused before any claim is
// used. Without the check, encoding/json keeps the last copy and the
// gateway acts on it (admin, another user, a refresh token as a session).
func TestVerifyRefusesRepeatedMembers(t *testing.T) {
	t.Parallel()
	ec := newECKey(t, "ec1", "ES384")
	rs := newRSAKey(t, "rsa1", "RS256")
	fx := newFixture(t, fixtureOpts{verifier: VerifierOptions{CacheSize: -1}}, ec, rs)
	hdr := func(k *testKey) string { return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, k.alg, k.kid) }
	tests := []struct {
		name    string
		key     *testKey
		header  string // "" means hdr(key)
		payload string
		kind    Kind
	}{
		{name: "roles twice", key: ec, payload: rawClaims(t, []string{"roles"}, `,"roles":[],"roles":["admin"]`)},
		{name: "sub twice", key: ec, payload: rawClaims(t, []string{"sub"}, `,"sub":"U2attacker","sub":"U2victim"`)},
		{name: "dsub twice", key: rs, payload: rawClaims(t, nil, `,"dsub":"U2attacker","dsub":"U2victim"`)},
		{name: "drn twice", key: ec, payload: rawClaims(t, []string{"drn"}, `,"drn":"DSR","drn":"DS"`)},
		{name: "drn twice as refresh", key: ec, payload: rawClaims(t, []string{"drn"}, `,"drn":"DS","drn":"DSR"`), kind: KindRefresh},
		{name: "exp twice", key: ec, payload: rawClaims(t, []string{"exp"}, fmt.Sprintf(`,"exp":%d,"exp":%d`, testNow.Add(-time.Hour).Unix(), testNow.Add(time.Hour).Unix()))},
		{name: "iss twice", key: ec, payload: rawClaims(t, []string{"iss"}, `,"iss":"https://evil.example/P2other","iss":"`+testProject+`"`)},
		{name: "tenant roles twice", key: ec, payload: rawClaims(t, nil, `,"tenants":{"T1":{"roles":[],"roles":["admin"]}}`)},
		{name: "tenant twice", key: ec, payload: rawClaims(t, nil, `,"tenants":{"T1":{},"T1":{"roles":["admin"]}}`)},
		{name: "custom claim nested twice", key: rs, payload: rawClaims(t, nil, `,"nsec":{"a":[{"b":1,"b":2}]}`)},
		{name: "escaped spelling", key: ec, payload: rawClaims(t, []string{"roles"}, `,"roles":[],"r\u006fles":["admin"]`)},
		{name: "amr twice", key: ec, payload: rawClaims(t, []string{"amr"}, `,"amr":["email"],"amr":["mfa"]`)},
		{name: "header kid twice", key: ec, header: fmt.Sprintf(`{"alg":"ES384","kid":"rsa1","kid":%q}`, ec.kid), payload: rawClaims(t, nil, "")},
		{name: "header alg twice", key: rs, header: fmt.Sprintf(`{"alg":"none","alg":"RS256","kid":%q}`, rs.kid), payload: rawClaims(t, nil, "")},
		{name: "header crit hidden by repeat", key: ec, header: fmt.Sprintf(`{"alg":"ES384","kid":%q,"x":{"crit":1,"crit":2}}`, ec.kid), payload: rawClaims(t, nil, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if header == "" {
				header = hdr(tt.key)
			}
			kind := tt.kind
			if kind == 0 {
				kind = KindSession
			}
			raw := tt.key.signRaw(t, header, tt.payload)
			tok, err := fx.v.Verify(t.Context(), raw, kind)
			if !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("Verify = %v, %v; want ErrAmbiguous", tok, err)
			}
			if tok != nil {
				t.Fatalf("a token came back with the error: %v", tok)
			}
			if got := Reason(err); got != "ambiguous" {
				t.Errorf("Reason = %q", got)
			}
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrSignature) {
				t.Errorf("error matches a second sentinel: %v", err)
			}
		})
	}

	// Controls: the same signer and text without the repeat verify, so the
	// refusals above are about the repeat, not the signing.
	for _, payload := range []string{
		rawClaims(t, nil, ""),
		rawClaims(t, nil, `,"tenants":{"T1":{"roles":["viewer"]},"T2":{"roles":["viewer"]}}`),
		rawClaims(t, nil, `,"Roles":["case variants are distinct claims"]`),
	} {
		tok, err := fx.v.Verify(t.Context(), ec.signRaw(t, hdr(ec), payload), KindSession)
		if err != nil {
			t.Fatalf("control %s: %v", payload, err)
		}
		if tok.Subject != "U2user" {
			t.Fatalf("control: subject %q", tok.Subject)
		}
	}
}

// The cache of verified tokens must not let a refused token in later.
func TestAmbiguousTokenIsNeverCached(t *testing.T) {
	t.Parallel()
	ec := newECKey(t, "ec1", "ES384")
	fx := newFixture(t, fixtureOpts{}, ec)
	raw := ec.signRaw(t, fmt.Sprintf(`{"alg":"ES384","kid":%q}`, ec.kid), rawClaims(t, []string{"roles"}, `,"roles":[],"roles":["admin"]`))
	for range 3 {
		if _, err := fx.v.Verify(t.Context(), raw, KindSession); !errors.Is(err, ErrAmbiguous) {
			t.Fatalf("Verify = %v", err)
		}
	}
	if fx.v.Cached(raw, KindSession) {
		t.Fatal("refused token is cached")
	}
}

// TestClientRefusesAmbiguousAnswers: Descope answers the gateway acts on
// (exchange, refresh, me, user and key records, the key set) are refused
// when they repeat a member or spell one twice in case variants, which
// encoding/json would fold into one struct field. Refused means
// ErrUnavailable: nothing is decoded, nobody is signed out.
func TestClientRefusesAmbiguousAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		call func(*Client, *testing.T) error
	}{
		{"exchange sessionJwt twice", `{"keyId":"K1","sessionJwt":"a.b.c","sessionJwt":"d.e.f","expiration":1}`,
			func(c *Client, t *testing.T) error {
				_, err := c.ExchangeAccessKey(t.Context(), testAccess, nil)
				return err
			}},
		{"exchange keyId case variant", `{"keyId":"K1","KeyID":"K2","sessionJwt":"a.b.c"}`,
			func(c *Client, t *testing.T) error {
				_, err := c.ExchangeAccessKey(t.Context(), testAccess, nil)
				return err
			}},
		{"refresh refreshJwt twice", `{"sessionJwt":"a.b.c","refreshJwt":"x","refreshJwt":"y"}`,
			func(c *Client, t *testing.T) error { _, err := c.Refresh(t.Context(), testRefresh); return err }},
		{"me userId twice", `{"userId":"U1","userId":"U2"}`,
			func(c *Client, t *testing.T) error { _, err := c.Me(t.Context(), testRefresh); return err }},
		{"me status case variant", `{"userId":"U1","status":"disabled","Status":"enabled"}`,
			func(c *Client, t *testing.T) error { _, err := c.Me(t.Context(), testRefresh); return err }},
		{"user tenant roles twice", `{"user":{"userId":"U1","userTenants":[{"tenantId":"T1","roleNames":[],"roleNames":["admin"]}]}}`,
			func(c *Client, t *testing.T) error {
				_, err := c.UserByLoginID(t.Context(), "a@example.com")
				return err
			}},
		{"key boundUserId twice", `{"key":{"id":"K1","status":"active","boundUserId":"U1","boundUserId":"U2"}}`,
			func(c *Client, t *testing.T) error { _, err := c.AccessKey(t.Context(), "K1"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAPIStub(t, reply{body: tt.body})
			c := newTestClient(t, srv.URL, nil)
			err := tt.call(c, t)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "ambiguous response") {
				t.Fatalf("got %v; want an ambiguous-response ErrUnavailable", err)
			}
		})
	}

	// Case variants inside free-form maps are distinct keys, and the same
	// name in sibling objects is no repeat.
	srv := newAPIStub(t, reply{body: `{"userId":"U1","customAttributes":{"Dept":"a","dept":"b"},"userTenants":[{"tenantId":"T1"},{"tenantId":"T2"}]}`})
	u, err := newTestClient(t, srv.URL, nil).Me(t.Context(), testRefresh)
	if err != nil || u.UserID != "U1" || len(u.UserTenants) != 2 {
		t.Fatalf("Me = %+v, %v", u, err)
	}
}

// A key set that repeats a member cannot say which key or algorithm is
// meant: the load fails and no key is used.
func TestKeySetWithRepeatedMembersIsRefused(t *testing.T) {
	t.Parallel()
	srv := newAPIStub(t, reply{body: `{"keys":[{"kid":"k1","kty":"EC","crv":"P-384","alg":"ES384","alg":"ES256","x":"AA","y":"AA"}]}`})
	c := newTestClient(t, srv.URL, nil)
	keys, err := NewKeys(c, KeysOptions{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(t.Context()); err == nil || !strings.Contains(err.Error(), "ambiguous response") {
		t.Fatalf("Refresh = %v; want an ambiguous-response error", err)
	}
}
