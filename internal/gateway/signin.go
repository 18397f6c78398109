package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

// loginCSP allows exactly what the Descope web component needs for this
// configuration (web.LoginCSP) and nothing else.
func (h *handler) loginCSP() string {
	return web.LoginCSP(web.CSPOptions{
		APIBase:      h.opts.DescopeBaseURL,
		ComponentURL: h.opts.WebComponentURL,
		StaticURL:    h.opts.BaseStaticURL,
		CDNURL:       h.opts.BaseCDNURL,
		Extras:       h.opts.LoginCSPExtras,
	})
}

// showLogin renders the page with <descope-wc>.
func (h *handler) showLogin(w http.ResponseWriter, r *http.Request) {
	next := session.SafeRedirect(r.URL.Query().Get("next"), h.opts.RedirectURL)
	w.Header().Set("Content-Security-Policy", h.loginCSP())
	h.render(w, r, http.StatusOK, "login.html", map[string]any{
		"Title":         h.opts.LoginTitle,
		"Prefix":        h.opts.StaticPrefix,
		"ComponentURL":  h.opts.WebComponentURL,
		"ProjectID":     h.opts.ProjectID,
		"FlowID":        h.flowFor(next),
		"BaseURL":       h.opts.DescopeBaseURL,
		"BaseStaticURL": h.opts.BaseStaticURL,
		"BaseCDNURL":    h.opts.BaseCDNURL,
		"RedirectURL":   h.originFor(r) + h.opts.StaticPrefix + "/auth/login?next=" + url.QueryEscape(next),
		"Next":          next,
	})
}

// flowFor picks the flow: the admin flow (e.g. one that requires MFA) for the
// admin pages when one is configured.
func (h *handler) flowFor(next string) string {
	if h.opts.AdminFlowID != "" && strings.HasPrefix(next, h.opts.StaticPrefix+"/auth/admin") {
		return h.opts.AdminFlowID
	}
	return h.opts.FlowID
}

// maxCookieToken leaves room for the cookie's name and attributes within the
// 4096 bytes browsers keep per cookie.
const maxCookieToken = 3900

type sessionRequest struct {
	SessionJWT string `json:"sessionJwt"`
	RefreshJWT string `json:"refreshJwt"`
	Next       string `json:"next"`
}

// createSession receives the JWTs from the login page, validates them and
// moves them into HttpOnly cookies.
func (h *handler) createSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonCrossOrigin, errors.New("cross-origin sign-in post"), errForbidden("cross-origin request refused")))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, errBadRequest("expected application/json"))
		return
	}
	ip := stateOf(ctx).clientIP.String()
	if ok, wait := h.opts.Limits.SignInPerIP.Allow(ip); !ok {
		stateOf(ctx).reason = event.ReasonRateLimited
		writeJSONError(w, errTooMany(wait))
		return
	}
	var req sessionRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		writeJSONError(w, errBadRequest("malformed sign-in request"))
		return
	}
	// The component's event carries the tokens unless the project manages
	// them in cookies; then Descope's cookies came with this request.
	var refreshFrom string
	req.SessionJWT, req.RefreshJWT, refreshFrom = h.signInTokens(r, req.SessionJWT, req.RefreshJWT)
	if req.SessionJWT == "" {
		h.refuseSignIn(w, r, event.ReasonNoSessionToken, msgNoTokens)
		return
	}
	if h.opts.Sessions.IsRevoked(req.SessionJWT) || h.opts.Sessions.IsRevoked(req.RefreshJWT) {
		// Descope's cookies outlive a sign-out here: they must not sign
		// the browser straight back in.
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonSignedOut, errors.New("tokens of a signed-out session"), errUnauthenticated("this session was signed out; sign in again")))
		return
	}
	tok, err := h.opts.Verifier.Verify(ctx, req.SessionJWT, descope.KindSession)
	if err != nil {
		h.authFailed(w, r, h.failed(MethodCookie, event.Reason(descope.Reason(err)), err, errUnauthenticated("the session token was not accepted")))
		return
	}
	if tok.JKT != "" {
		h.refuseSignIn(w, r, event.ReasonDPoPBound, msgDPoPBound)
		return
	}
	// Before any further work for this user (the refresh token, Descope's
	// /me): a user over the limit costs nothing more.
	if ok, wait := h.opts.Limits.SignInPerUser.Allow(tok.Subject); !ok {
		stateOf(ctx).reason = event.ReasonRateLimited
		writeJSONError(w, errTooMany(wait))
		return
	}
	// Browsers drop cookies over about 4 KB without a word, which would send
	// the user round the sign-in loop forever: say so instead.
	if len(req.SessionJWT) > maxCookieToken || len(req.RefreshJWT) > maxCookieToken {
		writeJSONError(w, errBadRequest("the Descope session token is too large to keep in a cookie; reduce the claims or tenants in the project's JWT template"))
		return
	}
	// Without a refresh token the session would silently end with this
	// session JWT (minutes): refuse, and say what to change.
	if req.RefreshJWT == "" {
		h.refuseSignIn(w, r, event.ReasonNoRefreshToken, msgNoRefreshToken)
		return
	}
	rt, err := h.opts.Verifier.Verify(ctx, req.RefreshJWT, descope.KindRefresh)
	if err != nil {
		h.authFailed(w, r, h.failed(MethodCookie, event.Reason("refresh_"+descope.Reason(err)), err, errUnauthenticated("the refresh token was not accepted")))
		return
	}
	if rt.Subject != tok.Subject {
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonTokenMismatch, errors.New("session and refresh tokens name different users"), errUnauthenticated("the tokens do not belong together")))
		return
	}
	if rt.JKT != "" {
		h.refuseSignIn(w, r, event.ReasonDPoPBound, msgDPoPBound)
		return
	}
	until := rt.Expiry
	var meErr error
	// Readable names are not in the session JWT by default: ask once. A
	// refusal means the refresh token is dead (revoked at a sign-out
	// elsewhere, say), which matters most for one read from a cookie.
	if u, err := h.opts.Descope.Me(ctx, req.RefreshJWT); err == nil {
		p := profile{Email: u.Email, Name: u.Name}
		if len(u.LoginIDs) > 0 {
			p.LoginID = u.LoginIDs[0]
		}
		h.profiles.put(tok.Subject, p)
	} else if errors.Is(err, descope.ErrRejected) {
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonRefreshRejected, err, errUnauthenticated("Descope refused the refresh token; sign in again")))
		return
	} else {
		meErr = err
		h.log.Warn("descope me failed", "err", err, "user_id", tok.Subject, "refresh_from", refreshFrom)
	}
	id := h.identityFromToken(tok, MethodCookie)
	if err := h.refuseBlocked(id); err != nil {
		h.authFailed(w, r, err)
		return
	}
	// The first sign-in decides the user's MLflow username, from what /me
	// said; a sign-in that cannot know it fails rather than guess.
	if err := h.nameIdentity(ctx, id); err != nil {
		if errors.Is(err, naming.ErrNoProfile) && meErr != nil {
			err = h.failed(MethodCookie, event.ReasonUsernameUnavailable, errors.Join(err, meErr),
				errUnavailable("Descope did not say who you are; try signing in again shortly", 2*time.Second))
		}
		h.authFailed(w, r, err)
		return
	}
	if id.Username == h.opts.AdminUsername {
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonReservedUsername, errors.New("identity maps to the gateway's admin account"), errForbidden("this identity cannot be used")))
		return
	}
	if meErr == nil && id.known != (naming.Profile{}) {
		// What /me said just now: a changed login ID is recorded (the
		// username stays).
		h.opts.Policy.NoteProfile(ctx, id.UserID, id.known)
	}
	if err := h.opts.Policy.Ensure(ctx, id.Username, id.Token); err != nil {
		h.log.Warn("provision at sign-in failed", "err", err, "user_id", id.UserID)
	}
	stateOf(ctx).identity = id
	h.opts.Sessions.SetCookies(w, req.SessionJWT, req.RefreshJWT, until)
	stateOf(ctx).record(event.SignIn{Actor: id.actor()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"redirect": session.SafeRedirect(req.Next, h.opts.RedirectURL)})
}

// confirmLogout asks before signing out: sign-out is a POST from this
// origin, so another site cannot sign people out by sending them a link.
func (h *handler) confirmLogout(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "logout-confirm.html", map[string]any{"Prefix": h.opts.StaticPrefix})
}

// logout revokes the refresh token at Descope and clears the cookies. A
// failure to reach Descope still signs the browser out. It must come from
// this origin.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(MethodCookie, event.ReasonCrossOrigin, errors.New("cross-origin sign-out"), errForbidden("cross-origin request refused")))
		return
	}
	sessionJWT, refreshJWT := h.opts.Sessions.Cookies().Read(r)
	// Only tokens that verify are remembered as revoked, and only until the
	// session JWT would expire: after that Descope's own revocation of the
	// refresh token is what stops the session.
	var id *Identity
	var revokeSession, revokeRefresh string
	until := h.now().Add(time.Hour)
	if sessionJWT != "" {
		if tok, err := h.opts.Verifier.Verify(ctx, sessionJWT, descope.KindSession); err == nil {
			id = h.identityFromToken(tok, MethodCookie)
			revokeSession, until = sessionJWT, tok.Expiry
		}
	}
	if refreshJWT != "" {
		if tok, err := h.opts.Verifier.Verify(ctx, refreshJWT, descope.KindRefresh); err == nil {
			if id == nil {
				id = h.identityFromToken(tok, MethodCookie)
			}
			revokeRefresh = refreshJWT
			if err := h.opts.Descope.Logout(ctx, refreshJWT); err != nil {
				h.log.Warn("descope logout failed", "err", err)
			}
		}
	}
	if err := h.opts.Sessions.Revoke(ctx, revokeSession, revokeRefresh, until); err != nil {
		// Refused here all the same; other replicas learn of it once the
		// database takes the retried write.
		h.log.Warn("sign-out not shared with other replicas yet", "err", err)
	}
	h.opts.Sessions.ClearCookies(w)
	if id != nil {
		// For the event only: sign-out never fails for want of a name.
		_ = h.nameIdentity(ctx, id)
	}
	stateOf(ctx).identity = id
	stateOf(ctx).record(event.SignOut{Actor: id.actor()})
	w.Header().Set("Clear-Site-Data", `"storage"`)
	h.render(w, r, http.StatusOK, "logout.html", map[string]any{
		"Prefix":   h.opts.StaticPrefix,
		"LoginURL": h.opts.StaticPrefix + "/auth/login",
	})
}

// whoami tells the UI banner who is signed in.
func (h *handler) whoami(w http.ResponseWriter, r *http.Request) {
	id, err := h.authenticate(w, r)
	if err != nil {
		h.authFailed(w, r, err)
		return
	}
	display := id.Name
	if display == "" {
		display = id.Email
	}
	if display == "" {
		display = id.LoginID
	}
	if display == "" {
		display = id.Username
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"user_id": id.UserID, "username": id.Username, "login_id": id.LoginID,
		"email": id.Email, "name": id.Name, "display_name": display,
		"admin": id.Admin, "auth_method": id.Method,
	})
}
