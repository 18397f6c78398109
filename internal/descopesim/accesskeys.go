package descopesim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// Access key statuses.
const (
	KeyActive   = "active"
	KeyInactive = "inactive"
)

// KeyTenant is an access key's tenant and its roles there.
type KeyTenant struct {
	TenantID  string   `json:"tenantId"`
	RoleNames []string `json:"roleNames,omitempty"`
}

// AccessKeyOptions describe an access key to create.
type AccessKeyOptions struct {
	// ID is the key ID; generated ("K2…") when empty.
	ID string `json:"id,omitempty"`
	// Secret is the cleartext the client presents; generated when empty.
	// Fixed secrets are for demos and seed files.
	Secret      string `json:"secret,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	BoundUserID string `json:"boundUserId,omitempty"`
	// Roles and KeyTenants go into exchanged JWTs. When both are empty and
	// BoundUserID is set, the bound user's roles and tenants are used.
	Roles      []string    `json:"roles,omitempty"`
	KeyTenants []KeyTenant `json:"keyTenants,omitempty"`
	// ExpireTime is when the key stops working; zero means never.
	ExpireTime time.Time `json:"-"`
	// CustomClaims are set at the top level of exchanged JWTs.
	CustomClaims map[string]any `json:"customClaims,omitempty"`
	// TTL is the lifetime of exchanged JWTs; DefaultAccessKeyTTL when zero.
	TTL time.Duration `json:"-"`
	// Alg signs exchanged JWTs: "RS256" (default) or "ES384".
	Alg string `json:"alg,omitempty"`
	// PermittedIPs (addresses or CIDR ranges) are reported in the key's
	// record. As in Descope they are not enforced at exchange, where the
	// caller is the gateway: the gateway enforces them.
	PermittedIPs []string `json:"permittedIps,omitempty"`
}

type accessKey struct {
	opts    AccessKeyOptions
	status  string
	created time.Time
}

// CreateAccessKey creates an active access key and returns its ID and the
// cleartext secret that POST /v1/auth/accesskey/exchange takes.
func (s *Server) CreateAccessKey(opts AccessKeyOptions) (keyID, secret string, err error) {
	k, err := s.createAccessKey(opts)
	if err != nil {
		return "", "", err
	}
	return k.opts.ID, k.opts.Secret, nil
}

func (s *Server) createAccessKey(opts AccessKeyOptions) (*accessKey, error) {
	opts.Roles = slices.Clone(opts.Roles)
	opts.PermittedIPs = slices.Clone(opts.PermittedIPs)
	opts.KeyTenants = slices.Clone(opts.KeyTenants)
	opts.CustomClaims = maps.Clone(opts.CustomClaims)
	if opts.Alg == "" {
		opts.Alg = AlgRS256
	}
	if opts.Alg != AlgES384 && opts.Alg != AlgRS256 {
		return nil, fmt.Errorf("descopesim: algorithm %q: %w", opts.Alg, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if opts.ID == "" {
		opts.ID = s.nextID("K")
	}
	if opts.Secret == "" {
		opts.Secret = newKeySecret()
	}
	if opts.Name == "" {
		opts.Name = opts.ID
	}
	for _, k := range s.accessKeys {
		if k.opts.ID == opts.ID || k.opts.Secret == opts.Secret {
			return nil, fmt.Errorf("descopesim: access key %q: %w", opts.ID, ErrConflict)
		}
	}
	k := &accessKey{opts: opts, status: KeyActive, created: s.clock().Add(s.offset)}
	s.accessKeys[opts.ID] = k
	for _, t := range opts.KeyTenants {
		s.noteTenantsLocked([]UserTenant{{ID: t.TenantID}})
	}
	return k, nil
}

// DeactivateAccessKey makes a key unusable for new exchanges. JWTs already
// issued for it stay valid until they expire, as with Descope.
func (s *Server) DeactivateAccessKey(id string) error { return s.setKeyStatus(id, KeyInactive) }

func (s *Server) setKeyStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.accessKeys[id]
	if !ok {
		return fmt.Errorf("descopesim: access key %q: %w", id, ErrNotFound)
	}
	k.status = status
	return nil
}

// RotateAccessKey gives a key a new secret; the old one stops working at
// once. ID, name, roles, tenants, expiry and the rest stay.
func (s *Server) RotateAccessKey(id string) (secret string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.accessKeys[id]
	if !ok {
		return "", fmt.Errorf("descopesim: access key %q: %w", id, ErrNotFound)
	}
	k.opts.Secret = newKeySecret()
	return k.opts.Secret, nil
}

func newKeySecret() string { return "K2" + randomString(40) }

// DeleteAccessKey removes a key. Returns ErrNotFound if there is none.
func (s *Server) DeleteAccessKey(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accessKeys[id]; !ok {
		return fmt.Errorf("descopesim: access key %q: %w", id, ErrNotFound)
	}
	delete(s.accessKeys, id)
	return nil
}

// exchangeAccessKey checks a cleartext secret and signs a session JWT for
// its key. nsec holds claims the caller asked for at exchange time.
func (s *Server) exchangeAccessKey(secret string, nsec map[string]any) (keyID, token string, exp time.Time, err error) {
	now := s.now()
	s.mu.Lock()
	var k *accessKey
	for _, c := range s.accessKeys {
		if c.opts.Secret == secret {
			k = c
			break
		}
	}
	if k == nil || k.status != KeyActive || (!k.opts.ExpireTime.IsZero() && !now.Before(k.opts.ExpireTime)) {
		s.mu.Unlock()
		return "", "", time.Time{}, errBadToken
	}
	claims := map[string]any{}
	if uid := k.opts.BoundUserID; uid != "" {
		u, ok := s.users[uid]
		if !ok || u.Status != StatusEnabled {
			s.mu.Unlock()
			return "", "", time.Time{}, errUserUnavailable
		}
		if len(k.opts.Roles) == 0 && len(k.opts.KeyTenants) == 0 {
			claims = s.userClaimsLocked(u, "")
			delete(claims, "dct")
		}
	}
	if len(k.opts.Roles) > 0 {
		claims["roles"] = slices.Clone(k.opts.Roles)
		if perms := s.permissionsLocked(k.opts.Roles); len(perms) > 0 {
			claims["permissions"] = perms
		}
	}
	if len(k.opts.KeyTenants) > 0 {
		ts := make([]UserTenant, 0, len(k.opts.KeyTenants))
		for _, t := range k.opts.KeyTenants {
			ts = append(ts, UserTenant{ID: t.TenantID, Roles: t.RoleNames})
		}
		claims["tenants"] = s.tenantClaimsLocked(ts)
	}
	opts := k.opts
	s.mu.Unlock()

	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultAccessKeyTTL
	}
	exp = now.Add(ttl)
	for name, v := range opts.CustomClaims {
		claims[name] = v
	}
	if len(nsec) > 0 {
		claims["nsec"] = nsec
	}
	claims["iss"] = s.Issuer()
	claims["sub"] = opts.ID
	if opts.BoundUserID != "" && s.accessKeySubject() == SubjectBoundUser {
		claims["sub"] = opts.BoundUserID
	}
	claims["iat"] = now.Unix()
	claims["exp"] = exp.Unix()
	token, err = s.sign(opts.Alg, claims)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return opts.ID, token, exp, nil
}

// wireKey is an access key on the management wire.
type wireKey struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	RoleNames    []string       `json:"roleNames"`
	KeyTenants   []wireTenant   `json:"keyTenants"`
	Status       string         `json:"status"`
	CreatedTime  int64          `json:"createdTime"`
	ExpireTime   int64          `json:"expireTime"`
	CreatedBy    string         `json:"createdBy"`
	ClientID     string         `json:"clientId"`
	BoundUserID  string         `json:"boundUserId"`
	CustomClaims map[string]any `json:"customClaims"`
	Description  string         `json:"description"`
	PermittedIPs []string       `json:"permittedIps"`
}

func (s *Server) keyToWireLocked(k *accessKey) wireKey {
	w := wireKey{
		ID:           k.opts.ID,
		Name:         k.opts.Name,
		RoleNames:    nonNil(k.opts.Roles),
		KeyTenants:   []wireTenant{},
		Status:       k.status,
		CreatedTime:  k.created.Unix(),
		BoundUserID:  k.opts.BoundUserID,
		CustomClaims: k.opts.CustomClaims,
		PermittedIPs: nonNil(k.opts.PermittedIPs),
		CreatedBy:    "descope-sim",
		Description:  k.opts.Description,
	}
	if !k.opts.ExpireTime.IsZero() {
		w.ExpireTime = k.opts.ExpireTime.Unix()
	}
	if w.CustomClaims == nil {
		w.CustomClaims = map[string]any{}
	}
	for _, t := range k.opts.KeyTenants {
		w.KeyTenants = append(w.KeyTenants, wireTenant{TenantID: t.TenantID, TenantName: s.tenants[t.TenantID].Name, RoleNames: nonNil(t.RoleNames)})
	}
	return w
}

// What the sub claim of an exchanged access-key JWT holds for a key bound
// to a user. Descope does not document it; the gateway accepts both.
const (
	SubjectKeyID     = "key"  // the key ID (default)
	SubjectBoundUser = "user" // the bound user's ID
)

func validKeySubject(v string) error {
	switch v {
	case "", SubjectKeyID, SubjectBoundUser:
		return nil
	}
	return fmt.Errorf("descopesim: access-key subject %q (want %s or %s): %w", v, SubjectKeyID, SubjectBoundUser, ErrInvalid)
}

// SetAccessKeySubject picks what sub holds in exchanged JWTs of bound keys
// from now on: SubjectKeyID or SubjectBoundUser.
func (s *Server) SetAccessKeySubject(v string) error {
	if err := validKeySubject(v); err != nil {
		return err
	}
	s.mu.Lock()
	s.keySubject = v
	s.mu.Unlock()
	return nil
}

func (s *Server) accessKeySubject() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keySubject == "" {
		return SubjectKeyID
	}
	return s.keySubject
}

func (s *Server) simSetKeySubject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Subject string `json:"subject"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.SetAccessKeySubject(req.Subject); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"subject": s.accessKeySubject()})
}
