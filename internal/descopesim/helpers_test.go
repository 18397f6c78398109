package descopesim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testProject = "P2TestProject00000000000000A"

// newSim starts a simulator for one test and closes it when the test ends.
func newSim(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.ProjectID == "" {
		opts.ProjectID = testProject
	}
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustUser creates a user or fails the test.
func mustUser(tb testing.TB, s *Server, u User) {
	tb.Helper()
	if err := s.CreateUser(u); err != nil {
		tb.Fatalf("CreateUser(%s): %v", u.ID, err)
	}
}

// mustMint mints a pair or fails the test.
func mustMint(tb testing.TB, s *Server, userID string, opts MintOptions) (string, string) {
	tb.Helper()
	sess, ref, err := s.MintSession(userID, opts)
	if err != nil {
		tb.Fatalf("MintSession(%s): %v", userID, err)
	}
	return sess, ref
}

// call sends a request to the simulator and decodes a JSON answer into out
// (when non-nil). It returns the response, body closed.
func call(tb testing.TB, s *Server, method, path, auth, body string, out any) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp
}

// verifyJWKS checks token against the JWKS the simulator serves, as a
// client would, and returns its claims.
func verifyJWKS(tb testing.TB, s *Server, token string) (jwt.MapClaims, error) {
	tb.Helper()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	call(tb, s, http.MethodGet, "/v2/keys/"+s.ProjectID(), "", "", &set)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == t.Header["kid"] && k.Alg == t.Method.Alg() {
				return publicKey(tb, k), nil
			}
		}
		return nil, errBadToken
	}, jwt.WithValidMethods([]string{AlgES384, AlgRS256}), jwt.WithLeeway(5*time.Second))
	return claims, err
}

func publicKey(tb testing.TB, k jwk) any {
	tb.Helper()
	dec := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			tb.Fatalf("decode jwk: %v", err)
		}
		return new(big.Int).SetBytes(b)
	}
	switch k.Kty {
	case "EC":
		x, y := make([]byte, 48), make([]byte, 48)
		dec(k.X).FillBytes(x)
		dec(k.Y).FillBytes(y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), append(append([]byte{4}, x...), y...))
		if err != nil {
			tb.Fatalf("parse ec jwk: %v", err)
		}
		return pub
	case "RSA":
		return &rsa.PublicKey{N: dec(k.N), E: int(dec(k.E).Int64())}
	}
	tb.Fatalf("unknown kty %q", k.Kty)
	return nil
}
