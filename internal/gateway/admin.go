package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// serveAdmin lets gateway admins (a Descope admin role) into the admin pages.
// With an admin flow configured, the session must also show multi-factor
// authentication (amr contains "mfa"): otherwise the browser is sent through
// the admin flow.
func (h *handler) serveAdmin(w http.ResponseWriter, r *http.Request) {
	id, err := h.authenticate(w, r)
	if err != nil {
		h.authFailed(w, r, err)
		return
	}
	s := stateOf(r.Context())
	s.identity = id
	if !id.Admin {
		s.reason = event.ReasonNotAdmin
		s.record(event.AuthFailure{Method: id.Method, Reason: event.ReasonNotAdmin})
		if wantsJSON(r, h.opts.StaticPrefix) {
			writeJSONError(w, errForbidden("gateway admins only"))
			return
		}
		h.render(w, r, http.StatusForbidden, "error.html", map[string]any{
			"Prefix": h.opts.StaticPrefix, "Title": "Admins only",
			"Message": "This page is for MLflow gateway admins.", "RequestID": s.id,
		})
		return
	}
	if h.opts.AdminFlowID != "" && (id.Token == nil || !slices.Contains(id.Token.AMR, "mfa")) {
		s.reason = event.ReasonStepUpRequired
		if wantsJSON(r, h.opts.StaticPrefix) {
			writeJSONError(w, errForbidden("the admin pages need a sign-in with multi-factor authentication"))
			return
		}
		http.Redirect(w, r, h.opts.StaticPrefix+"/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	if !safeMethod(r.Method) && !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(id.Method, event.ReasonCrossSite, errors.New("cross-site admin request"), errForbidden("cross-site request refused")))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	h.opts.Admin.ServeHTTP(w, r)
}
