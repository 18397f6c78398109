// Package assertion signs and verifies the short-lived identity assertion the
// gateway sends to MLflow: the only credential MLflow ever sees.
//
// Wire format (mirrored by python/mlflow_descope_auth/assertion.py):
//
//	v1.<base64url(payload)>.<base64url(HMAC-SHA256(secret, "v1." + base64url(payload)))>
//
// payload is compact JSON {"sub": username, "iat": unix, "exp": unix, "rid": request id}.
// base64url is unpadded. The MAC covers the version prefix so a future format
// cannot be confused with this one.
package assertion

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Header is the request header that carries the assertion to MLflow. Any
// client-sent copy is removed by the gateway in every spelling.
const Header = "X-Mlflow-Descope-Assertion"

// MinSecretLen is the shortest shared secret accepted, in bytes.
const MinSecretLen = 32

const version = "v1"

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("assertion: malformed")
	ErrSignature = errors.New("assertion: bad signature")
	ErrExpired   = errors.New("assertion: expired")
)

// Claims is what an assertion says.
type Claims struct {
	Subject   string `json:"sub"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	RequestID string `json:"rid,omitempty"`
}

// Signer mints assertions with one shared secret.
type Signer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewSigner returns a Signer. ttl bounds how long a captured assertion is
// useful; it only has to cover the time between the gateway sending a request
// and MLflow reading its headers.
func NewSigner(secret []byte, ttl time.Duration, now func() time.Time) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("assertion: secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	if ttl <= 0 {
		return nil, errors.New("assertion: ttl must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{secret: append([]byte(nil), secret...), ttl: ttl, now: now}, nil
}

// Sign returns an assertion naming subject.
func (s *Signer) Sign(subject, requestID string) (string, error) {
	if subject == "" {
		return "", errors.New("assertion: empty subject")
	}
	now := s.now()
	payload, err := json.Marshal(Claims{
		Subject:   subject,
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(s.ttl).Unix(),
		RequestID: requestID,
	})
	if err != nil {
		return "", fmt.Errorf("assertion: encode: %w", err)
	}
	signed := version + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(s.secret, signed)), nil
}

// Verify checks an assertion's signature and expiry and returns its claims.
// It returns ErrMalformed, ErrSignature or ErrExpired.
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != version {
		return Claims{}, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return Claims{}, ErrSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Subject == "" || c.ExpiresAt == 0 {
		return Claims{}, ErrMalformed
	}
	if now.Unix() >= c.ExpiresAt {
		return Claims{}, ErrExpired
	}
	return c, nil
}

func mac(secret []byte, msg string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
