package session

import (
	"net/http"
	"time"
)

// Cookies names and reads the two session cookies; only the Manager writes
// them (Manager.SetCookies, Manager.ClearCookies). When Secure is set the
// names carry the __Host- prefix, which makes browsers refuse them unless they
// are Secure, host-only and Path=/: a sibling subdomain cannot plant or
// overwrite them.
type Cookies struct {
	Secure bool
}

func (c Cookies) prefix() string {
	if c.Secure {
		return "__Host-"
	}
	return ""
}

// SessionName is the cookie holding the Descope session JWT.
func (c Cookies) SessionName() string { return c.prefix() + "mlflow_ds" }

// RefreshName is the cookie holding the Descope refresh JWT.
func (c Cookies) RefreshName() string { return c.prefix() + "mlflow_dsr" }

// Read returns the session and refresh JWTs a request carries.
func (c Cookies) Read(r *http.Request) (sessionJWT, refreshJWT string) {
	if ck, err := r.Cookie(c.SessionName()); err == nil {
		sessionJWT = ck.Value
	}
	if ck, err := r.Cookie(c.RefreshName()); err == nil {
		refreshJWT = ck.Value
	}
	return sessionJWT, refreshJWT
}

// set writes both cookies. Both live until the refresh token expires: the
// session JWT inside is replaced by a server-side refresh when it expires.
func (c Cookies) set(w http.ResponseWriter, sessionJWT, refreshJWT string, until time.Time, now time.Time) {
	maxAge := int(until.Sub(now).Seconds())
	if maxAge <= 0 {
		maxAge = -1
	}
	http.SetCookie(w, c.cookie(c.SessionName(), sessionJWT, maxAge))
	if refreshJWT != "" {
		http.SetCookie(w, c.cookie(c.RefreshName(), refreshJWT, maxAge))
	}
}

// clear expires both cookies.
func (c Cookies) clear(w http.ResponseWriter) {
	http.SetCookie(w, c.cookie(c.SessionName(), "", -1))
	http.SetCookie(w, c.cookie(c.RefreshName(), "", -1))
}

func (c Cookies) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   c.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}
