package selfservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

// problem is an error with what to tell the client: an HTTP status, an
// MLflow-style error code and a message that is safe to show.
type problem struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration
	err        error // detail for the log only
}

func (p *problem) Error() string {
	if p.err != nil {
		return "selfservice: " + p.code + ": " + p.err.Error()
	}
	return "selfservice: " + p.code + ": " + p.msg
}

func (p *problem) Unwrap() error { return p.err }

// StatusCode is the HTTP status the problem is answered with.
func (p *problem) StatusCode() int { return p.status }

func badRequest(msg string) *problem {
	return &problem{status: http.StatusBadRequest, code: "INVALID_PARAMETER_VALUE", msg: msg}
}

func invalidGrant(msg string) *problem {
	return &problem{status: http.StatusBadRequest, code: "INVALID_GRANT", msg: msg}
}

func tooMany(wait time.Duration) *problem {
	return &problem{status: http.StatusTooManyRequests, code: "REQUEST_LIMIT_EXCEEDED",
		msg: "too many requests; try again later", retryAfter: wait}
}

// problemFor maps an error from Descope or the database to what the client
// is told. Anything unknown is a 500 with a generic message.
func problemFor(err error) *problem {
	var p *problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, descope.ErrUnavailable):
		return &problem{status: http.StatusServiceUnavailable, code: "TEMPORARILY_UNAVAILABLE",
			msg: "Descope is unavailable right now; try again shortly", retryAfter: retryAfter(descope.RetryAfter(err)), err: err}
	case errors.Is(err, descope.ErrRejected):
		return &problem{status: http.StatusBadGateway, code: "INTERNAL_ERROR",
			msg: "Descope refused the request; ask your MLflow administrator to check the gateway's log", err: err}
	default:
		return &problem{status: http.StatusInternalServerError, code: "INTERNAL_ERROR", msg: "internal error", err: err}
	}
}

func retryAfter(d time.Duration) time.Duration {
	if d <= 0 {
		return 5 * time.Second
	}
	return d
}

// writeJSON answers an API client. Nothing here may be cached: some answers
// carry a key.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error_code":"INTERNAL_ERROR","message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers an API client with MLflow-shaped JSON.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.status >= 500 {
		s.log.Error("selfservice", "err", err, "path", r.URL.Path, "request_id", s.opts.RequestID(r))
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, p.status, map[string]string{"error_code": p.code, "message": p.msg})
}

// readJSON decodes a small JSON body from a CLI.
func readJSON(r *http.Request, v any) *problem {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return badRequest("expected application/json")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	if err := dec.Decode(v); err != nil || dec.More() {
		return badRequest("malformed JSON body")
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title  string
	Prefix string
	User   User
	Data   any
}

// csp allows the page's own stylesheet and form posts, and no script at
// all. formTargets are extra origins a form may post to (and be
// redirected to: browsers apply form-action to the redirect as well).
func csp(formTargets ...string) string {
	fa := "'self'"
	for _, t := range formTargets {
		fa += " " + t
	}
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + fa + "; base-uri 'none'; frame-ancestors 'none'"
}

// render executes a template into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, name string, p page, formTargets ...string) {
	p.Prefix = s.opts.Prefix
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("render", "template", name, "err", err, "request_id", s.opts.RequestID(r))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp(formTargets...))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with the page's form posts, which the gateway's
	// cross-site rule (rightly) refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// showProblem renders an error page for a browser.
func (s *Service) showProblem(w http.ResponseWriter, r *http.Request, u User, err error) {
	p := problemFor(err)
	if p.status >= 500 && p.status != http.StatusNotImplemented {
		s.log.Error("selfservice", "err", err, "path", r.URL.Path, "request_id", s.opts.RequestID(r))
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	s.render(w, r, p.status, "message.html", page{Title: "Something went wrong", User: u, Data: map[string]string{
		"Heading": "Something went wrong", "Message": p.msg, "Kind": "error"}})
}

// browserUser returns the user of a page request, or answers for it: a
// request nobody signed in to is sent to the login page (and back here
// afterwards); one authenticated some other way than by the browser
// session is refused.
func (s *Service) browserUser(w http.ResponseWriter, r *http.Request) (User, bool) {
	u, ok := s.opts.CurrentUser(r)
	if !ok {
		next := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			next = s.opts.Prefix + "/auth/keys"
		}
		http.Redirect(w, r, s.opts.Prefix+"/auth/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return User{}, false
	}
	if !u.Browser {
		s.showProblem(w, r, u, &problem{status: http.StatusForbidden, code: "PERMISSION_DENIED",
			msg: "Access keys are managed from a browser session: open this page in your browser and sign in there."})
		return User{}, false
	}
	return u, true
}

func (s *Service) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") && r.Method == http.MethodGet {
		u, _ := s.opts.CurrentUser(r)
		s.render(w, r, http.StatusNotFound, "message.html", page{Title: "Not found", User: u, Data: map[string]string{
			"Heading": "Not found", "Message": "There is no such page.", "Kind": "error"}})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error_code": "ENDPOINT_NOT_FOUND", "message": "not found"})
}

func staticHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}
