package descopesim

import (
	_ "embed"
	"errors"
	"net/http"
	"strings"
)

//go:embed webcomponent.js
var webComponentJS []byte

// showWebComponent serves the stand-in descope-wc script, both at
// /sim/web-component.js and at the CDN path
// /npm/@descope/web-component@{version}/dist/index.js.
func (s *Server) showWebComponent(w http.ResponseWriter, r *http.Request) {
	if pkg := r.PathValue("pkg"); pkg != "" && pkg != "web-component" && !strings.HasPrefix(pkg, "web-component@") {
		writeError(w, http.StatusNotFound, codeNotFound, "Not found", "no such package in descope-sim")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	_, _ = w.Write(webComponentJS)
}

// setCORS lets the login page, on another origin, call the flow endpoint.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

// flowPreflight answers the CORS preflight for /sim/flow/*.
func (s *Server) flowPreflight(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	allow := "Content-Type, Authorization, x-descope-sdk-name, x-descope-sdk-version"
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		allow = req
	}
	h.Set("Access-Control-Allow-Headers", allow)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// flowSignIn serves POST /sim/flow/sign-in, the stand-in for a whole sign-in
// flow: it finds the user by login ID (creating it when AutoSignUp is on)
// and returns what the real component's success event carries.
func (s *Server) flowSignIn(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	if !s.originApproved(w, r) {
		return
	}
	var req struct {
		LoginID   string `json:"loginId"`
		ProjectID string `json:"projectId"`
		FlowID    string `json:"flowId"`
		Tenant    string `json:"tenant"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	req.LoginID = strings.TrimSpace(req.LoginID)
	if req.ProjectID != "" && req.ProjectID != s.projectID {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "unknown project id")
		return
	}
	if req.LoginID == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "login id is required")
		return
	}
	resp, ok := s.signInLoginID(w, req.LoginID, req.Tenant)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.deliverTokens(w, r, resp))
}

// signInLoginID completes a sign-in for a login ID: finds the user (creating
// it when AutoSignUp is on) and issues a session and a refresh token. On
// failure it writes the error answer and returns false.
func (s *Server) signInLoginID(w http.ResponseWriter, loginID, tenant string) (jwtResponse, bool) {
	u, err := s.UserByLoginID(loginID)
	firstSeen := false
	if errors.Is(err, ErrNotFound) && s.autoSignUp {
		nu := User{LoginIDs: []string{loginID}, Name: loginID}
		if local, _, ok := strings.Cut(loginID, "@"); ok {
			nu.Email, nu.Name = loginID, local
		}
		var created *User
		created, err = s.createUser(nu)
		if created != nil {
			u, firstSeen = *created, true
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusUnauthorized, codeNotFound, "User not found", "no user with this login id")
		return jwtResponse{}, false
	case err != nil:
		writeSimError(w, err)
		return jwtResponse{}, false
	case u.Status != StatusEnabled:
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "User is disabled", "this user cannot sign in")
		return jwtResponse{}, false
	}
	st := &refreshState{
		userID: u.ID, tenant: tenant, alg: AlgES384,
		amr: []string{"email"}, sessionTTL: s.flowSessionTTL,
	}
	p, err := s.issuePair(st, st.sessionTTL, s.now().Add(DefaultRefreshTTL))
	if err != nil {
		writeSimError(w, err)
		return jwtResponse{}, false
	}
	return s.jwtResponseFor(u.ID, p, firstSeen), true
}
