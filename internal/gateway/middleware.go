package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"
)

type middleware func(http.Handler) http.Handler

// chain applies middleware so that the first one listed runs first.
func chain(h http.Handler, m ...middleware) http.Handler {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// withRequestState starts the per-request state: an ID (a well-formed one
// from a trusted proxy is kept, so traces join up), the start time and the
// client address.
func (h *handler) withRequestState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &requestState{start: h.now(), clientIP: h.ips.of(r)}
		if id := r.Header.Get("X-Request-Id"); id != "" && requestIDPattern.MatchString(id) && h.ips.isTrusted(remoteAddr(r)) {
			s.id = id
		} else {
			s.id = newRequestID()
		}
		w.Header().Set("X-Request-Id", s.id)
		next.ServeHTTP(w, r.WithContext(withState(r.Context(), s)))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverPanics turns a panic into a 500 and a log line. http.ErrAbortHandler
// is re-raised: it is how a proxy aborts a broken stream.
func (h *handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				h.log.Error("panic", "request_id", stateOf(r.Context()).id, "panic", v)
				writeJSONError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status and size written, and still lets the
// proxy flush and hijack.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logAccess writes one line per request, after it completes, and reports it
// to the observer (metrics, audit). Health probes are not logged.
func (h *handler) logAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s := stateOf(r.Context())
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := h.now().Sub(s.start)
		if s.route == "health" {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", s.id),
			slog.String("method", r.Method),
			slog.String("route", s.route),
			slog.Int("status_code", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", elapsed),
			slog.String("client_ip", s.clientIP.String()),
		}
		if s.identity != nil {
			attrs = append(attrs, slog.String("user_id", s.identity.UserID), slog.String("auth_method", string(s.identity.Method)))
		}
		if s.reason != "" {
			attrs = append(attrs, slog.String("auth_failure", s.reason))
		}
		if s.rpc != "" {
			attrs = append(attrs, slog.String("rpc", s.rpc))
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		h.observer.Request(r, RequestInfo{
			RequestID: s.id, Route: s.route, RPC: s.rpc, Status: rec.status, Elapsed: elapsed,
			ClientIP: s.clientIP, Identity: s.identity, Reason: s.reason, Proxied: s.proxied,
			MLflowDenied: s.proxied && (rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden),
			Method:       r.Method, IDs: s.ids, Pattern: s.mlRoute.Pattern,
		})
	})
}

// setRoute names the route for logs and metrics (a pattern, never a raw path).
func setRoute(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r.Context()).route = name
		next.ServeHTTP(w, r)
	})
}

func (h *handler) now() time.Time { return h.opts.Now() }
