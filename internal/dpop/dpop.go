// Package dpop verifies DPoP proofs (RFC 9449) for sender-constrained
// tokens: a Descope token whose cnf.jkt names a key is valid only together
// with a proof, signed by that key, for this very request. The gateway must
// not accept such a token from someone who merely holds a copy of it.
package dpop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors Check returns. Every failure wraps ErrInvalid; the others narrow it.
var (
	// ErrInvalid: the proof is missing, malformed, badly signed, for another
	// request, too old or too new, or made with another key.
	ErrInvalid = errors.New("dpop: invalid proof")
	// ErrReplayed: the proof's jti was seen before within its lifetime.
	ErrReplayed = fmt.Errorf("%w: replayed", ErrInvalid)
	// ErrBusy: the replay cache is full of live entries, so a replay could
	// not be ruled out; refused rather than risked.
	ErrBusy = fmt.Errorf("%w: replay cache full", ErrInvalid)
	// ErrUnavailable: the shared replay cache could not be asked, so a
	// replay to another replica could not be ruled out. Not the proof's
	// fault: the request may be retried with a new proof.
	ErrUnavailable = errors.New("dpop: replay cache unavailable")
)

// Defaults for Options.
const (
	DefaultMaxAge     = 60 * time.Second
	DefaultLeeway     = 5 * time.Second
	DefaultMaxEntries = 100000
	maxProofBytes     = 8 << 10
	maxJTI            = 256
)

// Options configures a Checker.
type Options struct {
	// MaxAge is how old a proof's iat may be (default DefaultMaxAge).
	MaxAge time.Duration
	// Leeway is how far in the future iat may be (default DefaultLeeway).
	Leeway time.Duration
	// MaxEntries bounds the replay cache (default DefaultMaxEntries).
	MaxEntries int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Shared, if set, is asked after this process's own memory, so that
	// replicas refuse each other's proofs too (*Shared in the gateway's
	// database).
	Shared Store
}

// Store remembers proof keys across processes. Remember reports false for
// a key it holds and that has not expired.
type Store interface {
	Remember(ctx context.Context, key [32]byte, until, now time.Time) (bool, error)
}

// Checker verifies proofs and remembers the jti of every accepted one until
// it could no longer pass the iat check. It is safe for concurrent use. Its
// own replay cache is per process; Options.Shared extends it to replicas.
type Checker struct {
	opts Options

	mu    sync.Mutex
	seen  map[[32]byte]struct{}
	order []seenEntry // insertion order; expiries never decrease
}

type seenEntry struct {
	key [32]byte
	exp time.Time
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Leeway <= 0 {
		opts.Leeway = DefaultLeeway
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checker{opts: opts, seen: map[[32]byte]struct{}{}}
}

// Request is what a proof must match.
type Request struct {
	Method      string // the HTTP method
	URL         string // the absolute URL the client addressed (query and fragment are ignored)
	AccessToken string // the token presented with the proof
	JKT         string // the token's cnf.jkt
}

// Check verifies proof for req (RFC 9449 §4.3 and §7.1): one compact JWS
// with typ dpop+jwt, an asymmetric alg, and the public jwk it is signed
// with; htm and htu of this request; iat within MaxAge before and Leeway
// after now; a jti not seen before; ath, the hash of the access token; and
// the key's RFC 7638 thumbprint equal to the token's cnf.jkt. Errors wrap
// ErrInvalid, except ErrUnavailable.
func (c *Checker) Check(ctx context.Context, proof string, req Request) error {
	if req.JKT == "" {
		return fmt.Errorf("%w: the token names no key (cnf.jkt)", ErrInvalid)
	}
	p, err := Parse(proof)
	if err != nil {
		return err
	}
	if p.HTM != req.Method {
		return fmt.Errorf("%w: htm %q does not match %s", ErrInvalid, clip(p.HTM), req.Method)
	}
	if !SameURI(p.HTU, req.URL) {
		return fmt.Errorf("%w: htu does not match the request URL", ErrInvalid)
	}
	now := c.opts.Now()
	if p.IssuedAt.After(now.Add(c.opts.Leeway)) {
		return fmt.Errorf("%w: iat is in the future", ErrInvalid)
	}
	if !p.IssuedAt.After(now.Add(-c.opts.MaxAge)) {
		return fmt.Errorf("%w: iat is too old", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(req.AccessToken))
	if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
		return fmt.Errorf("%w: ath is not the hash of the access token", ErrInvalid)
	}
	if subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(req.JKT)) != 1 {
		return fmt.Errorf("%w: signed with another key than the token is bound to", ErrInvalid)
	}
	return c.remember(ctx, req.JKT, p.JTI, now)
}

// remember records jti (per key) and fails if it was seen before. Only
// proofs that passed every other check get here, so a flood of bad proofs
// cannot fill the cache.
func (c *Checker) remember(ctx context.Context, jkt, jti string, now time.Time) error {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var key [32]byte
	h.Sum(key[:0])
	// Any proof accepted now is too old once MaxAge+Leeway has passed.
	until := now.Add(c.opts.MaxAge + c.opts.Leeway)
	if err := c.rememberLocal(key, until, now); err != nil {
		return err
	}
	if c.opts.Shared == nil {
		return nil
	}
	// Remembered here first: a replay to this replica never waits for the
	// database, and one the database could not rule out stays refused here.
	fresh, err := c.opts.Shared.Remember(ctx, key, until, now)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !fresh {
		return fmt.Errorf("%w (by another replica)", ErrReplayed)
	}
	return nil
}

func (c *Checker) rememberLocal(key [32]byte, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && !now.Before(c.order[0].exp) {
		delete(c.seen, c.order[0].key)
		c.order = c.order[1:]
	}
	if _, ok := c.seen[key]; ok {
		return ErrReplayed
	}
	if len(c.seen) >= c.opts.MaxEntries {
		return ErrBusy
	}
	c.seen[key] = struct{}{}
	c.order = append(c.order, seenEntry{key: key, exp: until})
	return nil
}

// Len reports how many proofs are remembered.
func (c *Checker) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Proof is a DPoP proof whose signature has been verified with its own key.
type Proof struct {
	Alg        string
	Thumbprint string // RFC 7638 SHA-256 thumbprint of the jwk, base64url
	JTI        string
	HTM        string
	HTU        string
	IssuedAt   time.Time
	ATH        string
}

// allowedAlgs are the asymmetric algorithms a proof may use, with the key
// type each needs.
var allowedAlgs = map[string]string{
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "EC", "ES384": "EC", "ES512": "EC",
	"EdDSA": "OKP",
}

// curveOf is the curve each EC algorithm requires.
var curveOf = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// Parse checks a proof's form and signature (not its claims' values
// against a request). Errors wrap ErrInvalid.
func Parse(proof string) (*Proof, error) {
	if proof == "" {
		return nil, fmt.Errorf("%w: no DPoP proof", ErrInvalid)
	}
	if len(proof) > maxProofBytes {
		return nil, fmt.Errorf("%w: proof larger than %d bytes", ErrInvalid, maxProofBytes)
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	var hdr struct {
		Typ  string          `json:"typ"`
		Alg  string          `json:"alg"`
		JWK  json.RawMessage `json:"jwk"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalid, err)
	}
	if hdr.Typ != "dpop+jwt" {
		return nil, fmt.Errorf("%w: typ must be dpop+jwt", ErrInvalid)
	}
	if hdr.Crit != nil {
		return nil, fmt.Errorf("%w: crit header not understood", ErrInvalid)
	}
	kty, ok := allowedAlgs[hdr.Alg]
	if !ok {
		return nil, fmt.Errorf("%w: alg %q is not an allowed asymmetric algorithm", ErrInvalid, clip(hdr.Alg))
	}
	if len(hdr.JWK) == 0 {
		return nil, fmt.Errorf("%w: no jwk header", ErrInvalid)
	}
	key, thumb, err := publicJWK(hdr.JWK, kty, curveOf[hdr.Alg])
	if err != nil {
		return nil, fmt.Errorf("%w: jwk: %w", ErrInvalid, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrInvalid)
	}
	method := jwt.GetSigningMethod(hdr.Alg)
	if method == nil {
		return nil, fmt.Errorf("%w: alg %q", ErrInvalid, hdr.Alg)
	}
	if err := method.Verify(parts[0]+"."+parts[1], sig, key); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrInvalid, err)
	}
	var cl struct {
		JTI *string         `json:"jti"`
		HTM *string         `json:"htm"`
		HTU *string         `json:"htu"`
		IAT json.RawMessage `json:"iat"`
		ATH *string         `json:"ath"`
	}
	if err := decodeSegment(parts[1], &cl); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalid, err)
	}
	switch {
	case cl.JTI == nil || *cl.JTI == "" || len(*cl.JTI) > maxJTI:
		return nil, fmt.Errorf("%w: jti missing, empty or too long", ErrInvalid)
	case cl.HTM == nil || *cl.HTM == "":
		return nil, fmt.Errorf("%w: htm missing", ErrInvalid)
	case cl.HTU == nil || *cl.HTU == "":
		return nil, fmt.Errorf("%w: htu missing", ErrInvalid)
	case len(cl.IAT) == 0 || cl.IAT[0] < '0' || cl.IAT[0] > '9':
		return nil, fmt.Errorf("%w: iat missing or not a number", ErrInvalid)
	case cl.ATH == nil || *cl.ATH == "":
		return nil, fmt.Errorf("%w: ath missing (required with an access token)", ErrInvalid)
	}
	iat, err := json.Number(cl.IAT).Float64()
	if err != nil || math.IsNaN(iat) || iat < 0 || iat > 1<<40 {
		return nil, fmt.Errorf("%w: iat is not a time", ErrInvalid)
	}
	sec, frac := math.Modf(iat)
	return &Proof{
		Alg: hdr.Alg, Thumbprint: thumb,
		JTI: *cl.JTI, HTM: *cl.HTM, HTU: *cl.HTU, ATH: *cl.ATH,
		IssuedAt: time.Unix(int64(sec), int64(frac*1e9)),
	}, nil
}

// decodeSegment decodes one base64url JSON object, refusing padding,
// trailing data and duplicate member names (which JSON parsers resolve
// differently).
func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := noDuplicateKeys(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// SameURI compares htu with the request URL as RFC 9449 §4.3 asks: scheme
// and host case-insensitively, default ports dropped, paths after
// percent-encoding normalisation (RFC 3986 §6.2.2), query and fragment
// ignored. Both must be absolute http(s) URLs.
func SameURI(htu, requestURL string) bool {
	a, err := url.Parse(htu)
	if err != nil {
		return false
	}
	b, err := url.Parse(requestURL)
	if err != nil {
		return false
	}
	for _, u := range []*url.URL{a, b} {
		s := strings.ToLower(u.Scheme)
		if (s != "https" && s != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
			return false
		}
	}
	sa, sb := strings.ToLower(a.Scheme), strings.ToLower(b.Scheme)
	return sa == sb && normHost(a.Host, sa) == normHost(b.Host, sb) && normPath(a.EscapedPath()) == normPath(b.EscapedPath())
}

func normHost(h, scheme string) string {
	h = strings.ToLower(h)
	if host, port, err := net.SplitHostPort(h); err == nil && (scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return h
}

// normPath decodes percent-encoded unreserved characters and upper-cases
// the hex digits of the rest; an empty path is "/". Dot segments are left
// alone: such a path never matches the gateway's canonical request paths.
func normPath(p string) string {
	if p == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if unreserved(c) {
				b.WriteByte(c)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(p[i+1 : i+3]))
			}
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}
