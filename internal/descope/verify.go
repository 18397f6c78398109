package descope

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/strictjson"
)

// Defaults for VerifierOptions.
const (
	DefaultLeeway        = 5 * time.Second
	DefaultMaxTokenBytes = 16 << 10
)

// VerifierOptions configures a Verifier. The project ID comes from the
// Keys' client.
type VerifierOptions struct {
	// Issuers, when set, pins the accepted iss values exactly (for example
	// "https://auth.example.com/P2abc"). When empty, iss must be the project
	// ID or an absolute http(s) URL, without query or fragment, ending in
	// "/<projectId>"; the host is then not pinned (the signature, made with
	// this project's keys, is what binds the token to the project).
	Issuers []string
	// Audiences are accepted aud values besides the project ID.
	Audiences []string
	// Leeway for exp, nbf and iat (default DefaultLeeway).
	Leeway time.Duration
	// MaxTokenBytes rejects longer tokens before parsing
	// (default DefaultMaxTokenBytes).
	MaxTokenBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CacheSize bounds the cache of verified tokens (default
	// DefaultCacheSize; negative disables it).
	CacheSize int
	// CookieNames are the drn values of session and refresh tokens
	// (default DS and DSR): a flow that renames Descope's cookies renames
	// the claim too, as Descope's Go SDK expects.
	CookieNames CookieNames
}

// Verifier checks Descope JWTs against the project's keys and the gateway's
// rules. It is safe for concurrent use.
type Verifier struct {
	keys      *Keys
	projectID string
	issuers   []string
	audiences []string
	maxBytes  int
	parser    *jwt.Parser
	now       func() time.Time
	cache     *tokenCache
	drn       CookieNames
}

// NewVerifier returns a Verifier using keys.
func NewVerifier(keys *Keys, opts VerifierOptions) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("descope: verifier: nil keys")
	}
	if opts.Leeway < 0 || opts.MaxTokenBytes < 0 {
		return nil, errors.New("descope: verifier: negative leeway or size limit")
	}
	if err := opts.CookieNames.Validate(); err != nil {
		return nil, fmt.Errorf("descope: verifier: %w", err)
	}
	for _, iss := range opts.Issuers {
		if iss == "" {
			return nil, errors.New("descope: verifier: empty issuer")
		}
	}
	for _, aud := range opts.Audiences {
		if aud == "" {
			return nil, errors.New("descope: verifier: empty audience")
		}
	}
	v := &Verifier{
		keys:      keys,
		projectID: keys.client.projectID,
		issuers:   slices.Clone(opts.Issuers),
		audiences: slices.Clone(opts.Audiences),
		maxBytes:  opts.MaxTokenBytes,
		drn:       opts.CookieNames.withDefaults(),
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	v.now = now
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	v.cache = newTokenCache(size)
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(allowedAlgs()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	)
	return v, nil
}

// Verify checks raw as a token of the given kind and returns its claims.
//
// Rules: size limit; signature by a key of the project's JWKS, with the
// algorithm that key declares (never none or HMAC); exp required; exp, nbf
// and iat within the leeway; iss (see VerifierOptions.Issuers); aud, when
// present, names the project or a configured audience; drn fits kind.
// An unknown kid forces one rate-limited JWKS refetch before rejection.
//
// A header or payload that repeats a member name at any depth is refused
// first, whatever the signature (ErrAmbiguous).
//
// Errors wrap exactly one of ErrMalformed, ErrAmbiguous, ErrSignature, ErrUnknownKey,
// ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrTokenKind or
// ErrKeysUnavailable (transient: answer "unavailable", not 401).
func (v *Verifier) Verify(ctx context.Context, raw string, kind Kind) (*Token, error) {
	if kind < KindSession || kind > KindAccessKey {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrTokenKind, int(kind))
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	if len(raw) > v.maxBytes {
		return nil, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrMalformed, len(raw), v.maxBytes)
	}
	ck := cacheKey{sum: sha256.Sum256([]byte(raw)), kind: kind}
	if tok, ok := v.cache.get(ck, v.now(), v.keys.cached); ok {
		return tok, nil
	}
	// Before anything reads a member: the key lookup reads the header's kid,
	// the parser keeps the last copy of a repeated claim.
	if err := unambiguous(raw); err != nil {
		return nil, err
	}
	claims := jwt.MapClaims{}
	var kid string
	var signer *publicKey
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		var kerr error
		kid, kerr = headerKID(t)
		if kerr != nil {
			return nil, kerr
		}
		pk, kerr := v.keys.lookup(ctx, kid)
		if kerr != nil {
			return nil, kerr
		}
		if alg := t.Method.Alg(); alg != pk.alg {
			return nil, fmt.Errorf("%w: token alg %s, key alg %s", ErrSignature, alg, pk.alg)
		}
		signer = pk
		return pk.key, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	tok, err := newToken(raw, kid, kind, claims)
	if err != nil {
		return nil, err
	}
	if !v.issuerOK(tok.Issuer) {
		return nil, fmt.Errorf("%w: %q", ErrIssuer, truncate(tok.Issuer, 128))
	}
	if !v.audienceOK(tok.Audience) {
		return nil, fmt.Errorf("%w: %q", ErrAudience, truncate(strings.Join(tok.Audience, ","), 128))
	}
	if err := v.kindOK(kind, claims); err != nil {
		return nil, err
	}
	v.cache.put(ck, tok, signer, v.now())
	return tok, nil
}

// CacheStats reports how often Verify was answered from its cache of
// verified tokens (all zero when the cache is disabled).
func (v *Verifier) CacheStats() CacheStats { return v.cache.stats() }

// Cached reports whether raw verified as kind before and still would,
// without any signature work: for callers that must shed load but keep
// serving credentials they already trust.
func (v *Verifier) Cached(raw string, kind Kind) bool {
	if len(raw) > v.maxBytes {
		return false
	}
	_, ok := v.cache.get(cacheKey{sum: sha256.Sum256([]byte(raw)), kind: kind}, v.now(), v.keys.cached)
	return ok
}

// unambiguous refuses a token whose header or payload is not one JSON
// value in UTF-8 naming each member once per object. It decodes the
// segments exactly as the parser does (unpadded base64url), so both see the
// same bytes.
func unambiguous(raw string) error {
	header, rest, ok1 := strings.Cut(raw, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	for _, seg := range []struct{ name, text string }{{"header", header}, {"payload", payload}} {
		data, err := base64.RawURLEncoding.DecodeString(seg.text)
		if err != nil {
			return fmt.Errorf("%w: %s is not base64url", ErrMalformed, seg.name)
		}
		if err := strictjson.Check(data, strictjson.Options{}); err != nil {
			if errors.Is(err, strictjson.ErrDuplicate) {
				return fmt.Errorf("%w: %s: %w", ErrAmbiguous, seg.name, err)
			}
			return fmt.Errorf("%w: %s: %w", ErrMalformed, seg.name, err)
		}
	}
	return nil
}

// headerKID checks the JOSE header beyond alg (which the parser has
// already limited to allowedAlgs).
func headerKID(t *jwt.Token) (string, error) {
	if _, ok := t.Header["crit"]; ok {
		// No critical extension is understood, so none may be required.
		return "", fmt.Errorf("%w: crit header", ErrMalformed)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return "", fmt.Errorf("%w: no kid", ErrMalformed)
	}
	if len(kid) > 256 {
		return "", fmt.Errorf("%w: kid too long", ErrMalformed)
	}
	return kid, nil
}

// classify maps a parser error to one of the package's sentinels.
func classify(err error) error {
	for _, s := range []error{ErrKeysUnavailable, ErrUnknownKey, ErrSignature, ErrAmbiguous, ErrMalformed} {
		if errors.Is(err, s) {
			return fmt.Errorf("descope: verify: %w", err)
		}
	}
	var s error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing),
		errors.Is(err, jwt.ErrInvalidType):
		s = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		s = ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		s = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		s = ErrNotYetValid
	default:
		s = ErrMalformed
	}
	return fmt.Errorf("%w: %w", s, err)
}

func (v *Verifier) issuerOK(iss string) bool {
	if iss == "" {
		return false
	}
	if len(v.issuers) > 0 {
		return slices.Contains(v.issuers, iss)
	}
	if iss == v.projectID {
		return true
	}
	if !strings.HasSuffix(iss, "/"+v.projectID) {
		return false
	}
	u, err := url.Parse(iss)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.User == nil && u.Opaque == "" && !u.ForceQuery && u.RawQuery == "" && u.Fragment == ""
}

func (v *Verifier) audienceOK(aud []string) bool {
	if len(aud) == 0 {
		return true // absent (an empty list names no recipient either)
	}
	for _, a := range aud {
		if a == v.projectID || slices.Contains(v.audiences, a) {
			return true
		}
	}
	return false
}

// kindOK checks drn against the kind asked for: the configured session or
// refresh name (DS and DSR by default). An access-key token needs none but
// must not be a refresh token.
func (v *Verifier) kindOK(kind Kind, c jwt.MapClaims) error {
	drn, ok := c["drn"].(string)
	if !ok && c["drn"] != nil {
		return fmt.Errorf("%w: claim drn is not a string", ErrMalformed)
	}
	switch {
	case kind == KindSession && drn == v.drn.Session,
		kind == KindRefresh && drn == v.drn.Refresh,
		kind == KindAccessKey && drn != v.drn.Refresh && drn != DefaultRefreshCookieName:
		return nil
	}
	if drn == "" {
		return fmt.Errorf("%w: want %s, token has no drn", ErrTokenKind, kind)
	}
	return fmt.Errorf("%w: want %s, token drn %q", ErrTokenKind, kind, truncate(drn, 16))
}
