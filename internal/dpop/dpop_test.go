package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	t0     = time.Unix(1_800_000_000, 0)
	token  = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJVMiJ9.c2ln" // stands for the access token; only its hash matters here
	target = "https://mlflow.example.com/api/2.0/mlflow/experiments/search"
)

// prover signs proofs with one key, as a DPoP client would.
type prover struct {
	alg string
	key crypto.Signer
	jwk map[string]any
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newECProver(t testing.TB, alg string, curve elliptic.Curve, crv string) *prover {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	size := (curve.Params().BitSize + 7) / 8
	pt, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	return &prover{alg: alg, key: k, jwk: map[string]any{"kty": "EC", "crv": crv, "x": b64(pt[1 : 1+size]), "y": b64(pt[1+size:])}}
}

var rsaOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newRSAProver(t testing.TB, alg string) *prover {
	t.Helper()
	k, err := rsaOnce()
	if err != nil {
		t.Fatal(err)
	}
	return &prover{alg: alg, key: k, jwk: map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}}
}

func newEdProver(t testing.TB) *prover {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &prover{alg: "EdDSA", key: priv, jwk: map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}}
}

func (p *prover) jkt(t testing.TB) string {
	t.Helper()
	raw, _ := json.Marshal(p.jwk)
	j, err := Thumbprint(raw)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func ath(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return b64(s[:])
}

func (p *prover) claims(jti string, iat time.Time) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": target, "iat": iat.Unix(), "ath": ath(token)}
}

// sign builds a proof; edit changes the header or claims first.
func (p *prover) sign(t testing.TB, claims map[string]any, edit func(h map[string]any)) string {
	t.Helper()
	h := map[string]any{"typ": "dpop+jwt", "alg": p.alg, "jwk": p.jwk}
	if edit != nil {
		edit(h)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	return signRaw(t, p, hb, cb)
}

func signRaw(t testing.TB, p *prover, header, claims []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	m := jwt.GetSigningMethod(p.alg)
	sig, err := m.Sign(input, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func checker() *Checker { return New(Options{Now: func() time.Time { return t0 }}) }

func req(jkt string) Request {
	return Request{Method: "POST", URL: target, AccessToken: token, JKT: jkt}
}

func TestCheckAcceptsEachAlgorithm(t *testing.T) {
	t.Parallel()
	for _, p := range []*prover{
		newECProver(t, "ES256", elliptic.P256(), "P-256"),
		newECProver(t, "ES384", elliptic.P384(), "P-384"),
		newECProver(t, "ES512", elliptic.P521(), "P-521"),
		newRSAProver(t, "RS256"),
		newRSAProver(t, "PS256"),
		newEdProver(t),
	} {
		t.Run(p.alg, func(t *testing.T) {
			t.Parallel()
			c := checker()
			if err := c.Check(t.Context(), p.sign(t, p.claims("j1", t0), nil), req(p.jkt(t))); err != nil {
				t.Fatalf("valid %s proof refused: %v", p.alg, err)
			}
		})
	}
}

// TestCheckRefuses: every rule of RFC 9449 §4.3 (and the gateway's own
// limits) is enforced; each case fails if its check is removed.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	p := newECProver(t, "ES256", elliptic.P256(), "P-256")
	other := newECProver(t, "ES256", elliptic.P256(), "P-256")
	p384 := newECProver(t, "ES384", elliptic.P384(), "P-384")
	jkt := p.jkt(t)
	with := func(k string, v any) map[string]any {
		c := p.claims("j1", t0)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := func(k string, v any) func(map[string]any) {
		return func(h map[string]any) {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
	}
	withPrivate := map[string]any{"kty": "EC", "crv": "P-256", "x": p.jwk["x"], "y": p.jwk["y"], "d": "AAAA"}
	valid := p.sign(t, p.claims("j1", t0), nil)
	parts := strings.Split(valid, ".")
	tests := []struct {
		name  string
		proof string
		req   Request
		want  error
	}{
		{name: "empty proof", proof: "", req: req(jkt)},
		{name: "not a JWS", proof: "abc.def", req: req(jkt)},
		{name: "typ jwt", proof: p.sign(t, p.claims("j1", t0), hdr("typ", "JWT")), req: req(jkt)},
		{name: "no typ", proof: p.sign(t, p.claims("j1", t0), hdr("typ", nil)), req: req(jkt)},
		{name: "alg none", proof: b64([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":{}}`)) + "." + parts[1] + ".", req: req(jkt)},
		{name: "alg HS256", proof: p.sign(t, p.claims("j1", t0), hdr("alg", "HS256")), req: req(jkt)},
		{name: "alg of another key type", proof: p.sign(t, p.claims("j1", t0), hdr("alg", "RS256")), req: req(jkt)},
		{name: "curve does not fit alg", proof: p384.sign(t, p384.claims("j1", t0), hdr("alg", "ES256")), req: req(p384.jkt(t))},
		{name: "no jwk", proof: p.sign(t, p.claims("j1", t0), hdr("jwk", nil)), req: req(jkt)},
		{name: "private key in jwk", proof: p.sign(t, p.claims("j1", t0), hdr("jwk", withPrivate)), req: req(jkt)},
		{name: "symmetric jwk", proof: p.sign(t, p.claims("j1", t0), hdr("jwk", map[string]any{"kty": "oct", "k": "c2VjcmV0"})), req: req(jkt)},
		{name: "crit header", proof: p.sign(t, p.claims("j1", t0), hdr("crit", []string{"exp"})), req: req(jkt)},
		{name: "signature by another key", proof: parts[0] + "." + parts[1] + "." + strings.Split(other.sign(t, p.claims("j1", t0), hdr("jwk", p.jwk)), ".")[2], req: req(jkt)},
		{name: "claims changed after signing", proof: parts[0] + "." + b64([]byte(`{"jti":"j1","htm":"GET","htu":"`+target+`","iat":1800000000,"ath":"`+ath(token)+`"}`)) + "." + parts[2], req: req(jkt)},
		{name: "key of another holder", proof: other.sign(t, other.claims("j1", t0), nil), req: req(jkt)},
		{name: "htm", proof: p.sign(t, with("htm", "GET"), nil), req: req(jkt)},
		{name: "htu other path", proof: p.sign(t, with("htu", "https://mlflow.example.com/api/2.0/mlflow/runs/search"), nil), req: req(jkt)},
		{name: "htu other host", proof: p.sign(t, with("htu", "https://evil.example.com/api/2.0/mlflow/experiments/search"), nil), req: req(jkt)},
		{name: "htu other scheme", proof: p.sign(t, with("htu", "http://mlflow.example.com/api/2.0/mlflow/experiments/search"), nil), req: req(jkt)},
		{name: "htu relative", proof: p.sign(t, with("htu", "/api/2.0/mlflow/experiments/search"), nil), req: req(jkt)},
		{name: "iat too old", proof: p.sign(t, p.claims("j1", t0.Add(-61*time.Second)), nil), req: req(jkt)},
		{name: "iat in the future", proof: p.sign(t, p.claims("j1", t0.Add(6*time.Second)), nil), req: req(jkt)},
		{name: "iat a string", proof: p.sign(t, with("iat", "1800000000"), nil), req: req(jkt)},
		{name: "no iat", proof: p.sign(t, with("iat", nil), nil), req: req(jkt)},
		{name: "no jti", proof: p.sign(t, with("jti", nil), nil), req: req(jkt)},
		{name: "long jti", proof: p.sign(t, with("jti", strings.Repeat("j", 300)), nil), req: req(jkt)},
		{name: "no ath", proof: p.sign(t, with("ath", nil), nil), req: req(jkt)},
		{name: "ath of another token", proof: p.sign(t, with("ath", ath("other")), nil), req: req(jkt)},
		{name: "token bound to no key", proof: valid, req: req("")},
		{name: "duplicate claim", proof: signRaw(t, p, mustJSON(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": p.jwk}),
			[]byte(`{"jti":"j1","htm":"GET","htm":"POST","htu":"`+target+`","iat":1800000000,"ath":"`+ath(token)+`"}`)), req: req(jkt)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checker().Check(t.Context(), tt.proof, tt.req)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check = %v; want ErrInvalid", err)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestWeakRSAKeyRefused(t *testing.T) {
	t.Parallel()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p := &prover{alg: "RS256", key: k, jwk: map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": "AQAB"}}
	if _, err := Parse(p.sign(t, p.claims("j", t0), nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("1024-bit key: %v; want refused", err)
	}
}

func TestHTUNormalisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		htu, url string
		same     bool
	}{
		{"https://MLflow.Example.com/a/b", "https://mlflow.example.com/a/b", true},
		{"https://mlflow.example.com:443/a", "https://mlflow.example.com/a", true},
		{"http://127.0.0.1:80/a", "http://127.0.0.1/a", true},
		{"https://h/a?x=1#f", "https://h/a?y=2", true},
		{"https://h/%7Euser/%2f", "https://h/~user/%2F", true},
		{"https://h", "https://h/", true},
		{"https://h/a", "https://h/a/", false},
		{"https://h:8443/a", "https://h/a", false},
		{"https://h/a/../b", "https://h/b", false},
		{"https://u@h/a", "https://h/a", false},
		{"ftp://h/a", "ftp://h/a", false},
		{"https://h/%2F", "https://h//", false},
	}
	for _, tt := range tests {
		if got := SameURI(tt.htu, tt.url); got != tt.same {
			t.Errorf("SameURI(%q, %q) = %v; want %v", tt.htu, tt.url, got, tt.same)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	p := newECProver(t, "ES256", elliptic.P256(), "P-256")
	now := t0
	c := New(Options{Now: func() time.Time { return now }, MaxEntries: 2})
	r := req(p.jkt(t))
	first := p.sign(t, p.claims("a", t0), nil)
	if err := c.Check(t.Context(), first, r); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context(), first, r); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use = %v; want ErrReplayed", err)
	}
	// Another jti is fine; a third live one finds the cache full and is
	// refused rather than risking an unremembered replay.
	if err := c.Check(t.Context(), p.sign(t, p.claims("b", t0), nil), r); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context(), p.sign(t, p.claims("c", t0), nil), r); !errors.Is(err, ErrBusy) {
		t.Fatalf("cache full = %v; want ErrBusy", err)
	}
	// Once the remembered proofs are too old to pass anyway, they are
	// forgotten and new proofs are accepted again.
	now = t0.Add(DefaultMaxAge + DefaultLeeway)
	if err := c.Check(t.Context(), p.sign(t, p.claims("d", now), nil), r); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d; want 1 (old entries pruned)", c.Len())
	}
	// A refused proof is not remembered: the same jti, when valid, passes.
	bad := p.claims("e", now)
	bad["htm"] = "GET"
	if err := c.Check(t.Context(), p.sign(t, bad, nil), r); err == nil {
		t.Fatal("bad proof accepted")
	}
	if err := c.Check(t.Context(), p.sign(t, p.claims("e", now), nil), r); err != nil {
		t.Errorf("jti of a refused proof: %v", err)
	}
}
