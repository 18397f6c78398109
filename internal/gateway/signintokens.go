package gateway

import (
	"errors"
	"net/http"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Messages for sign-ins that cannot become sessions. They are shown on the
// login page as they are, so they say what to change in the Descope console
// (docs/descope-setup.md has the details).
const (
	msgNoTokens = "Descope handed this sign-in no session token: neither the web component's success event " +
		"nor a Descope cookie on this site carried one. If the project manages tokens in cookies " +
		"(Project Settings → Session Management), its custom domain must share a parent domain with this site, " +
		"or set the token response method to \"response body\"."
	msgNoRefreshToken = "Descope handed this sign-in no refresh token, so the session could not outlive its first " +
		"session token. The project keeps the refresh token in a cookie that does not reach this site: in the " +
		"Descope console set Project Settings → Session Management → refresh token response method to \"response body\", " +
		"or serve Descope from a custom domain under this site's parent domain."
	msgDPoPBound = "this Descope session is bound to a DPoP key (cnf.jkt) and cannot be kept in a browser cookie"
)

// signInTokens picks the tokens of a sign-in: those the web component's
// success event carried, else the ones in Descope's own cookies (a project
// that manages tokens in cookies sets them on its custom domain's parent,
// so the browser sends them here too). Each token is taken separately: a
// project may deliver the session token in the body and the refresh token
// in a cookie. source says where the refresh token came from.
func (h *handler) signInTokens(r *http.Request, sessionJWT, refreshJWT string) (string, string, string) {
	cookieSession, cookieRefresh := h.opts.DescopeCookies.FromRequest(r)
	if sessionJWT == "" {
		sessionJWT = cookieSession
	}
	source := "body"
	if refreshJWT == "" && cookieRefresh != "" {
		refreshJWT, source = cookieRefresh, "cookie"
	}
	return sessionJWT, refreshJWT, source
}

// refuseSignIn answers a sign-in that cannot become a session with a
// reason and a message for the page.
func (h *handler) refuseSignIn(w http.ResponseWriter, r *http.Request, reason event.Reason, msg string) {
	h.log.Warn("sign-in refused", "reason", reason, "request_id", stateOf(r.Context()).id)
	h.authFailed(w, r, h.failed(MethodCookie, reason, errors.New(string(reason)), errUnauthenticated(msg)))
}
