package handoff

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// sealVersion is the first byte of a sealed result; a new format gets a new
// version rather than a guess.
const sealVersion = 1

// hkdfSalt separates these keys from any other use of the shared secret
// (the same secret signs identity assertions for MLflow).
const hkdfSalt = "mlflow-descope-auth refresh handoff v1"

// errOpen is returned by open for a result that does not decrypt.
var errOpen = errors.New("handoff: cannot open sealed result")

func deriveMaster(secret []byte) ([]byte, error) {
	prk, err := hkdf.Extract(sha256.New, secret, []byte(hkdfSalt))
	if err != nil {
		return nil, fmt.Errorf("handoff: derive key: %w", err)
	}
	return prk, nil
}

// aead returns the cipher for one refresh token's row. The key depends on
// the token itself, which the database never holds (only its hash).
func (s *Store) aead(refreshJWT string) (cipher.AEAD, error) {
	key, err := hkdf.Expand(sha256.New, s.master, refreshJWT, 32)
	if err != nil {
		return nil, fmt.Errorf("handoff: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("handoff: cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("handoff: cipher: %w", err)
	}
	return gcm, nil
}

type sealedTokens struct {
	Session string `json:"s"`
	Refresh string `json:"r"`
	Until   int64  `json:"u"` // Unix microseconds
}

// seal encrypts t for the row of refreshJWT (whose hash is key, bound in as
// additional data so a sealed value cannot be moved to another row).
func (s *Store) seal(refreshJWT, key string, t Tokens) ([]byte, error) {
	gcm, err := s.aead(refreshJWT)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(sealedTokens{Session: t.Session, Refresh: t.Refresh, Until: t.Until.UnixMicro()})
	if err != nil {
		return nil, fmt.Errorf("handoff: seal: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("handoff: seal: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plain)+gcm.Overhead())
	out = append(append(out, sealVersion), nonce...)
	return gcm.Seal(out, nonce, plain, []byte(key)), nil
}

// open decrypts what seal produced for the same refresh token. It returns
// an error wrapping errOpen for anything else.
func (s *Store) open(refreshJWT, key string, sealed []byte) (Tokens, error) {
	gcm, err := s.aead(refreshJWT)
	if err != nil {
		return Tokens{}, err
	}
	if len(sealed) < 1+gcm.NonceSize()+gcm.Overhead() || sealed[0] != sealVersion {
		return Tokens{}, fmt.Errorf("%w: unknown format", errOpen)
	}
	nonce, box := sealed[1:1+gcm.NonceSize()], sealed[1+gcm.NonceSize():]
	plain, err := gcm.Open(nil, nonce, box, []byte(key))
	if err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", errOpen, err)
	}
	var st sealedTokens
	if err := json.Unmarshal(plain, &st); err != nil || st.Session == "" || st.Refresh == "" {
		return Tokens{}, fmt.Errorf("%w: bad contents", errOpen)
	}
	return Tokens{Session: st.Session, Refresh: st.Refresh, Until: time.UnixMicro(st.Until)}, nil
}
