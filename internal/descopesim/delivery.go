package descopesim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Token delivery modes, as a Descope project's Session Management settings
// name them ("token response method" for each token).
const (
	// DeliveryBody: both tokens in the response body (Descope's default).
	DeliveryBody = "body"
	// DeliveryRefreshCookie: the refresh token only as a cookie (HttpOnly,
	// on the project's custom domain); the session token in the body.
	DeliveryRefreshCookie = "refresh-cookie"
	// DeliveryCookies: both tokens only as cookies.
	DeliveryCookies = "cookies"
)

// TokenDelivery says how sign-in (flow completion), refresh and tenant
// selection hand out tokens.
type TokenDelivery struct {
	// Mode is DeliveryBody (default), DeliveryRefreshCookie or DeliveryCookies.
	Mode string `json:"mode"`
	// CookieDomain is the Domain attribute of the cookies (Descope sets the
	// custom domain's parent, e.g. ".example.com"); empty: host-only.
	CookieDomain string `json:"cookieDomain,omitempty"`
	// SessionCookieName and RefreshCookieName rename the cookies, as a
	// flow's End action can; the tokens' drn claim follows. Defaults DS, DSR.
	SessionCookieName string `json:"sessionCookieName,omitempty"`
	RefreshCookieName string `json:"refreshCookieName,omitempty"`
}

func (d TokenDelivery) withDefaults() TokenDelivery {
	if d.Mode == "" {
		d.Mode = DeliveryBody
	}
	if d.SessionCookieName == "" {
		d.SessionCookieName = "DS"
	}
	if d.RefreshCookieName == "" {
		d.RefreshCookieName = "DSR"
	}
	return d
}

func (d TokenDelivery) validate() error {
	switch d.Mode {
	case DeliveryBody, DeliveryRefreshCookie, DeliveryCookies:
	default:
		return fmt.Errorf("descopesim: token delivery %q (want %s, %s or %s): %w", d.Mode, DeliveryBody, DeliveryRefreshCookie, DeliveryCookies, ErrInvalid)
	}
	for _, n := range []string{d.SessionCookieName, d.RefreshCookieName} {
		if n == "" || strings.ContainsAny(n, " ;=,\t\r\n\"") {
			return fmt.Errorf("descopesim: cookie name %q: %w", n, ErrInvalid)
		}
	}
	if d.SessionCookieName == d.RefreshCookieName {
		return fmt.Errorf("descopesim: session and refresh cookie names are equal: %w", ErrInvalid)
	}
	if strings.ContainsAny(d.CookieDomain, " ;,\t\r\n") {
		return fmt.Errorf("descopesim: cookie domain %q: %w", d.CookieDomain, ErrInvalid)
	}
	return nil
}

// SetTokenDelivery switches how tokens are handed out from now on. Empty
// fields get the defaults (body, DS, DSR).
func (s *Server) SetTokenDelivery(d TokenDelivery) error {
	d = d.withDefaults()
	if err := d.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.delivery = d
	s.mu.Unlock()
	return nil
}

// TokenDelivery returns the current delivery settings.
func (s *Server) TokenDelivery() TokenDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivery
}

func (s *Server) drnNames() (session, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivery.SessionCookieName, s.delivery.RefreshCookieName
}

// deliverTokens moves the tokens of resp into cookies as the delivery mode
// says, writing the Set-Cookie headers to w, and returns what is left for
// the body.
func (s *Server) deliverTokens(w http.ResponseWriter, r *http.Request, resp jwtResponse) jwtResponse {
	d := s.TokenDelivery()
	resp.CookieDomain = d.CookieDomain
	expires := time.Unix(resp.CookieExpiration, 0)
	set := func(name, value string) {
		http.SetCookie(w, &http.Cookie{
			Name: name, Value: value, Path: "/", Domain: strings.TrimPrefix(d.CookieDomain, "."),
			Expires: expires, MaxAge: int(resp.CookieMaxAge),
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
	}
	if d.Mode == DeliveryCookies && resp.SessionJwt != "" {
		set(d.SessionCookieName, resp.SessionJwt)
		resp.SessionJwt = ""
	}
	if d.Mode != DeliveryBody && resp.RefreshJwt != "" {
		set(d.RefreshCookieName, resp.RefreshJwt)
		resp.RefreshJwt = ""
	}
	return resp
}

func (s *Server) simSetDelivery(w http.ResponseWriter, r *http.Request) {
	var req TokenDelivery
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.SetTokenDelivery(req); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.TokenDelivery())
}

func (s *Server) refreshDRN() string {
	_, r := s.drnNames()
	return r
}
