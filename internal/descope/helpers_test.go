package descope

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testProject = "P2testproject"

// testNow is the fixed clock of the verification tests.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// testKey is a signing key generated for one test.
type testKey struct {
	kid    string
	alg    string // declared in the JWK; "" omits it
	method jwt.SigningMethod
	priv   crypto.Signer
}

func newRSAKey(tb testing.TB, kid, alg string) *testKey {
	tb.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, method: jwt.GetSigningMethod(alg), priv: priv}
}

func newECKey(tb testing.TB, kid, alg string) *testKey {
	tb.Helper()
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, method: jwt.GetSigningMethod(alg), priv: priv}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public JWK of k.
func (k *testKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "use": "sig"}
	if k.alg != "" {
		m["alg"] = k.alg
	}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(raw) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = pub.Curve.Params().Name
		m["x"] = b64(raw[1 : 1+size])
		m["y"] = b64(raw[1+size:])
	}
	return m
}

// sign makes a token signed by k with k's method and kid.
func (k *testKey) sign(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sessionClaims are valid session claims at testNow; edit to taste.
func sessionClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":         "U2user",
		"iss":         "https://api.descope.com/" + testProject,
		"iat":         testNow.Add(-time.Minute).Unix(),
		"exp":         testNow.Add(9 * time.Minute).Unix(),
		"drn":         "DS",
		"amr":         []any{"email"},
		"roles":       []any{"admin"},
		"permissions": []any{"read"},
	}
}

// jwksServer serves GET /v2/keys/{project} and counts the fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu     sync.Mutex
	keys   []*testKey
	status int // non-zero: answer this status instead of keys
}

func newJWKSServer(tb testing.TB, keys ...*testKey) *jwksServer {
	tb.Helper()
	s := &jwksServer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/keys/{project}", func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if r.PathValue("project") != testProject || r.Header.Get("Authorization") != "Bearer "+testProject {
			http.Error(w, `{"errorCode":"E000"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		status, keys := s.status, s.keys
		s.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		set := make([]map[string]any, 0, len(keys))
		for _, k := range keys {
			set = append(set, k.jwk())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	})
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...*testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// fixture is a verifier wired to a JWKS server.
type fixture struct {
	srv    *jwksServer
	client *Client
	keys   *Keys
	v      *Verifier
}

type fixtureOpts struct {
	keys     KeysOptions
	verifier VerifierOptions
	noLoad   bool // skip the initial key fetch
}

func newFixture(tb testing.TB, o fixtureOpts, published ...*testKey) *fixture {
	tb.Helper()
	srv := newJWKSServer(tb, published...)
	c, err := New(Options{BaseURL: srv.URL, ProjectID: testProject, Now: fixedNow})
	if err != nil {
		tb.Fatal(err)
	}
	if o.keys.Now == nil {
		o.keys.Now = fixedNow
	}
	keys, err := NewKeys(c, o.keys)
	if err != nil {
		tb.Fatal(err)
	}
	if !o.noLoad {
		if err := keys.Refresh(tb.Context()); err != nil {
			tb.Fatal(err)
		}
	}
	if o.verifier.Now == nil {
		o.verifier.Now = fixedNow
	}
	v, err := NewVerifier(keys, o.verifier)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{srv: srv, client: c, keys: keys, v: v}
}
