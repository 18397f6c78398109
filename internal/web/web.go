// Package web holds the gateway's embedded pages and static files.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Pages parses every page template. Templates are parsed once at start-up.
func Pages() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/*.html")
}

// Static returns the static files (scripts, styles) served under /auth/static/.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		// The directory is embedded at build time; its absence is a build bug.
		panic(err)
	}
	return sub
}

// InjectBanner returns MLflow's UI page with the gateway's banner (who is
// signed in, sign-out) added before </head>; a page without </head> is
// returned unchanged. prefix is the static prefix ("" or "/mlflow").
func InjectBanner(page []byte, prefix string) []byte {
	i := bytes.LastIndex(page, []byte("</head>"))
	if i < 0 {
		return page
	}
	// The stylesheet keeps the banner's strip from the first paint, so
	// MLflow is laid out below it and never jumps.
	tag := `<link rel="stylesheet" href="` + prefix + `/auth/static/banner.css">` +
		`<script src="` + prefix + `/auth/static/banner.js" data-prefix="` + prefix + `" defer></script>`
	out := make([]byte, 0, len(page)+len(tag))
	out = append(out, page[:i]...)
	out = append(out, tag...)
	return append(out, page[i:]...)
}
