package selfservice

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Sign-in from code on the same machine (RFC 8252 with PKCE, RFC 7636):
//
//  1. the CLI listens on 127.0.0.1 (or [::1]), makes a PKCE verifier and
//     opens the browser at /auth/cli/authorize with the S256 challenge, its
//     redirect URI and a state;
//  2. the signed-in user approves (a same-origin POST), and the gateway
//     redirects the browser to the loopback URI with a one-time code bound
//     to the challenge, the redirect URI and the user;
//  3. the CLI posts the code and the verifier to /auth/cli/token and gets a
//     new access key bound to the user.
//
// The code lives loopbackCodeTTL, is redeemed once (a wrong verifier or
// redirect URI burns it), and is worth nothing without the verifier, which
// never left the CLI.

// authorizeRequest is what the CLI puts in the authorize URL (and the
// consent form posts back).
type authorizeRequest struct {
	RedirectURI string
	Origin      string // of the redirect URI, for the page's CSP
	Challenge   string
	State       string
	Client      string
	Days        int
}

func (s *Service) parseAuthorize(v url.Values) (authorizeRequest, *problem) {
	var a authorizeRequest
	for _, name := range []string{"redirect_uri", "code_challenge", "code_challenge_method", "state", "client_name", "expires_days"} {
		if len(v[name]) > 1 {
			return a, badRequest("the parameter " + name + " is given more than once")
		}
	}
	uri, origin, err := loopbackRedirect(v.Get("redirect_uri"))
	if err != nil {
		return a, badRequest("This sign-in link is not valid: " + err.Error() + ".")
	}
	if v.Get("code_challenge_method") != "S256" || !validChallenge(v.Get("code_challenge")) {
		return a, badRequest("This sign-in link is not valid: it needs a PKCE code challenge with method S256.")
	}
	if !validState(v.Get("state")) {
		return a, badRequest("This sign-in link is not valid: its state is missing or malformed.")
	}
	a = authorizeRequest{RedirectURI: uri, Origin: origin, Challenge: v.Get("code_challenge"), State: v.Get("state"),
		Client: clientName(v.Get("client_name")), Days: s.defaultExpiry()}
	if d := v.Get("expires_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || !s.validExpiry(n) {
			return a, badRequest("This sign-in link asks for a key lifetime this gateway does not offer.")
		}
		a.Days = n
	}
	return a, nil
}

// cliKeyName is the name a key made by a sign-in from code gets.
func (s *Service) cliKeyName(client string) string {
	return "cli-" + client + "-" + s.opts.Now().UTC().Format("20060102")
}

// showAuthorize asks the signed-in user to approve the CLI. A malformed
// request is refused before anyone signs in and never redirected anywhere.
func (s *Service) showAuthorize(w http.ResponseWriter, r *http.Request) {
	u, _ := s.opts.CurrentUser(r)
	a, p := s.parseAuthorize(r.URL.Query())
	if p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	if p := s.available(); p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	s.render(w, r, http.StatusOK, "authorize.html", page{Title: "Sign in from code", User: u, Data: map[string]any{
		"Req": a, "KeyName": s.cliKeyName(a.Client),
	}}, a.Origin)
}

// authorize takes the user's decision: a code for the loopback URI, or the
// refusal.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request) {
	u, _ := s.opts.CurrentUser(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.showProblem(w, r, u, badRequest("The form could not be read."))
		return
	}
	a, p := s.parseAuthorize(r.PostForm)
	if p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	if p := s.available(); p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	back := url.Values{"state": {a.State}}
	signIn := event.CodeSignIn{Actor: u.actor(), Client: a.Client, Origin: a.Origin}
	if r.PostForm.Get("decision") != "approve" {
		signIn.Declined = true
		s.record(r, signIn)
		back.Set("error", "access_denied")
		http.Redirect(w, r, a.RedirectURI+"?"+back.Encode(), http.StatusSeeOther)
		return
	}
	code := newSecretCode()
	now := s.opts.Now()
	err := s.store.insert(r.Context(), hashCode(code), "", grant{
		Kind: kindLoopback, Challenge: a.Challenge, RedirectURI: a.RedirectURI, ClientName: a.Client,
		ClientIP: s.opts.ClientIP(r).String(), UserID: u.ID, Status: statusApproved, ExpiresDays: a.Days,
		Created: now, Expires: now.Add(loopbackCodeTTL),
	})
	if err != nil {
		s.showProblem(w, r, u, err)
		return
	}
	s.record(r, signIn)
	back.Set("code", code)
	http.Redirect(w, r, a.RedirectURI+"?"+back.Encode(), http.StatusSeeOther)
}

// tokenResponse carries a new key to a CLI.
type tokenResponse struct {
	AccessKey string `json:"access_key"`
	KeyID     string `json:"key_id"`
	KeyName   string `json:"key_name"`
	ExpiresAt string `json:"expires_at"` // RFC 3339
	UserID    string `json:"user_id"`
	// Username is the MLflow username the key acts as (the gateway's
	// mapping); the CLI writes it as mlflow_tracking_username.
	Username string `json:"username"`
	LoginID  string `json:"login_id,omitempty"`
}

// redeemLoopback exchanges a code and its PKCE verifier for a new key.
func (s *Service) redeemLoopback(w http.ResponseWriter, r *http.Request) {
	if !s.redeemAllowed(w, r) {
		return
	}
	var req struct {
		Code         string `json:"code"`
		CodeVerifier string `json:"code_verifier"`
		RedirectURI  string `json:"redirect_uri"`
	}
	if p := readJSON(r, &req); p != nil {
		s.fail(w, r, p)
		return
	}
	if req.Code == "" || len(req.Code) > 128 || req.CodeVerifier == "" {
		s.fail(w, r, badRequest("code and code_verifier are required"))
		return
	}
	ctx := r.Context()
	hash := hashCode(req.Code)
	g, err := s.store.get(ctx, hash)
	refused := func(reason event.Reason, msg string, userID string) {
		s.record(r, event.CodeSignIn{Actor: event.Actor{UserID: userID, Username: s.usernameOf(r.Context(), userID)}, Client: g.ClientName, Refused: reason})
		s.fail(w, r, invalidGrant(msg))
	}
	switch {
	case errors.Is(err, errNoGrant), err == nil && g.Kind != kindLoopback:
		refused(event.ReasonUnknownCode, "unknown sign-in code; run the login again", "")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	claimed, err := s.store.claim(ctx, hash, kindLoopback, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !claimed {
		if !now.Before(g.Expires) {
			refused(event.ReasonExpiredCode, "the sign-in code has expired; run the login again", g.UserID)
		} else {
			refused(event.ReasonReusedCode, "the sign-in code was already used; run the login again", g.UserID)
		}
		return
	}
	// The code is burnt from here on, whatever follows: a code sent with
	// the wrong verifier may be in an attacker's hands.
	if req.RedirectURI != g.RedirectURI {
		refused(event.ReasonRedirectMismatch, "the redirect URI does not match the one the code was issued for", g.UserID)
		return
	}
	if !verifierMatches(req.CodeVerifier, g.Challenge) {
		refused(event.ReasonPKCEMismatch, "the code verifier does not match the code challenge", g.UserID)
		return
	}
	s.deliverKey(w, r, hash, g, "cli")
}

// deliverKey makes the key a redeemed grant stands for and sends it. If
// Descope is unavailable the grant is given back, so the client may retry
// while the code lives.
func (s *Service) deliverKey(w http.ResponseWriter, r *http.Request, hash string, g grant, channel string) {
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	name := s.cliKeyName(g.ClientName)
	created, login, err := s.makeKey(ctx, r, newKey{user: User{ID: g.UserID}, name: name, days: g.ExpiresDays, channel: channel, client: g.ClientName})
	if err != nil {
		if p := problemFor(err); p.status >= 500 || p.status == http.StatusTooManyRequests {
			if rerr := s.store.release(context.WithoutCancel(ctx), hash); rerr != nil {
				s.log.Warn("could not give a code back after a failure", "err", rerr)
			}
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessKey: created.Cleartext.Reveal(), KeyID: created.Key.ID, KeyName: name,
		ExpiresAt: created.Key.ExpireTime.UTC().Format(time.RFC3339), UserID: g.UserID, Username: s.usernameOf(ctx, g.UserID), LoginID: login,
	})
}

// redeemAllowed answers the request itself, and says false, when the
// feature is off or the client's address has redeemed too often: both CLI
// endpoints that hand out keys check the same.
func (s *Service) redeemAllowed(w http.ResponseWriter, r *http.Request) bool {
	if p := s.available(); p != nil {
		s.fail(w, r, p)
		return false
	}
	if ok, wait := s.opts.Limits.RedeemPerIP.Allow(s.opts.ClientIP(r).String()); !ok {
		s.fail(w, r, tooMany(wait))
		return false
	}
	return true
}
