package descope

import "testing"

// BenchmarkVerify measures verification with the key set loaded: "cold"
// checks the signature every time (the verified-token cache disabled, as for
// a token seen for the first time), "cached" is a browser session's second
// and later requests.
func BenchmarkVerify(b *testing.B) {
	for _, k := range []*testKey{newRSAKey(b, "rsa1", "RS256"), newECKey(b, "ec1", "ES384"), newECKey(b, "ec2", "ES256")} {
		for _, mode := range []struct {
			name string
			size int
		}{{"cold", -1}, {"cached", 0}} {
			b.Run(k.alg+"/"+mode.name, func(b *testing.B) {
				f := newFixture(b, fixtureOpts{verifier: VerifierOptions{CacheSize: mode.size}}, k)
				claims := sessionClaims()
				claims["tenants"] = map[string]any{"T1": map[string]any{"roles": []any{"editor"}}}
				raw := k.sign(b, claims)
				ctx := b.Context()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.v.Verify(ctx, raw, KindSession); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyUnknownKid measures the cost of a rejected random kid once
// the forced refetch is rate-limited (no network).
func BenchmarkVerifyUnknownKid(b *testing.B) {
	k := newECKey(b, "ec1", "ES256")
	f := newFixture(b, fixtureOpts{}, k)
	forged := *k
	forged.kid = "nope"
	raw := forged.sign(b, sessionClaims())
	ctx := b.Context()
	_, _ = f.v.Verify(ctx, raw, KindSession) // use up the forced refetch
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, raw, KindSession); err == nil {
			b.Fatal("accepted")
		}
	}
}
