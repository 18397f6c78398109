package gateway

import (
	"log/slog"
	"net/http"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
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

// logAccess writes one line per request, after it completes, and hands
// the request's record (the request and the events its handlers recorded)
// to Options.Events: metrics and audit. Health probes are not logged. A
// handler that aborts (http.ErrAbortHandler, a broken proxy stream) still
// has its record handed on as the panic passes through.
func (h *handler) logAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer h.finish(r, rec)
		next.ServeHTTP(rec, r)
	})
}

// finish logs a completed request and hands its record on.
func (h *handler) finish(r *http.Request, rec *statusRecorder) {
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
		attrs = append(attrs, slog.String("auth_failure", string(s.reason)))
	}
	if s.rpc != "" {
		attrs = append(attrs, slog.String("rpc", s.rpc))
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	if h.opts.Events == nil {
		return
	}
	req := &event.Request{
		ID: s.id, Method: r.Method, Route: s.route, Pattern: s.mlRoute.Pattern, RPC: s.rpc,
		Status: rec.status, Elapsed: elapsed, ClientIP: s.clientIP, Reason: s.reason, Proxied: s.proxied,
		MLflowDenied: s.proxied && (rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden),
		IDs:          s.ids,
	}
	if s.identity != nil {
		a := s.identity.actor()
		req.Actor = &a
	}
	h.opts.Events.Handle(&event.Record{Request: req, Events: s.events})
}
