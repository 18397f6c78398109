package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

type middleware func(http.Handler) http.Handler

// chain applies middleware so that the first one listed runs first.
func chain(h http.Handler, m ...middleware) http.Handler {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
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

// setRoute names the route for logs and metrics (a pattern, never a raw path).
func setRoute(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r.Context()).route = name
		next.ServeHTTP(w, r)
	})
}

// refuseBadPaths classifies the raw path before the mux sees it: encoded
// slashes, backslashes, dot segments and doubled slashes are refused with 400
// instead of being cleaned up (or redirected) into some other route.
func (h *handler) refuseBadPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if connectionDrops(r.Header) {
			// The reverse proxy deletes every header Connection names, after
			// the checks below have seen it: Connection: Content-Type would
			// send MLflow a body without the Content-Type that was checked.
			stateOf(r.Context()).reason = event.ReasonConnectionNamesHeader
			writeJSONError(w, errBadRequest("the Connection header may only name close, keep-alive, upgrade, te or trailers"))
			return
		}
		raw := classify.RawPath(r)
		p := raw
		if pre := h.opts.StaticPrefix; pre != "" {
			rest, ok := strings.CutPrefix(raw, pre)
			if !ok || (rest != "" && rest[0] != '/') {
				if raw == "/health" || raw == "/ready" {
					next.ServeHTTP(w, r)
					return
				}
				// Everything else outside the prefix is 404 here, not in the
				// mux: the mux decodes the path, so /%6dlflow/api/... would
				// match the prefix there and reach MLflow unclassified.
				stateOf(r.Context()).route = "outside_prefix"
				h.notFound(w, r)
				return
			}
			p = rest
			if p == "" {
				p = "/"
			}
		}
		rt, err := h.classes.Route(r.Method, p)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		stateOf(r.Context()).mlRoute = rt
		next.ServeHTTP(w, r)
	})
}

// connectionDrops reports whether a Connection header names a header other
// than the hop-by-hop ones, which the proxy would then remove.
func connectionDrops(h http.Header) bool {
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			switch strings.ToLower(tok) {
			case "", "close", "keep-alive", "upgrade", "te", "trailer", "trailers":
			default:
				return true
			}
		}
	}
	return false
}

// refuse answers a classifier rejection.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s := stateOf(r.Context())
	if rej, ok := classify.AsRejection(err); ok {
		s.reason = event.Reason(rej.Reason)
		rej.Write(w)
		return
	}
	h.log.Error("classify", "err", err, "request_id", s.id)
	writeJSONError(w, errBadRequest("the request could not be read"))
}
