package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// maxCredentialLen bounds a credential before any parsing or hashing.
const maxCredentialLen = 16 << 10

// authError is an authentication failure: a stable reason for logs, metrics
// and audit, and the error to answer with.
type authError struct {
	method Method
	reason event.Reason
	resp   *apiError
	err    error
}

func (e *authError) Error() string {
	return fmt.Sprintf("gateway: %s: %s: %v", e.method, e.reason, e.err)
}
func (e *authError) Unwrap() error { return e.err }

// authenticate finds who the request is. Precedence: an Authorization header
// (bearer session JWT, bearer access key, Basic with an access key as the
// password) wins over cookies, and a bad header is never rescued by a cookie.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (*Identity, error) {
	id, err := h.authenticateOnce(w, r)
	if err == nil {
		// Here, not per route: the admin pages and whoami need it as much as
		// MLflow does.
		err = h.refuseBlocked(id)
	}
	if err == nil {
		err = h.checkDPoP(r, id)
	}
	if err == nil {
		err = h.nameIdentity(r.Context(), id)
	}
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) && countsAsFailure(ae.reason) {
			h.opts.Limits.FailuresPerIP.Allow(stateOf(r.Context()).clientIP.String())
		}
	}
	return id, err
}

// refuseBlocked fails identities a sync job found disabled or deleted in
// Descope: their tokens verify until they expire, but they must not be used.
func (h *handler) refuseBlocked(id *Identity) error {
	if h.opts.Policy.Blocked(id.UserID) {
		return h.failed(id.Method, event.ReasonUserDisabled, errors.New("user disabled or deleted in Descope"), errUnauthenticated("your account is disabled"))
	}
	return nil
}

// countsAsFailure: a credential was presented and refused. No credential at
// all, or Descope being unavailable, is not a failed attempt.
func countsAsFailure(reason event.Reason) bool {
	switch reason {
	case event.ReasonNoSession, event.ReasonDescopeUnavailable, event.ReasonRateLimited, event.ReasonUserDisabled,
		event.ReasonNoUsername, event.ReasonUsernameUnavailable:
		return false
	}
	return true
}

func (h *handler) authenticateOnce(w http.ResponseWriter, r *http.Request) (*Identity, error) {
	ctx := r.Context()
	// A client address with many failed attempts gets no more verification
	// work (signatures, JWKS refetches, Descope calls) until it slows down.
	if blocked, wait := h.opts.Limits.FailuresPerIP.Blocked(stateOf(ctx).clientIP.String()); blocked && hasCredential(r, h.opts.Sessions) && !h.knownGood(r) {
		return nil, h.failed(MethodNone, event.ReasonRateLimited, errors.New("too many failed authentications"), errTooMany(wait))
	}
	values := r.Header.Values("Authorization")
	switch {
	case len(values) > 1:
		return nil, h.failed(MethodNone, event.ReasonAmbiguousAuthorization, errors.New("several Authorization headers"), errUnauthenticated("send one Authorization header"))
	case len(values) == 1:
		return h.authenticateHeader(ctx, r, values[0])
	}
	sess, err := h.opts.Sessions.Authenticate(w, r)
	if err != nil {
		switch {
		case errors.Is(err, descope.ErrUnavailable), errors.Is(err, descope.ErrKeysUnavailable):
			return nil, h.failed(MethodCookie, event.ReasonDescopeUnavailable, err, errUnavailable("the identity provider is unavailable; try again shortly", descope.RetryAfter(err)))
		case errors.Is(err, session.ErrEnded):
			return nil, h.failed(MethodCookie, event.ReasonSessionEnded, err, errUnauthenticated("your session has ended; sign in again"))
		default:
			reason := event.ReasonNoSession
			if err != session.ErrNoSession {
				reason = event.Reason(descope.Reason(err))
			}
			return nil, h.failed(MethodCookie, reason, err, errUnauthenticated("sign in to use MLflow"))
		}
	}
	id := h.identityFromToken(sess.Token, MethodCookie)
	if sess.Refreshed {
		stateOf(ctx).record(event.Refresh{Actor: id.actor()})
	}
	return id, nil
}

func (h *handler) authenticateHeader(ctx context.Context, r *http.Request, value string) (*Identity, error) {
	if len(value) > maxCredentialLen {
		return nil, h.failed(MethodNone, event.ReasonCredentialTooLarge, errors.New("oversized Authorization header"), errUnauthenticated("credential too large"))
	}
	scheme, cred, _ := strings.Cut(value, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		if looksLikeJWT(cred) {
			return h.authenticateJWT(ctx, cred, MethodBearerJWT)
		}
		return h.authenticateKey(ctx, r, cred, MethodAccessKey)
	case "dpop": // RFC 9449: a DPoP-bound JWT; checkDPoP verifies the proof
		if !looksLikeJWT(cred) {
			return nil, h.failed(MethodBearerJWT, event.ReasonDPoPNotBound, errors.New("DPoP scheme without a JWT"), errUnauthenticated("the DPoP scheme needs a DPoP-bound token"))
		}
		return h.authenticateJWT(ctx, cred, MethodBearerJWT)
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return nil, h.failed(MethodBasicKey, event.ReasonMalformedBasic, err, errUnauthenticated("malformed Basic credentials"))
		}
		_, password, ok := strings.Cut(string(raw), ":")
		if !ok || password == "" {
			return nil, h.failed(MethodBasicKey, event.ReasonMalformedBasic, errors.New("no password"), errUnauthenticated("use a Descope access key as the password"))
		}
		if looksLikeJWT(password) {
			return h.authenticateJWT(ctx, password, MethodBearerJWT)
		}
		return h.authenticateKey(ctx, r, password, MethodBasicKey)
	default:
		return nil, h.failed(MethodNone, event.ReasonUnsupportedScheme, fmt.Errorf("scheme %.20q", scheme), errUnauthenticated("use a Bearer token or Basic credentials"))
	}
}

func (h *handler) authenticateJWT(ctx context.Context, raw string, method Method) (*Identity, error) {
	if h.opts.Sessions.IsRevoked(raw) {
		return nil, h.failed(method, event.ReasonSignedOut, errors.New("token of a signed-out session"), errUnauthenticated("this session was signed out"))
	}
	tok, err := h.opts.Verifier.Verify(ctx, raw, descope.KindSession)
	if err != nil {
		if errors.Is(err, descope.ErrKeysUnavailable) {
			return nil, h.failed(method, event.ReasonDescopeUnavailable, err, errUnavailable("the identity provider is unavailable; try again shortly", 0))
		}
		return nil, h.failed(method, event.Reason(descope.Reason(err)), err, errUnauthenticated("invalid or expired session token"))
	}
	return h.identityFromToken(tok, method), nil
}

func (h *handler) authenticateKey(ctx context.Context, r *http.Request, key string, method Method) (*Identity, error) {
	if h.opts.Keys == nil {
		return nil, h.failed(method, event.ReasonAccessKeysDisabled, errors.New("no key authenticator"), errUnauthenticated("access keys are not accepted here"))
	}
	if key == "" {
		return nil, h.failed(method, event.ReasonEmptyCredential, errors.New("empty key"), errUnauthenticated("empty credential"))
	}
	k, err := h.opts.Keys.Authenticate(ctx, key, stateOf(ctx).clientIP)
	if err != nil {
		if errors.Is(err, descope.ErrUnavailable) || errors.Is(err, descope.ErrKeysUnavailable) {
			return nil, h.failed(method, event.ReasonDescopeUnavailable, err, errUnavailable("the identity provider is unavailable; try again shortly", descope.RetryAfter(err)))
		}
		if errors.Is(err, accesskey.ErrRateLimited) {
			return nil, h.failed(method, event.ReasonRateLimited, err, errTooMany(accesskey.RetryAfter(err)))
		}
		return nil, h.failed(method, event.Reason(descope.Reason(err)), err, errUnauthenticated("invalid access key"))
	}
	// Roles and tenants come from the key's own token, exactly as a user's
	// come from theirs. The name is the key's own (access-key-<id>), or,
	// for a key that acts as its user, the user's MLflow username
	// (nameIdentity).
	id := h.identityFromToken(k.Token, method)
	id.UserID, id.Username, id.KeyID = k.UserID, k.Username, k.KeyID
	if id.UserID == "" {
		id.UserID = k.KeyID
	}
	id.known = naming.Profile{LoginID: k.LoginID, Email: k.Email}
	if k.LoginID != "" || k.Email != "" || k.Name != "" {
		id.LoginID, id.Email, id.Name = k.LoginID, k.Email, k.Name
	}
	return id, nil
}

// nameIdentity gives an identity its MLflow username: the one the policy
// keeps for the Descope user (decided at the user's first use). An access
// key's own name (access-key-<id>) is set already.
func (h *handler) nameIdentity(ctx context.Context, id *Identity) error {
	if id.Username != "" {
		return nil
	}
	name, err := h.opts.Policy.Username(ctx, id.UserID, id.known, id.Token)
	switch {
	case err == nil:
		id.Username = name
		return nil
	case errors.Is(err, naming.ErrNoProfile):
		return h.failed(id.Method, event.ReasonNoUsername, err,
			errForbidden("this Descope user has no MLflow username yet: sign in to MLflow in a browser once, then try again"))
	case errors.Is(err, naming.ErrUnavailable), errors.Is(err, descope.ErrUnavailable):
		return h.failed(id.Method, event.ReasonUsernameUnavailable, err,
			errUnavailable("could not look up your MLflow username; try again shortly", 2*time.Second))
	default:
		return h.failed(id.Method, event.ReasonInternal, err, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
	}
}

func (h *handler) failed(method Method, reason event.Reason, err error, resp *apiError) error {
	return &authError{method: method, reason: reason, resp: resp, err: err}
}

// identityFromToken maps a verified session token to an identity, keyed on
// the Descope user ID (stable across email and login-ID changes, and unique
// even when one login ID exists in two tenants). Its MLflow username comes
// later, from the policy (nameIdentity).
func (h *handler) identityFromToken(tok *descope.Token, method Method) *Identity {
	id := &Identity{
		UserID: tok.Subject,
		Method: method,
		Token:  tok,
		Admin:  h.opts.Policy.Admin(tok),
	}
	if p, ok := h.profiles.get(tok.Subject); ok {
		id.LoginID, id.Email, id.Name = p.LoginID, p.Email, p.Name
		id.known = naming.Profile{LoginID: p.LoginID, Email: p.Email}
	}
	if email, ok := tok.Claims["email"].(string); ok && id.Email == "" {
		id.Email = email
	}
	if name, ok := tok.Claims["name"].(string); ok && id.Name == "" {
		id.Name = name
	}
	return id
}

// knownGood reports whether the request's credential was verified before and
// is still trusted from cache: such a request costs no verification work, so
// an address flooding bogus credentials does not lock out the valid users
// behind it (a shared NAT, a CI egress).
func (h *handler) knownGood(r *http.Request) bool {
	v := h.opts.Verifier
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, cred, _ := strings.Cut(auth, " ")
		cred = strings.TrimSpace(cred)
		if strings.EqualFold(scheme, "basic") {
			raw, err := base64.StdEncoding.DecodeString(cred)
			if err != nil {
				return false
			}
			_, cred, _ = strings.Cut(string(raw), ":")
		}
		if looksLikeJWT(cred) {
			return v.Cached(cred, descope.KindSession)
		}
		return h.opts.Keys != nil && h.opts.Keys.Cached(cred)
	}
	s, _ := h.opts.Sessions.Cookies().Read(r)
	return s != "" && v.Cached(s, descope.KindSession)
}

func hasCredential(r *http.Request, sm *session.Manager) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	s, rt := sm.Cookies().Read(r)
	return s != "" || rt != ""
}

func looksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "eyJ")
}

// authFailed answers a failed authentication: JSON for API clients, a
// redirect to the login page for browsers.
func (h *handler) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		ae = &authError{reason: event.ReasonInternal, resp: &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"}, err: err}
	}
	s := stateOf(r.Context())
	s.reason = ae.reason
	if ae.reason != event.ReasonNoSession {
		s.record(event.AuthFailure{Method: ae.method, Reason: ae.reason})
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
