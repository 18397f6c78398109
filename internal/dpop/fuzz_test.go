package dpop

import (
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary proofs (seeded with valid ones and their
// pieces) to the parser: it must never panic, must fail with ErrInvalid,
// and whatever it accepts must be a signed proof that carries every claim
// the checks rely on.
func FuzzParse(f *testing.F) {
	p := newECProver(f, "ES256", elliptic.P256(), "P-256")
	ed := newEdProver(f)
	valid := p.sign(f, p.claims("j1", t0), nil)
	f.Add(valid)
	f.Add(ed.sign(f, ed.claims("j2", t0), nil))
	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.e30")
	f.Add("...")
	f.Fuzz(func(t *testing.T, proof string) {
		got, err := Parse(proof)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if got.Thumbprint == "" || got.JTI == "" || got.HTM == "" || got.HTU == "" || got.ATH == "" || got.IssuedAt.IsZero() {
			t.Fatalf("accepted a proof without its claims: %+v", got)
		}
		if _, ok := allowedAlgs[got.Alg]; !ok {
			t.Fatalf("accepted alg %q", got.Alg)
		}
	})
}

// FuzzSameURI: the htu comparison never panics and is symmetric.
func FuzzSameURI(f *testing.F) {
	f.Add("https://h/a", "https://H:443/a?x")
	f.Add("http://[::1]:80/%7e", "http://[::1]/~")
	f.Fuzz(func(t *testing.T, a, b string) {
		if SameURI(a, b) != SameURI(b, a) {
			t.Fatalf("SameURI not symmetric for %q, %q", a, b)
		}
	})
}
