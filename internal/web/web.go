// Package web holds the gateway's embedded pages and static files.
package web

import (
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
