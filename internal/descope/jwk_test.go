package descope

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

func TestParseJWK(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t, "r", "RS256")
	ecKey := newECKey(t, "e", "ES384")
	ec256 := newECKey(t, "e2", "ES256")
	edit := func(k *testKey, f func(map[string]any)) rawJWK {
		m := k.jwk()
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var j rawJWK
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		jwk     rawJWK
		wantAlg string // "" means rejected
	}{
		{"rsa", edit(rsaKey, func(map[string]any) {}), "RS256"},
		{"rsa ps384 declared", edit(rsaKey, func(m map[string]any) { m["alg"] = "PS384" }), "PS384"},
		{"ec", edit(ecKey, func(map[string]any) {}), "ES384"},
		{"ec without alg infers from curve", edit(ec256, func(m map[string]any) { delete(m, "alg") }), "ES256"},
		{"ec without use", edit(ecKey, func(m map[string]any) { delete(m, "use") }), "ES384"},
		{"ec padded base64", edit(ec256, func(m map[string]any) {
			x, _ := decodeB64(m["x"].(string))
			m["x"] = base64.URLEncoding.EncodeToString(x)
		}), "ES256"},

		{"rsa without alg", edit(rsaKey, func(m map[string]any) { delete(m, "alg") }), ""},
		{"rsa with ec alg", edit(rsaKey, func(m map[string]any) { m["alg"] = "ES256" }), ""},
		{"rsa with hs256", edit(rsaKey, func(m map[string]any) { m["alg"] = "HS256" }), ""},
		{"rsa with none", edit(rsaKey, func(m map[string]any) { m["alg"] = "none" }), ""},
		{"ec alg does not fit curve", edit(ecKey, func(m map[string]any) { m["alg"] = "ES256" }), ""},
		{"use enc", edit(ecKey, func(m map[string]any) { m["use"] = "enc" }), ""},
		{"no kid", edit(ecKey, func(m map[string]any) { delete(m, "kid") }), ""},
		{"oct key", edit(ecKey, func(m map[string]any) { m["kty"] = "oct"; m["k"] = "c2VjcmV0" }), ""},
		{"unknown curve", edit(ecKey, func(m map[string]any) { m["crv"] = "secp256k1"; delete(m, "alg") }), ""},
		{"point not on curve", edit(ecKey, func(m map[string]any) { m["y"] = m["x"] }), ""},
		{"coordinate too long", edit(ec256, func(m map[string]any) { m["x"] = b64(make([]byte, 33)) }), ""},
		{"bad base64", edit(ecKey, func(m map[string]any) { m["x"] = "!!" }), ""},
		{"rsa 1024 bits", edit(rsaKey, func(m map[string]any) { m["n"] = b64(small.N.Bytes()) }), ""},
		{"rsa even exponent", edit(rsaKey, func(m map[string]any) { m["e"] = b64(big.NewInt(65536).Bytes()) }), ""},
		{"rsa exponent 1", edit(rsaKey, func(m map[string]any) { m["e"] = "AQ" }), ""},
		{"rsa empty modulus", edit(rsaKey, func(m map[string]any) { m["n"] = "" }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pk, err := parseJWK(tt.jwk)
			if tt.wantAlg == "" {
				if err == nil {
					t.Fatalf("parseJWK: got key with alg %s; want rejection", pk.alg)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWK: %v", err)
			}
			if pk.alg != tt.wantAlg {
				t.Errorf("alg: got %s; want %s", pk.alg, tt.wantAlg)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	a := newECKey(t, "a", "ES256")
	b := newECKey(t, "b", "ES256")
	dupe := newECKey(t, "a", "ES256")
	doc := func(keys ...map[string]any) []byte {
		out, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	bad := a.jwk()
	bad["kty"] = "oct"

	keys, skipped, err := parseJWKS(doc(a.jwk(), bad, b.jwk()))
	if err != nil || len(keys) != 2 || len(skipped) != 1 {
		t.Errorf("mixed set: got %d keys, %d skipped, err %v; want 2, 1, nil", len(keys), len(skipped), err)
	}
	keys, _, err = parseJWKS(doc(a.jwk(), dupe.jwk(), b.jwk()))
	if err != nil || len(keys) != 1 || keys["b"] == nil {
		t.Errorf("duplicate kid: got %d keys, err %v; want only b", len(keys), err)
	}
	for name, body := range map[string][]byte{
		"empty set":      doc(),
		"only bad keys":  doc(bad),
		"not json":       []byte("<html>"),
		"keys not array": []byte(`{"keys":{}}`),
		"too many keys":  []byte(`{"keys":[` + strings.Repeat(`{},`, maxKeysPerSet) + `{}]}`),
	} {
		if _, _, err := parseJWKS(body); err == nil {
			t.Errorf("parseJWKS(%s): got nil error", name)
		}
	}
}
