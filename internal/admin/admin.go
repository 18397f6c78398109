// Package admin serves the gateway's admin pages: recent sign-ins, the
// audit log with filters, pagination and export, what a user maps to in
// MLflow, the sync status, and links to MLflow's own user and permission
// pages. The gateway mounts the handler at {prefix}/auth/admin/ and lets
// only authenticated gateway admins through; the handler checks the
// identity again and fails closed.
//
// Pages are html/template, parsed once, rendered into a buffer, and served
// under a CSP that allows no script at all.
package admin

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Querier reads the audit log; audit.Store implements it.
type Querier interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// ExplainFunc writes, as plain text, what a Descope user (by login ID or
// user ID) is in MLflow and which rule decided each part.
type ExplainFunc func(ctx context.Context, id string, w io.Writer) error

// DefaultExportLimit bounds one CSV or JSON export.
const DefaultExportLimit = 100000

// Options configures the admin pages.
type Options struct {
	Audit Querier
	// Prefix is the gateway's static prefix ("" or "/mlflow"); the pages
	// live under Prefix + "/auth/admin/" and MLflow's under Prefix + "/".
	Prefix string
	// Explain, if set, powers the user view; nil shows "not configured".
	Explain ExplainFunc
	// SyncStatus, if set, returns the sync's status, shown as JSON.
	SyncStatus func() any
	// Names, if set, finds the MLflow usernames a query (a user ID, an
	// MLflow username or a login ID) names; the user page shows each with
	// the user's login ID then and now.
	Names func(ctx context.Context, q string) ([]naming.Record, error)
	// Keys, if set, lists every access key with a revoke button; nil shows
	// "not configured".
	Keys KeyManager
	// ExportLimit bounds the rows of one export (default
	// DefaultExportLimit).
	ExportLimit int
	Logger      *slog.Logger
	Now         func() time.Time
}

type handler struct {
	opts  Options
	base  string // Prefix + "/auth/admin/"
	log   *slog.Logger
	pages *template.Template
}

// New returns the admin pages' handler.
func New(opts Options) (http.Handler, error) {
	if opts.Audit == nil {
		return nil, errors.New("admin: audit store is required")
	}
	if opts.ExportLimit <= 0 {
		opts.ExportLimit = DefaultExportLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"duration": func(d time.Duration) string { return d.Round(time.Microsecond).String() },
		"dict":     dict,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("admin: parse templates: %w", err)
	}
	h := &handler{opts: opts, base: opts.Prefix + "/auth/admin/", log: opts.Logger, pages: pages}
	return h.routes(), nil
}

// dict builds a map for a sub-template: dict "Key" value "Key2" value2.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("admin: dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("admin: dict: key is not a string")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

func (h *handler) routes() http.Handler {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // embedded at build time
	}
	mux := http.NewServeMux()
	b := h.base
	mux.HandleFunc("GET "+b+"{$}", h.showHome)
	mux.HandleFunc("GET "+b+"audit", h.showAudit)
	mux.HandleFunc("GET "+b+"audit.csv", h.exportCSV)
	mux.HandleFunc("GET "+b+"audit.json", h.exportJSON)
	mux.HandleFunc("GET "+b+"users", h.showUser)
	mux.HandleFunc("GET "+b+"sync", h.showSync)
	mux.HandleFunc("GET "+b+"keys", h.showKeys)
	mux.HandleFunc("POST "+b+"keys/{id}/revoke", h.revokeKey)
	mux.Handle("GET "+b+"static/", http.StripPrefix(b+"static/", http.FileServerFS(static)))
	mux.HandleFunc(b, h.notFound)
	return requireAdmin(securityHeaders(mux))
}

// requireAdmin refuses anything without an admin identity. The gateway
// already checked; this keeps the handler safe if it is ever mounted
// elsewhere.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := gateway.IdentityFrom(r.Context())
		if id == nil || !id.Admin {
			http.Error(w, "gateway admins only", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		// same-origin: under no-referrer browsers post forms (revoke a
		// key) with "Origin: null", which the cross-site rule refuses.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title  string
	Base   string // admin pages
	MLflow string // MLflow's UI root
	Viewer *gateway.Identity
	Data   any
}

func (h *handler) page(r *http.Request, title string, data any) page {
	return page{Title: title, Base: h.base, MLflow: h.opts.Prefix + "/", Viewer: gateway.IdentityFrom(r.Context()), Data: data}
}

// render executes a template into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, p); err != nil {
		h.log.Error("render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error.html", h.page(r, "Error", msg))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "There is no such admin page.")
}

// showHome lists recent sign-ins and links to everything else.
func (h *handler) showHome(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	signIns, err := h.opts.Audit.Query(ctx, audit.Filter{Action: audit.ActionSignIn, Limit: 25})
	if err != nil {
		h.log.Error("query sign-ins", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "The audit log could not be read.")
		return
	}
	h.render(w, r, http.StatusOK, "home.html", h.page(r, "Gateway admin", map[string]any{
		"SignIns":    signIns.Events,
		"Explain":    h.opts.Explain != nil,
		"SyncStatus": h.opts.SyncStatus != nil,
	}))
}
