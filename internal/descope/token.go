package descope

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kind is the kind of token a caller expects.
type Kind int

// Token kinds.
const (
	// KindSession is a user session token: drn must be "DS".
	KindSession Kind = iota + 1
	// KindRefresh is a refresh token: drn must be "DSR".
	KindRefresh
	// KindAccessKey is a session token from an access-key exchange: drn is
	// not required, but a refresh token ("DSR") is refused.
	KindAccessKey
)

func (k Kind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindRefresh:
		return "refresh"
	case KindAccessKey:
		return "access_key"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// TenantClaims are a user's roles and permissions in one tenant.
type TenantClaims struct {
	Roles       []string
	Permissions []string
}

// Token is a verified Descope JWT. Raw is the token itself: it never prints
// (String and LogValue show a fingerprint instead).
type Token struct {
	Raw      string
	Kind     Kind
	KeyID    string // kid of the signing key
	Subject  string // dsub if present, else sub (the key ID for access keys)
	Issuer   string
	Audience []string
	Expiry   time.Time
	IssuedAt time.Time // zero if absent
	AMR      []string  // login methods: email, oauth, fed, webauthn, mfa…
	// Roles and Permissions are the top-level claims. Which scope they
	// belong to depends on the token's shape: use ProjectRoles/TenantRoles.
	Roles       []string
	Permissions []string
	// Tenants is the tenants claim; nil when the claim is absent.
	Tenants       map[string]TenantClaims
	CurrentTenant string // dct
	// JKT is the cnf.jkt claim: the SHA-256 thumbprint of the key a
	// DPoP-bound token belongs to. Such a token is only valid together with
	// a DPoP proof signed by that key (RFC 9449). "" for ordinary tokens.
	JKT string
	// Claims holds every claim, custom ones included.
	Claims map[string]any
}

// Fingerprint is a short SHA-256 prefix of Raw, safe to log.
func (t Token) Fingerprint() string {
	sum := sha256.Sum256([]byte(t.Raw))
	return hex.EncodeToString(sum[:8])
}

// LogValue logs who and what, never the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subject", t.Subject),
		slog.String("kind", t.Kind.String()),
		slog.String("kid", t.KeyID),
		slog.String("fingerprint", t.Fingerprint()),
		slog.Time("expiry", t.Expiry),
	)
}

func (t Token) String() string {
	return fmt.Sprintf("descope.Token{kind:%s subject:%s fingerprint:%s}", t.Kind, t.Subject, t.Fingerprint())
}

// GoString redacts %#v as well.
func (t Token) GoString() string { return t.String() }

// separateTenantShape reports the JWT-template shape: dct set and no
// tenants claim, so the top-level roles are the current tenant's.
func (t *Token) separateTenantShape() bool {
	return t.Tenants == nil && t.CurrentTenant != ""
}

// ProjectRoles returns the project-level roles under either token shape
// (none in the dct-without-tenants shape).
func (t *Token) ProjectRoles() []string {
	if t.separateTenantShape() {
		return nil
	}
	return t.Roles
}

// ProjectPermissions is ProjectRoles for permissions.
func (t *Token) ProjectPermissions() []string {
	if t.separateTenantShape() {
		return nil
	}
	return t.Permissions
}

// TenantRoles returns roles by tenant ID under either token shape: the
// tenants claim, or {dct: top-level roles} when tenants is absent.
func (t *Token) TenantRoles() map[string][]string {
	return t.byTenant(func(tc TenantClaims) []string { return tc.Roles }, t.Roles)
}

// TenantPermissions is TenantRoles for permissions.
func (t *Token) TenantPermissions() map[string][]string {
	return t.byTenant(func(tc TenantClaims) []string { return tc.Permissions }, t.Permissions)
}

func (t *Token) byTenant(pick func(TenantClaims) []string, top []string) map[string][]string {
	if t.separateTenantShape() {
		return map[string][]string{t.CurrentTenant: top}
	}
	m := make(map[string][]string, len(t.Tenants))
	for id, tc := range t.Tenants {
		m[id] = pick(tc)
	}
	return m
}

// newToken builds a Token from verified claims. It fails with ErrMalformed
// when a known claim has the wrong type or the subject is missing.
func newToken(raw, kid string, kind Kind, c jwt.MapClaims) (*Token, error) {
	t := &Token{Raw: raw, Kind: kind, KeyID: kid, Claims: c}
	var err error
	str := func(name string) string {
		v, ok := c[name]
		if !ok || v == nil || err != nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			err = fmt.Errorf("%w: claim %s is not a string", ErrMalformed, name)
		}
		return s
	}
	list := func(m map[string]any, name string) []string {
		if err != nil {
			return nil
		}
		var l []string
		l, err = stringList(m, name)
		return l
	}
	t.Subject = str("dsub")
	if t.Subject == "" {
		t.Subject = str("sub")
	}
	t.Issuer = str("iss")
	t.CurrentTenant = str("dct")
	t.AMR = list(c, "amr")
	t.Roles = list(c, "roles")
	t.Permissions = list(c, "permissions")
	if err != nil {
		return nil, err
	}
	if t.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrMalformed)
	}
	if t.Tenants, err = tenantClaims(c); err != nil {
		return nil, err
	}
	if t.JKT, err = confirmationJKT(c); err != nil {
		return nil, err
	}
	if aud, aerr := c.GetAudience(); aerr == nil {
		t.Audience = aud
	} else {
		return nil, fmt.Errorf("%w: claim aud: %w", ErrMalformed, aerr)
	}
	if exp, _ := c.GetExpirationTime(); exp != nil {
		t.Expiry = exp.Time
	}
	if iat, _ := c.GetIssuedAt(); iat != nil {
		t.IssuedAt = iat.Time
	}
	return t, nil
}

// confirmationJKT reads cnf.jkt (RFC 9449 §6.1). A cnf claim of another
// shape, or one that binds the token some other way (x5t#S256, jwk…), is
// malformed here: a sender-constrained token is never taken as a bearer one.
func confirmationJKT(c map[string]any) (string, error) {
	v, ok := c["cnf"]
	if !ok || v == nil {
		return "", nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("%w: claim cnf is not an object", ErrMalformed)
	}
	jkt, ok := m["jkt"].(string)
	if !ok || jkt == "" || len(jkt) > 128 {
		return "", fmt.Errorf("%w: claim cnf has no usable jkt (only DPoP-bound tokens are understood)", ErrMalformed)
	}
	return jkt, nil
}

func tenantClaims(c map[string]any) (map[string]TenantClaims, error) {
	v, ok := c["tenants"]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: claim tenants is not an object", ErrMalformed)
	}
	out := make(map[string]TenantClaims, len(m))
	for id, inner := range m {
		if id == "" {
			return nil, fmt.Errorf("%w: claim tenants has an empty tenant id", ErrMalformed)
		}
		var tc TenantClaims
		if inner != nil {
			im, ok := inner.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: claim tenants.%s is not an object", ErrMalformed, id)
			}
			var err error
			if tc.Roles, err = stringList(im, "roles"); err != nil {
				return nil, err
			}
			if tc.Permissions, err = stringList(im, "permissions"); err != nil {
				return nil, err
			}
		}
		out[id] = tc
	}
	return out, nil
}

// stringList reads an optional array-of-strings claim.
func stringList(m map[string]any, name string) ([]string, error) {
	v, ok := m[name]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: claim %s is not an array", ErrMalformed, name)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: claim %s holds a non-string", ErrMalformed, name)
		}
		out = append(out, s)
	}
	return out, nil
}
