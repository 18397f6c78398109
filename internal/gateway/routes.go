package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

// routes is every route the gateway serves. Everything under the static
// prefix that is not the gateway's own goes to MLflow.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	p := h.opts.StaticPrefix

	mux.Handle("GET /health", setRoute("health", http.HandlerFunc(h.health)))
	mux.Handle("GET /ready", setRoute("health", http.HandlerFunc(h.ready)))
	if p != "" {
		mux.Handle("GET "+p+"/health", setRoute("health", http.HandlerFunc(h.health)))
		mux.Handle("GET "+p+"/ready", setRoute("health", http.HandlerFunc(h.ready)))
	}
	mux.Handle("GET "+p+"/auth/login", setRoute("auth_login", http.HandlerFunc(h.showLogin)))
	mux.Handle("POST "+p+"/auth/session", setRoute("auth_session", http.HandlerFunc(h.createSession)))
	mux.Handle("GET "+p+"/auth/logout", setRoute("auth_logout", http.HandlerFunc(h.confirmLogout)))
	mux.Handle("POST "+p+"/auth/logout", setRoute("auth_logout", http.HandlerFunc(h.logout)))
	mux.Handle("GET "+p+"/auth/whoami", setRoute("auth_whoami", http.HandlerFunc(h.whoami)))
	mux.Handle("GET "+p+"/auth/static/", setRoute("auth_static",
		http.StripPrefix(p+"/auth/static/", staticHeaders(http.FileServerFS(web.Static())))))
	if h.opts.Admin != nil {
		mux.Handle(p+"/auth/admin", http.RedirectHandler(p+"/auth/admin/", http.StatusFound))
		mux.Handle(p+"/auth/admin/", setRoute("auth_admin", http.HandlerFunc(h.serveAdmin)))
	}
	if h.opts.SelfService != nil {
		self := setRoute("auth_self_service", http.HandlerFunc(h.serveSelfService))
		for _, path := range []string{"/auth/keys", "/auth/keys/", "/auth/cli/", "/auth/device", "/auth/device/"} {
			mux.Handle(p+path, self)
		}
	}
	// Nothing else under /auth/ exists; it must not fall through to MLflow.
	mux.Handle(p+"/auth/", setRoute("auth_unknown", http.HandlerFunc(h.notFound)))
	if p == "" {
		mux.Handle("/", http.HandlerFunc(h.serveMLflow))
	} else {
		mux.Handle(p+"/", http.HandlerFunc(h.serveMLflow))
		mux.Handle(p, http.RedirectHandler(p+"/", http.StatusFound))
		mux.Handle("/", setRoute("outside_prefix", http.HandlerFunc(h.notFound)))
	}

	return chain(mux, h.withRequestState, h.logAccess, h.recoverPanics, h.refuseBadPaths)
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
			stateOf(r.Context()).reason = "connection_names_header"
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

// refuse answers a classifier rejection.
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

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s := stateOf(r.Context())
	if rej, ok := classify.AsRejection(err); ok {
		s.reason = rej.Reason
		rej.Write(w)
		return
	}
	h.log.Error("classify", "err", err, "request_id", s.id)
	writeJSONError(w, errBadRequest("the request could not be read"))
}

func staticHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // files only: no directory listings
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSONError(w, &apiError{status: http.StatusNotFound, code: codeNotFound, message: "not found"})
}

// health says the process is alive.
func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
}

// ready says the gateway can serve: Descope's keys are loaded, MLflow
// answers, and the role mapping is in place there.
func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"descope_keys": "ok", "mlflow": "ok", "role_mapping": "ok"}
	status := http.StatusOK
	if !h.opts.KeysReady() {
		checks["descope_keys"] = "not loaded"
		status = http.StatusServiceUnavailable
	}
	if !h.opts.MappingReady() {
		checks["role_mapping"] = "not applied yet"
		status = http.StatusServiceUnavailable
	}
	if err := h.opts.Ready(ctx); err != nil {
		checks["mlflow"] = "unreachable"
		status = http.StatusServiceUnavailable
	}
	body := map[string]any{"status": "ready", "checks": checks}
	if status != http.StatusOK {
		body["status"] = "not ready"
	}
	writeStatus(w, status, body)
}

func writeStatus(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
