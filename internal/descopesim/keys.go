package descopesim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms the simulator issues.
const (
	AlgES384 = "ES384"
	AlgRS256 = "RS256"
)

// signingKey is one private key and how it appears in the JWKS.
type signingKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

// jwk is the public form of a signing key, as Descope serves it.
type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// newKeySet generates one EC P-384 key (ES384) and one RSA 2048 key (RS256).
func newKeySet() ([]*signingKey, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("descopesim: generate ec key: %w", err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("descopesim: generate rsa key: %w", err)
	}
	return []*signingKey{
		{kid: "SK2" + randomString(24), alg: AlgES384, method: jwt.SigningMethodES384, priv: ec},
		{kid: "SK2" + randomString(24), alg: AlgRS256, method: jwt.SigningMethodRS256, priv: rs},
	}, nil
}

// RotateKeys replaces every signing key. The old keys leave the JWKS at
// once, so tokens they signed no longer verify (clients refetching the JWKS
// on an unknown kid will not find them).
func (s *Server) RotateKeys() error {
	keys, err := newKeySet()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
	return nil
}

// KeyIDs returns the kid of every current signing key, ES384 first.
func (s *Server) KeyIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k.kid)
	}
	return out
}

// jwks returns the public keys in JWKS form.
func (s *Server) jwks() []jwk {
	s.mu.Lock()
	keys := s.keys
	s.mu.Unlock()
	out := make([]jwk, 0, len(keys))
	for _, k := range keys {
		j := jwk{Kid: k.kid, Alg: k.alg, Use: "sig"}
		switch pub := k.priv.Public().(type) {
		case *ecdsa.PublicKey:
			raw, err := pub.Bytes() // 0x04 || X || Y, each 48 bytes for P-384
			if err != nil || len(raw) != 97 {
				s.log.Error("encode ec key", "kid", k.kid, "error", err)
				continue
			}
			j.Kty, j.Crv = "EC", "P-384"
			j.X = b64(raw[1:49])
			j.Y = b64(raw[49:])
		case *rsa.PublicKey:
			j.Kty = "RSA"
			j.N = b64(pub.N.Bytes())
			j.E = b64(big.NewInt(int64(pub.E)).Bytes())
		}
		out = append(out, j)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// keyFor returns the current key for alg; "" means ES384.
func (s *Server) keyFor(alg string) (*signingKey, error) {
	if alg == "" {
		alg = AlgES384
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.alg == alg {
			return k, nil
		}
	}
	return nil, fmt.Errorf("descopesim: algorithm %q: %w", alg, ErrInvalid)
}

// sign signs claims with the current key for alg.
func (s *Server) sign(alg string, claims map[string]any) (string, error) {
	k, err := s.keyFor(alg)
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(k.method, jwt.MapClaims(claims))
	tok.Header["kid"] = k.kid
	signed, err := tok.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("descopesim: sign: %w", err)
	}
	return signed, nil
}

// SignRaw signs exactly the given header and payload text with the current
// key for alg ("" means ES384), for tests that need tokens no JSON encoder
// would write: repeated claims, odd spellings. An empty header means
// {"alg":…,"kid":…,"typ":"JWT"} for that key; a header given is used as is,
// so it must name the key's kid itself (KeyIDs). Nothing is checked: the
// result verifies against the JWKS whatever it claims.
func (s *Server) SignRaw(alg, header, payload string) (string, error) {
	k, err := s.keyFor(alg)
	if err != nil {
		return "", err
	}
	if header == "" {
		header = fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, k.alg, k.kid)
	}
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	sig, err := k.method.Sign(input, k.priv)
	if err != nil {
		return "", fmt.Errorf("descopesim: sign: %w", err)
	}
	return input + "." + b64(sig), nil
}

// errBadToken is returned by verify for any token the simulator did not
// issue with a current key, or that has expired.
var errBadToken = errors.New("descopesim: invalid token")

// verify checks a token against the current keys and the simulator clock and
// returns its claims.
func (s *Server) verify(raw string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range s.keys {
			if k.kid == kid && k.alg == t.Method.Alg() {
				return k.priv.Public(), nil
			}
		}
		return nil, errBadToken
	},
		jwt.WithValidMethods([]string{AlgES384, AlgRS256}),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadToken, err)
	}
	return claims, nil
}

// randomString returns n characters of random base62.
func randomString(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
