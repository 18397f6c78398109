package gateway

import (
	"log/slog"
	"net/http"
)

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
