package dpop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// minRSABits refuses weak RSA proof keys.
const minRSABits = 2048

// privateMembers are JWK members that only private or symmetric keys have:
// a proof must carry the public key alone.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicJWK parses the jwk header of a proof: a public key of type kty (and
// curve crv for EC) in the form RFC 7517/7518 gives. It returns the key and
// its RFC 7638 SHA-256 thumbprint, computed from the required members only,
// in lexicographic order, without whitespace.
func publicJWK(raw json.RawMessage, kty, crv string) (any, string, error) {
	if err := noDuplicateKeys(raw); err != nil {
		return nil, "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", errors.New("not a JSON object")
	}
	for _, p := range privateMembers {
		if _, ok := m[p]; ok {
			return nil, "", fmt.Errorf("private or symmetric key member %q", p)
		}
	}
	str := func(name string) (string, error) {
		s, ok := m[name].(string)
		if !ok || s == "" {
			return "", fmt.Errorf("member %q missing", name)
		}
		return s, nil
	}
	got, err := str("kty")
	if err != nil {
		return nil, "", err
	}
	if got != kty {
		return nil, "", fmt.Errorf("kty %q does not fit the algorithm (want %s)", clip(got), kty)
	}
	switch kty {
	case "EC":
		c, err := str("crv")
		if err != nil {
			return nil, "", err
		}
		if c != crv {
			return nil, "", fmt.Errorf("curve %q does not fit the algorithm (want %s)", clip(c), crv)
		}
		x, err := str("x")
		if err != nil {
			return nil, "", err
		}
		y, err := str("y")
		if err != nil {
			return nil, "", err
		}
		key, err := ecKey(c, x, y)
		if err != nil {
			return nil, "", err
		}
		return key, thumbprint(`{"crv":` + quote(c) + `,"kty":"EC","x":` + quote(x) + `,"y":` + quote(y) + `}`), nil
	case "RSA":
		n, err := str("n")
		if err != nil {
			return nil, "", err
		}
		e, err := str("e")
		if err != nil {
			return nil, "", err
		}
		key, err := rsaKey(n, e)
		if err != nil {
			return nil, "", err
		}
		return key, thumbprint(`{"e":` + quote(e) + `,"kty":"RSA","n":` + quote(n) + `}`), nil
	case "OKP":
		c, err := str("crv")
		if err != nil {
			return nil, "", err
		}
		if c != "Ed25519" {
			return nil, "", fmt.Errorf("curve %q is not Ed25519", clip(c))
		}
		x, err := str("x")
		if err != nil {
			return nil, "", err
		}
		b, err := base64.RawURLEncoding.DecodeString(x)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, "", errors.New("bad Ed25519 public key")
		}
		return ed25519.PublicKey(b), thumbprint(`{"crv":"Ed25519","kty":"OKP","x":` + quote(x) + `}`), nil
	}
	return nil, "", fmt.Errorf("kty %q", kty)
}

func ecKey(crv, x, y string) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("curve %q", clip(crv))
	}
	size := (curve.Params().BitSize + 7) / 8
	xb, err1 := base64.RawURLEncoding.DecodeString(x)
	yb, err2 := base64.RawURLEncoding.DecodeString(y)
	if err1 != nil || err2 != nil || len(xb) != size || len(yb) != size {
		return nil, errors.New("bad EC coordinates")
	}
	// ParseUncompressedPublicKey checks that the point is on the curve (and
	// not the point at infinity).
	key, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, xb...), yb...))
	if err != nil {
		return nil, errors.New("EC point is not on the curve")
	}
	return key, nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err1 := base64.RawURLEncoding.DecodeString(n)
	eb, err2 := base64.RawURLEncoding.DecodeString(e)
	if err1 != nil || err2 != nil || len(nb) == 0 || len(eb) == 0 || len(eb) > 4 || nb[0] == 0 || eb[0] == 0 {
		return nil, errors.New("bad RSA modulus or exponent")
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(nb)}
	for _, c := range eb {
		key.E = key.E<<8 | int(c)
	}
	if key.N.BitLen() < minRSABits || key.N.BitLen() > 8192 {
		return nil, fmt.Errorf("RSA key of %d bits (want %d to 8192)", key.N.BitLen(), minRSABits)
	}
	if key.E < 3 || key.E%2 == 0 {
		return nil, errors.New("bad RSA exponent")
	}
	return key, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func thumbprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public JWK (the
// value a DPoP-bound token's cnf.jkt holds), for callers and tests that
// build tokens.
func Thumbprint(jwk json.RawMessage) (string, error) {
	var h struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
	}
	if err := json.Unmarshal(jwk, &h); err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	_, t, err := publicJWK(jwk, h.Kty, h.Crv)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return t, nil
}

// noDuplicateKeys refuses a JSON object with the same member twice at any
// depth: the signature covers the bytes, but parsers disagree on which
// duplicate wins.
func noDuplicateKeys(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > 32 {
			return errors.New("nested too deeply")
		}
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not JSON")
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return errors.New("not JSON")
				}
				key, _ := k.(string)
				if seen[key] {
					return fmt.Errorf("duplicate member %q", clip(key))
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return errors.New("not JSON")
		}
		return nil
	}
	return walk(0)
}
