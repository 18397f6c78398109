package descopesim

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"
)

// jwtResponse is the body of refresh, tenant selection and sign-in.
type jwtResponse struct {
	SessionJwt        string    `json:"sessionJwt"`
	RefreshJwt        string    `json:"refreshJwt,omitempty"`
	CookieDomain      string    `json:"cookieDomain"`
	CookiePath        string    `json:"cookiePath"`
	CookieMaxAge      int64     `json:"cookieMaxAge"`
	CookieExpiration  int64     `json:"cookieExpiration"`
	SessionExpiration int64     `json:"sessionExpiration"`
	User              *wireUser `json:"user,omitempty"`
	FirstSeen         bool      `json:"firstSeen"`
}

// jwtResponseFor renders p for userID.
func (s *Server) jwtResponseFor(userID string, p tokenPair, firstSeen bool) jwtResponse {
	now := s.now()
	resp := jwtResponse{
		SessionJwt:        p.session,
		RefreshJwt:        p.refresh,
		CookiePath:        "/",
		CookieMaxAge:      int64(p.refreshExp.Sub(now) / time.Second),
		CookieExpiration:  p.refreshExp.Unix(),
		SessionExpiration: p.sessionExp.Unix(),
		FirstSeen:         firstSeen,
	}
	s.mu.Lock()
	if u, ok := s.users[userID]; ok {
		wu := s.toWireLocked(u)
		resp.User = &wu
	}
	s.mu.Unlock()
	return resp
}

// refreshFor authenticates an auth call by its refresh JWT, writing a 401 on
// failure. With consume, the refresh JWT is revoked in the same step: of
// concurrent calls with one token, exactly one succeeds.
func (s *Server) refreshFor(w http.ResponseWriter, r *http.Request, consume bool) (*refreshState, string, bool) {
	secret, ok := s.authSecret(w, r)
	if !ok {
		return nil, "", false
	}
	st, err := s.useRefresh(secret, consume)
	if err != nil {
		msg := "refresh token is invalid, expired or revoked"
		if errors.Is(err, errUserUnavailable) {
			msg = "user is disabled or deleted"
		}
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", msg)
		return nil, "", false
	}
	return st, secret, true
}

// refreshSession serves POST /v1/auth/refresh. With rotation on, a refresh
// JWT works once: a second refresh with it, even at the same moment, is
// refused.
func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rotate := s.rotation
	s.mu.Unlock()
	st, raw, ok := s.refreshFor(w, r, rotate)
	if !ok {
		return
	}
	var (
		p   tokenPair
		err error
	)
	if rotate {
		next := st.copy()
		p, err = s.issuePair(next, next.sessionTTL, st.expires)
	} else {
		p.session, p.sessionExp, err = s.issueSession(st, st.sessionTTL)
		p.refreshExp = st.expires
		if s.TokenDelivery().Mode != DeliveryBody {
			// Cookie mode sets the (unchanged) refresh cookie again.
			p.refresh = raw
		}
	}
	if err != nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "cannot refresh this session")
		return
	}
	writeJSON(w, http.StatusOK, s.deliverTokens(w, r, s.jwtResponseFor(st.userID, p, false)))
}

func (st *refreshState) copy() *refreshState {
	c := *st
	c.extra = maps.Clone(st.extra)
	c.amr = slices.Clone(st.amr)
	c.revoked = false
	return &c
}

// logout serves POST /v1/auth/logout (all false: it revokes the refresh
// JWT used) and POST /v1/auth/logoutall (all true: every refresh JWT of the
// user).
func (s *Server) logout(all bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := s.authSecret(w, r)
		if !ok {
			return
		}
		if _, err := s.verify(raw); err != nil {
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "refresh token is invalid")
			return
		}
		s.mu.Lock()
		st, found := s.refresh[raw]
		valid := found && !st.revoked
		switch {
		case valid && all:
			s.revokeAllLocked(st.userID)
		case valid:
			st.revoked = true
		}
		s.mu.Unlock()
		if !valid {
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "refresh token is invalid or revoked")
			return
		}
		writeJSON(w, http.StatusOK, jwtResponse{CookiePath: "/"}) // token fields empty
	}
}

// showMe serves GET /v1/auth/me.
func (s *Server) showMe(w http.ResponseWriter, r *http.Request) {
	st, _, ok := s.refreshFor(w, r, false)
	if !ok {
		return
	}
	s.mu.Lock()
	u, found := s.users[st.userID]
	var wu wireUser
	if found {
		wu = s.toWireLocked(u)
	}
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "user is deleted")
		return
	}
	writeJSON(w, http.StatusOK, wu)
}

// selectTenant serves POST /v1/auth/tenant/select {"tenant": "T…"}.
func (s *Server) selectTenant(w http.ResponseWriter, r *http.Request) {
	st, raw, ok := s.refreshFor(w, r, false)
	if !ok {
		return
	}
	var req struct {
		Tenant string `json:"tenant"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	next := st.copy()
	next.tenant = req.Tenant
	p, err := s.issuePair(next, next.sessionTTL, st.expires)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "user is not a member of this tenant")
		return
	}
	s.mu.Lock()
	rotate := s.rotation
	s.mu.Unlock()
	if rotate {
		_ = s.RevokeRefresh(raw)
	}
	writeJSON(w, http.StatusOK, s.deliverTokens(w, r, s.jwtResponseFor(st.userID, p, false)))
}

// exchangeKey serves POST /v1/auth/accesskey/exchange.
func (s *Server) exchangeKey(w http.ResponseWriter, r *http.Request) {
	secret, ok := s.authSecret(w, r)
	if !ok {
		return
	}
	var req struct {
		LoginOptions struct {
			CustomClaims map[string]any `json:"customClaims"`
		} `json:"loginOptions"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	keyID, tok, exp, err := s.exchangeAccessKey(secret, req.LoginOptions.CustomClaims)
	if err != nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "access key is invalid, inactive or expired")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keyId": keyID, "sessionJwt": tok, "expiration": exp.Unix()})
}

// showKeys serves GET /v2/keys/{projectId}.
func (s *Server) showKeys(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("projectId") != s.projectID {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "unknown project")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.jwks()})
}
