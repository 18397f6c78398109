package descopesim

import (
	"net/http"
	"slices"
	"strings"
)

// codeOriginNotApproved is the simulator's answer to a flow call from an
// origin the project has not approved. Real Descope refuses such calls too
// (Project Settings → Approved Domains); its exact code and whether it also
// refuses the CORS preflight are not verified here.
const codeOriginNotApproved = "E011403"

// SetApprovedOrigins makes the flow API (/v1/flow/*, /sim/flow/sign-in)
// accept calls only from these origins (scheme://host[:port]), as a Descope
// project with approved domains does. No origins: every origin is accepted
// (the default).
func (s *Server) SetApprovedOrigins(origins ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approvedOrigins = nil
	for _, o := range origins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			s.approvedOrigins = append(s.approvedOrigins, o)
		}
	}
}

// originApproved answers a flow call from an origin the project has not
// approved, and reports whether the call may go on.
func (s *Server) originApproved(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	approved := slices.Clone(s.approvedOrigins)
	s.mu.Unlock()
	if len(approved) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if slices.Contains(approved, origin) {
		return true
	}
	writeError(w, http.StatusForbidden, codeOriginNotApproved, "Origin is not an approved domain",
		"the origin "+origin+" is not in the project's approved domains")
	return false
}

// simSetApprovedOrigins serves PUT /sim/approved-origins {"origins": [...]}.
func (s *Server) simSetApprovedOrigins(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Origins []string `json:"origins"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.SetApprovedOrigins(req.Origins...)
	s.mu.Lock()
	out := slices.Clone(s.approvedOrigins)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"origins": out})
}
