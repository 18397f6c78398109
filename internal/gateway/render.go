package gateway

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

func parsePages() (*template.Template, error) {
	t, err := web.Pages()
	if err != nil {
		return nil, fmt.Errorf("gateway: parse templates: %w", err)
	}
	return t, nil
}

// render executes a template into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("render", "template", name, "err", err, "request_id", stateOf(r.Context()).id)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers post the
	// pages' forms (the sign-out confirmation) with "Origin: null", which
	// the cross-site rule refuses. Other sites still get no referrer.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if hd.Get("Content-Security-Policy") == "" {
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
