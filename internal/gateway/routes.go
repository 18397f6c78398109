package gateway

import (
	"net/http"
	"strings"

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
