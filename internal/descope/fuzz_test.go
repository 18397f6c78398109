package descope

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to the token parser. Verify must never
// panic, must classify every rejection, and can accept only tokens this
// test signed (the fuzzer cannot forge a signature).
func FuzzVerify(f *testing.F) {
	rsaKey := newRSAKey(f, "rsa1", "RS256")
	ecKey := newECKey(f, "ec1", "ES384")
	fx := newFixture(f, fixtureOpts{keys: KeysOptions{ForcedInterval: time.Hour}}, rsaKey, ecKey)

	signed := map[string]bool{}
	add := func(s string) {
		signed[s] = true
		f.Add(s)
	}
	add(rsaKey.sign(f, sessionClaims()))
	add(ecKey.sign(f, sessionClaims()))
	c := sessionClaims()
	c["drn"] = "DSR"
	c["dct"] = "T1"
	c["tenants"] = map[string]any{"T1": map[string]any{"roles": []any{"r"}}, "T2": map[string]any{}}
	add(ecKey.sign(f, c))
	c = sessionClaims()
	c["exp"] = testNow.Add(-time.Hour).Unix()
	add(rsaKey.sign(f, c))
	// Validly signed, but repeating a claim: must never be accepted.
	f.Add(ecKey.signRaw(f, `{"alg":"ES384","kid":"ec1"}`, rawClaims(f, []string{"roles"}, `,"roles":[],"roles":["admin"]`)))
	f.Add(rsaKey.signRaw(f, `{"alg":"RS256","kid":"ec1","kid":"rsa1"}`, rawClaims(f, nil, "")))
	f.Add(hmacWithPublicKey(f, rsaKey, true))
	f.Add(tamper(f, ecKey.sign(f, sessionClaims()), func(m map[string]any) { m["sub"] = "admin" }))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims())
	none.Header["kid"] = "rsa1"
	if s, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType); err == nil {
		f.Add(s)
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJ9.e30.", strings.Repeat("A", 100)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		for _, kind := range []Kind{KindSession, KindRefresh, KindAccessKey} {
			tok, err := fx.v.Verify(t.Context(), raw, kind)
			if err != nil {
				if tok != nil {
					t.Fatalf("Verify returned a token with error %v", err)
				}
				if r := Reason(err); r == "error" || r == "keys_unavailable" {
					t.Fatalf("unclassified rejection %q: %v", r, err)
				}
				continue
			}
			if !signed[raw] {
				t.Fatalf("Verify accepted a token this test did not sign: %q", raw)
			}
			if tok.Subject == "" || tok.Expiry.Before(testNow.Add(-DefaultLeeway)) {
				t.Fatalf("accepted token lacks subject or is expired: %+v", *tok)
			}
		}
	})
}
