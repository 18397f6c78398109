package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

func parsePages() (*template.Template, error) {
	t, err := web.Pages()
	if err != nil {
		return nil, fmt.Errorf("gateway: parse templates: %w", err)
	}
	return t, nil
}

// render executes a template into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("render", "template", name, "err", err, "request_id", stateOf(r.Context()).id)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if hd.Get("Content-Security-Policy") == "" {
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

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
		h.authFailed(w, r, h.failed(MethodCookie, "cross_origin", errors.New("cross-origin sign-in post"), errForbidden("cross-origin request refused")))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, errBadRequest("expected application/json"))
		return
	}
	ip := stateOf(ctx).clientIP.String()
	if ok, wait := h.opts.Limits.SignInPerIP.Allow(ip); !ok {
		stateOf(ctx).reason = "rate_limited"
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
		h.refuseSignIn(w, r, "no_session_token", msgNoTokens)
		return
	}
	if h.opts.Sessions.IsRevoked(req.SessionJWT) || h.opts.Sessions.IsRevoked(req.RefreshJWT) {
		// Descope's cookies outlive a sign-out here: they must not sign
		// the browser straight back in.
		h.authFailed(w, r, h.failed(MethodCookie, "signed_out", errors.New("tokens of a signed-out session"), errUnauthenticated("this session was signed out; sign in again")))
		return
	}
	tok, err := h.opts.Verifier.Verify(ctx, req.SessionJWT, descope.KindSession)
	if err != nil {
		h.authFailed(w, r, h.failed(MethodCookie, descope.Reason(err), err, errUnauthenticated("the session token was not accepted")))
		return
	}
	if tok.JKT != "" {
		h.refuseSignIn(w, r, "dpop_bound", "this Descope session is bound to a DPoP key (cnf.jkt) and cannot be kept in a browser cookie")
		return
	}
	// Before any further work for this user (the refresh token, Descope's
	// /me): a user over the limit costs nothing more.
	if ok, wait := h.opts.Limits.SignInPerUser.Allow(tok.Subject); !ok {
		stateOf(ctx).reason = "rate_limited"
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
		h.refuseSignIn(w, r, "no_refresh_token", msgNoRefreshToken)
		return
	}
	rt, err := h.opts.Verifier.Verify(ctx, req.RefreshJWT, descope.KindRefresh)
	if err != nil {
		h.authFailed(w, r, h.failed(MethodCookie, "refresh_"+descope.Reason(err), err, errUnauthenticated("the refresh token was not accepted")))
		return
	}
	if rt.Subject != tok.Subject {
		h.authFailed(w, r, h.failed(MethodCookie, "token_mismatch", errors.New("session and refresh tokens name different users"), errUnauthenticated("the tokens do not belong together")))
		return
	}
	if rt.JKT != "" {
		h.refuseSignIn(w, r, "dpop_bound", "this Descope session is bound to a DPoP key (cnf.jkt) and cannot be kept in a browser cookie")
		return
	}
	until := rt.Expiry
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
		h.authFailed(w, r, h.failed(MethodCookie, "refresh_rejected", err, errUnauthenticated("Descope refused the refresh token; sign in again")))
		return
	} else {
		h.log.Warn("descope me failed", "err", err, "user_id", tok.Subject, "refresh_from", refreshFrom)
	}
	id := h.identityFromToken(tok, MethodCookie)
	if err := h.refuseBlocked(id); err != nil {
		h.authFailed(w, r, err)
		return
	}
	if id.Username == h.opts.AdminUsername {
		h.authFailed(w, r, h.failed(MethodCookie, "reserved_username", errors.New("identity maps to the gateway's admin account"), errForbidden("this identity cannot be used")))
		return
	}
	if err := h.opts.Provisioner.Ensure(ctx, id); err != nil {
		h.log.Warn("provision at sign-in failed", "err", err, "user_id", id.UserID)
	}
	stateOf(ctx).identity = id
	h.opts.Sessions.Cookies().Set(w, req.SessionJWT, req.RefreshJWT, until, h.now())
	h.observer.SignIn(r, id)
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
		h.authFailed(w, r, h.failed(MethodCookie, "cross_origin", errors.New("cross-origin sign-out"), errForbidden("cross-origin request refused")))
		return
	}
	cookies := h.opts.Sessions.Cookies()
	sessionJWT, refreshJWT := cookies.Read(r)
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
	cookies.Clear(w)
	stateOf(ctx).identity = id
	h.observer.SignOut(r, id)
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

// sameOrigin is the cross-site check for cookie-setting and cookie-authenticated
// state changes: the Origin header must be the gateway's own origin; without
// one, Sec-Fetch-Site must say same-origin. A request with neither is refused.
func (h *handler) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == h.originFor(r)
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

// authFailed answers a failed authentication: JSON for API clients, a
// redirect to the login page for browsers.
func (h *handler) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		ae = &authError{reason: "internal", resp: &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"}, err: err}
	}
	s := stateOf(r.Context())
	s.reason = ae.reason
	if ae.reason != "no_session" {
		h.observer.AuthFailure(r, ae.method, ae.reason)
		h.log.Debug("authentication failed", "reason", ae.reason, "method", ae.method, "err", ae.err, "request_id", s.id)
	}
	if ae.resp.status == http.StatusUnauthorized && !wantsJSON(r, h.opts.StaticPrefix) {
		next := r.URL.RequestURI()
		if !session.ValidRedirect(next) {
			next = h.opts.RedirectURL
		}
		http.Redirect(w, r, h.opts.StaticPrefix+"/auth/login?next="+url.QueryEscape(next), http.StatusFound)
		return
	}
	writeJSONError(w, ae.resp)
}

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
		s.reason = "not_admin"
		h.observer.AuthFailure(r, id.Method, "not_admin")
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
		s.reason = "step_up_required"
		if wantsJSON(r, h.opts.StaticPrefix) {
			writeJSONError(w, errForbidden("the admin pages need a sign-in with multi-factor authentication"))
			return
		}
		http.Redirect(w, r, h.opts.StaticPrefix+"/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	if !safeMethod(r.Method) && !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(id.Method, "cross_site", errors.New("cross-site admin request"), errForbidden("cross-site request refused")))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	h.opts.Admin.ServeHTTP(w, r)
}
