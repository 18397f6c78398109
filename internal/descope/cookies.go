package descope

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Default names of the cookies Descope uses for the session and refresh
// tokens. A flow's End action can rename them; the same names are then the
// tokens' drn claim.
const (
	DefaultSessionCookieName = "DS"
	DefaultRefreshCookieName = "DSR"
)

// CookieNames are the names Descope gives the session and refresh tokens:
// the cookies it sets in cookie mode (on the project's custom domain and in
// the Set-Cookie of /v1/auth/refresh), and the drn claim of each token.
type CookieNames struct {
	Session string
	Refresh string
}

// DefaultCookieNames are Descope's own: DS and DSR.
func DefaultCookieNames() CookieNames {
	return CookieNames{Session: DefaultSessionCookieName, Refresh: DefaultRefreshCookieName}
}

// withDefaults fills empty names with Descope's defaults.
func (n CookieNames) withDefaults() CookieNames {
	if n.Session == "" {
		n.Session = DefaultSessionCookieName
	}
	if n.Refresh == "" {
		n.Refresh = DefaultRefreshCookieName
	}
	return n
}

// Validate reports names that cannot work: not a cookie-name token, or the
// same name for both tokens (a refresh token could then pass as a session).
func (n CookieNames) Validate() error {
	n = n.withDefaults()
	var errs []error
	for _, name := range []string{n.Session, n.Refresh} {
		if !validCookieName(name) {
			errs = append(errs, fmt.Errorf("descope: %q is not a valid cookie name", name))
		}
	}
	if n.Session == n.Refresh {
		errs = append(errs, errors.New("descope: the session and refresh cookie names must differ"))
	}
	return errors.Join(errs...)
}

// FromResponse returns the session and refresh tokens a response sets as
// cookies ("" when absent or being cleared).
func (n CookieNames) FromResponse(resp *http.Response) (sessionJWT, refreshJWT string) {
	n = n.withDefaults()
	for _, ck := range resp.Cookies() {
		if ck.Value == "" || ck.MaxAge < 0 {
			continue
		}
		switch ck.Name {
		case n.Session:
			sessionJWT = ck.Value
		case n.Refresh:
			refreshJWT = ck.Value
		}
	}
	return sessionJWT, refreshJWT
}

// FromRequest returns the session and refresh tokens among a request's
// cookies: the ones Descope set on its custom domain, which the browser
// sends to every host under the cookie's domain.
func (n CookieNames) FromRequest(r *http.Request) (sessionJWT, refreshJWT string) {
	n = n.withDefaults()
	if ck, err := r.Cookie(n.Session); err == nil {
		sessionJWT = ck.Value
	}
	if ck, err := r.Cookie(n.Refresh); err == nil {
		refreshJWT = ck.Value
	}
	return sessionJWT, refreshJWT
}

// validCookieName: RFC 6265 token characters, at most 64 of them.
func validCookieName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
