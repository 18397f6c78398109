package descopesim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// MintOptions shape the tokens MintSession issues.
type MintOptions struct {
	// ExtraClaims are set at the top level of the session JWT (as a JWT
	// template would) and kept for sessions refreshed from this pair. A nil
	// value deletes a claim the simulator would otherwise set (e.g. "amr").
	ExtraClaims map[string]any
	// SessionTTL is the session JWT lifetime; DefaultSessionTTL when zero.
	// Negative values issue an already-expired session.
	SessionTTL time.Duration
	// RefreshTTL is the refresh JWT lifetime; DefaultRefreshTTL when zero.
	RefreshTTL time.Duration
	// Tenant selects a tenant: it becomes the dct claim. When empty and the
	// user has exactly one tenant, dct is that tenant.
	Tenant string
	// Alg is "ES384" (default) or "RS256".
	Alg string
	// AMR is the login methods claim; ["email"] when nil.
	AMR []string
}

// refreshState is what the simulator remembers about an issued refresh JWT.
type refreshState struct {
	userID     string
	tenant     string
	extra      map[string]any
	alg        string
	amr        []string
	sessionTTL time.Duration
	expires    time.Time
	revoked    bool
}

// tokenPair is what sign-in, refresh and tenant selection return.
type tokenPair struct {
	session    string
	sessionExp time.Time
	refresh    string // empty when not (re)issued
	refreshExp time.Time
}

// MintSession issues a session and refresh JWT for userID, as a sign-in
// would. Returns ErrNotFound for an unknown user and ErrInvalid for a
// tenant the user does not belong to or an unknown algorithm.
func (s *Server) MintSession(userID string, opts MintOptions) (session, refresh string, err error) {
	st := &refreshState{
		userID:     userID,
		tenant:     opts.Tenant,
		extra:      maps.Clone(opts.ExtraClaims),
		alg:        opts.Alg,
		amr:        slices.Clone(opts.AMR),
		sessionTTL: opts.SessionTTL,
	}
	if st.alg == "" {
		st.alg = AlgES384
	}
	if st.alg != AlgES384 && st.alg != AlgRS256 {
		return "", "", fmt.Errorf("descopesim: algorithm %q: %w", st.alg, ErrInvalid)
	}
	if st.amr == nil {
		st.amr = []string{"email"}
	}
	if st.sessionTTL <= 0 {
		// A negative TTL makes only this first session expired; sessions
		// refreshed from the pair get the default lifetime.
		st.sessionTTL = DefaultSessionTTL
	}
	firstTTL := opts.SessionTTL
	if firstTTL == 0 {
		firstTTL = DefaultSessionTTL
	}
	refreshTTL := opts.RefreshTTL
	if refreshTTL == 0 {
		refreshTTL = DefaultRefreshTTL
	}
	p, err := s.issuePair(st, firstTTL, s.now().Add(refreshTTL))
	if err != nil {
		return "", "", err
	}
	return p.session, p.refresh, nil
}

// issuePair signs a new refresh JWT (expiring at refreshExp) and a session
// JWT (living sessionTTL) for st, and records the refresh JWT. st must not
// be shared yet.
func (s *Server) issuePair(st *refreshState, sessionTTL time.Duration, refreshExp time.Time) (tokenPair, error) {
	st.expires = refreshExp
	sess, sessExp, err := s.issueSession(st, sessionTTL)
	if err != nil {
		return tokenPair{}, err
	}
	now := s.now()
	s.mu.Lock()
	u, ok := s.users[st.userID]
	if !ok {
		s.mu.Unlock()
		return tokenPair{}, fmt.Errorf("descopesim: user %q: %w", st.userID, ErrNotFound)
	}
	claims := s.userClaimsLocked(u, st.tenant)
	s.mu.Unlock()
	claims["iss"] = s.Issuer()
	claims["sub"] = st.userID
	claims["iat"] = now.Unix()
	claims["exp"] = refreshExp.Unix()
	_, claims["drn"] = s.drnNames()
	claims["amr"] = st.amr
	refresh, err := s.sign(st.alg, claims)
	if err != nil {
		return tokenPair{}, err
	}
	s.mu.Lock()
	s.refresh[refresh] = st
	s.mu.Unlock()
	return tokenPair{session: sess, sessionExp: sessExp, refresh: refresh, refreshExp: refreshExp}, nil
}

// issueSession signs a session JWT for st that lives ttl. The fields of st
// it reads never change once st is recorded.
func (s *Server) issueSession(st *refreshState, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	s.mu.Lock()
	u, ok := s.users[st.userID]
	if !ok {
		s.mu.Unlock()
		return "", time.Time{}, fmt.Errorf("descopesim: user %q: %w", st.userID, ErrNotFound)
	}
	if st.tenant != "" && !slices.ContainsFunc(u.Tenants, func(t UserTenant) bool { return t.ID == st.tenant }) {
		s.mu.Unlock()
		return "", time.Time{}, fmt.Errorf("descopesim: user %q is not in tenant %q: %w", st.userID, st.tenant, ErrInvalid)
	}
	claims := s.userClaimsLocked(u, st.tenant)
	s.mu.Unlock()
	claims["iss"] = s.Issuer()
	claims["sub"] = st.userID
	claims["iat"] = now.Unix()
	claims["exp"] = exp.Unix()
	claims["drn"], _ = s.drnNames()
	claims["amr"] = st.amr
	for k, v := range st.extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok, err := s.sign(st.alg, claims)
	return tok, exp, err
}

// userClaimsLocked returns the authorization claims of u: roles,
// permissions, tenants and dct.
func (s *Server) userClaimsLocked(u *User, tenant string) map[string]any {
	c := map[string]any{}
	if len(u.Roles) > 0 {
		c["roles"] = slices.Clone(u.Roles)
		if perms := s.permissionsLocked(u.Roles); len(perms) > 0 {
			c["permissions"] = perms
		}
	}
	if len(u.Tenants) > 0 {
		c["tenants"] = s.tenantClaimsLocked(u.Tenants)
		if tenant == "" && len(u.Tenants) == 1 {
			tenant = u.Tenants[0].ID
		}
	}
	if tenant != "" {
		c["dct"] = tenant
	}
	return c
}

// tenantClaimsLocked renders {tenantId: {roles, permissions}}.
func (s *Server) tenantClaimsLocked(ts []UserTenant) map[string]any {
	out := map[string]any{}
	for _, t := range ts {
		inner := map[string]any{}
		if len(t.Roles) > 0 {
			inner["roles"] = slices.Clone(t.Roles)
			if perms := s.permissionsLocked(t.Roles); len(perms) > 0 {
				inner["permissions"] = perms
			}
		}
		out[t.ID] = inner
	}
	return out
}

// Errors from useRefresh, mapped to 401 responses by the handlers.
var (
	errRefreshUnknown  = errors.New("descopesim: refresh token unknown or revoked")
	errUserUnavailable = errors.New("descopesim: user deleted or disabled")
)

// useRefresh verifies a refresh JWT and returns a copy of its state; with
// consume it also revokes it, under the same lock (rotation).
func (s *Server) useRefresh(raw string, consume bool) (*refreshState, error) {
	claims, err := s.verify(raw)
	if err != nil {
		return nil, err
	}
	if drn, _ := claims["drn"].(string); drn != s.refreshDRN() {
		return nil, fmt.Errorf("%w: drn %q", errBadToken, drn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.refresh[raw]
	if !ok || st.revoked || !s.clock().Add(s.offset).Before(st.expires) {
		return nil, errRefreshUnknown
	}
	u, ok := s.users[st.userID]
	if !ok || u.Status != StatusEnabled {
		return nil, errUserUnavailable
	}
	c := st.copy()
	if consume {
		st.revoked = true
	}
	return c, nil
}

// RevokeRefresh revokes one refresh JWT, as /v1/auth/logout does.
// Returns ErrNotFound for a token the simulator never issued.
func (s *Server) RevokeRefresh(raw string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.refresh[raw]
	if !ok {
		return ErrNotFound
	}
	st.revoked = true
	return nil
}

// revokeAllLocked revokes every refresh JWT of a user.
func (s *Server) revokeAllLocked(userID string) {
	for _, st := range s.refresh {
		if st.userID == userID {
			st.revoked = true
		}
	}
}
