package descope

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Token verification failures. Verify wraps exactly one of these (with %w)
// so callers can branch with errors.Is and Reason can label metrics.
var (
	// ErrMalformed: not a compact JWS, oversized, undecodable, a required
	// claim (exp, subject) missing, or a known claim of the wrong type.
	ErrMalformed = errors.New("descope: malformed token")
	// ErrSignature: bad signature, or an algorithm that is not allowed
	// (none, HMAC, anything other than the alg the JWK declares).
	ErrSignature = errors.New("descope: invalid signature")
	// ErrUnknownKey: the token's kid is not in the key set, even after the
	// (rate-limited) refetch.
	ErrUnknownKey = errors.New("descope: unknown signing key")
	// ErrExpired: exp is in the past (beyond the leeway).
	ErrExpired = errors.New("descope: token expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("descope: token not yet valid")
	// ErrIssuer: iss is missing or is not this project.
	ErrIssuer = errors.New("descope: wrong issuer")
	// ErrAudience: aud is present and names neither the project nor a
	// configured audience.
	ErrAudience = errors.New("descope: wrong audience")
	// ErrTokenKind: drn does not match the kind asked for (a refresh token
	// presented as a session, for instance).
	ErrTokenKind = errors.New("descope: wrong token kind")
	// ErrAmbiguous: the header or payload repeats a member name at some
	// depth ({"roles":[],"roles":["admin"]}). Parsers disagree on which copy
	// counts, so no claim of such a token is used, however it is signed.
	ErrAmbiguous = errors.New("descope: ambiguous token")
	// ErrKeysUnavailable: no key set could be loaded from Descope. This is
	// transient: callers answer "unavailable", not "unauthenticated".
	ErrKeysUnavailable = errors.New("descope: signing keys unavailable")
)

// API call failures. Every error a Client method returns wraps one of these,
// except argument errors (ErrNoManagementKey, empty credentials).
var (
	// ErrRejected: Descope answered 4xx (other than 429). The credential is
	// bad; for Refresh and Me it means the session is over.
	ErrRejected = errors.New("descope: rejected")
	// ErrUnavailable: 5xx, 429, a timeout, a network error or an unreadable
	// answer. Transient: keep the tokens and fail the request as unavailable.
	ErrUnavailable = errors.New("descope: unavailable")
	// ErrNoManagementKey: a management call was made on a Client built
	// without a management key.
	ErrNoManagementKey = errors.New("descope: no management key configured")
)

// APIError is a non-2xx answer from Descope. It matches ErrRejected or
// ErrUnavailable with errors.Is, depending on Status.
type APIError struct {
	Status      int
	Code        string // errorCode, e.g. E130429
	Description string // errorDescription
	Message     string // errorMessage
	// RetryAfter is the server's Retry-After (429 and 503), zero if absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := "descope: api status " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " code " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is makes errors.Is(err, ErrRejected) and errors.Is(err, ErrUnavailable)
// work on an *APIError.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRejected:
		return !e.transient()
	case ErrUnavailable:
		return e.transient()
	}
	return false
}

func (e *APIError) transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status < 400 || e.Status >= 500
}

// RetryAfter returns the server-requested delay carried by err (from a 429
// or 503 Retry-After header), or zero.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// Reason returns a stable snake_case label for err, for metrics and audit
// events: one of malformed, ambiguous, signature, unknown_key, expired, not_yet_valid,
// issuer, audience, token_kind, keys_unavailable, rejected, rate_limited,
// unavailable, no_management_key, or "error" for anything else ("" for nil).
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var ae *APIError
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		return "keys_unavailable"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrSignature):
		return "signature"
	case errors.Is(err, ErrAmbiguous):
		return "ambiguous"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrIssuer):
		return "issuer"
	case errors.Is(err, ErrAudience):
		return "audience"
	case errors.Is(err, ErrTokenKind):
		return "token_kind"
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		return "rate_limited"
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrNoManagementKey):
		return "no_management_key"
	}
	return "error"
}

// unavailable wraps a transport-level failure so it matches ErrUnavailable
// and still exposes the cause (context.DeadlineExceeded, *url.Error…).
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// parseRetryAfter reads a Retry-After header: delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfterSeconds*time.Second)
		}
	}
	return 0
}

// maxRetryAfterSeconds caps a server's Retry-After (one day) so a broken
// header cannot park a caller forever.
const maxRetryAfterSeconds = 86400

// Descope's "user not found" error codes: E062108 from the auth API,
// E112102 from the management API (go-sdk ErrManagementUserNotFound).
const (
	CodeUserNotFound           = "E062108"
	CodeManagementUserNotFound = "E112102"
)

// IsUserNotFound reports whether err is Descope saying that the user does not
// exist: a 404, or a 400 with either "user not found" code. Other rejections
// (a bad management key, 401/403) are no proof that a user was deleted.
func IsUserNotFound(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Status == http.StatusNotFound {
		return true
	}
	return ae.Status == http.StatusBadRequest && (ae.Code == CodeUserNotFound || ae.Code == CodeManagementUserNotFound)
}
