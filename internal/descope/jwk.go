package descope

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Limits on what a JWKS answer may contain.
const (
	maxKeysPerSet = 64
	minRSABits    = 2048
	maxRSABits    = 8192
)

// allowedAlgs returns the only JWS algorithms ever accepted: asymmetric ones.
func allowedAlgs() []string {
	return []string{
		"RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512",
	}
}

// publicKey is one usable verification key from the project's JWKS.
type publicKey struct {
	kid string
	alg string // the one algorithm this key verifies
	key crypto.PublicKey
}

// rawJWK is the JSON form of one key (RFC 7517/7518), public parts only.
type rawJWK struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS decodes {"keys":[…]} and returns the usable keys by kid, plus one
// error per key that was skipped. It fails only if the document is not a key
// set or no key in it is usable.
func parseJWKS(body []byte) (map[string]*publicKey, []error, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("descope: decode key set: %w", err)
	}
	if len(doc.Keys) > maxKeysPerSet {
		return nil, nil, fmt.Errorf("descope: key set has %d keys, more than %d", len(doc.Keys), maxKeysPerSet)
	}
	keys := make(map[string]*publicKey, len(doc.Keys))
	var skipped []error
	for i, raw := range doc.Keys {
		var j rawJWK
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Errorf("descope: key %d: %w", i, err))
			continue
		}
		k, err := parseJWK(j)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("descope: key %d (kid %q): %w", i, j.Kid, err))
			continue
		}
		if _, dup := keys[k.kid]; dup {
			// Two keys with one kid: neither can be chosen safely.
			delete(keys, k.kid)
			skipped = append(skipped, fmt.Errorf("descope: key %d: duplicate kid %q", i, k.kid))
			continue
		}
		keys[k.kid] = k
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("descope: key set has no usable key")
	}
	return keys, skipped, nil
}

// parseJWK turns one JWK into a verification key.
//
// The JWK's alg decides the one algorithm the key may verify. A JWK without
// alg is accepted only for EC keys, where the curve names exactly one
// algorithm (P-256→ES256, P-384→ES384, P-521→ES512); an RSA JWK without alg
// is rejected, since RS* and PS* would both fit and guessing widens what an
// attacker may choose.
func parseJWK(j rawJWK) (*publicKey, error) {
	if j.Kid == "" {
		return nil, errors.New("missing kid")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	switch j.Kty {
	case "RSA":
		return parseRSAJWK(j)
	case "EC":
		return parseECJWK(j)
	default:
		return nil, fmt.Errorf("unsupported kty %q", j.Kty)
	}
}

func parseRSAJWK(j rawJWK) (*publicKey, error) {
	switch j.Alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
	case "":
		return nil, errors.New("RSA key without alg")
	default:
		return nil, fmt.Errorf("alg %q does not fit an RSA key", j.Alg)
	}
	n, err := decodeB64(j.N)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return nil, errors.New("bad modulus")
	}
	e, err := decodeB64(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return nil, errors.New("bad exponent")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("bad exponent")
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA key of %d bits", bits)
	}
	return &publicKey{kid: j.Kid, alg: j.Alg, key: &rsa.PublicKey{N: mod, E: exp}}, nil
}

func parseECJWK(j rawJWK) (*publicKey, error) {
	var curve elliptic.Curve
	var alg string
	switch j.Crv {
	case "P-256":
		curve, alg = elliptic.P256(), "ES256"
	case "P-384":
		curve, alg = elliptic.P384(), "ES384"
	case "P-521":
		curve, alg = elliptic.P521(), "ES512"
	default:
		return nil, fmt.Errorf("unsupported curve %q", j.Crv)
	}
	if j.Alg != "" && j.Alg != alg {
		return nil, fmt.Errorf("alg %q does not fit curve %s", j.Alg, j.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := decodeB64(j.X)
	y, errY := decodeB64(j.Y)
	if errX != nil || errY != nil || len(x) == 0 || len(y) == 0 || len(x) > size || len(y) > size {
		return nil, errors.New("bad coordinates")
	}
	// Uncompressed SEC 1 point; short coordinates are left-padded.
	point := make([]byte, 1+2*size)
	point[0] = 4
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("bad point: %w", err)
	}
	return &publicKey{kid: j.Kid, alg: alg, key: pub}, nil
}

// decodeB64 decodes unpadded base64url, tolerating padding.
func decodeB64(s string) ([]byte, error) {
	if n := len(s); n > 0 && s[n-1] == '=' {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
