// Package ui serves MLflow's web UI — the React build inside the mlflow
// Python package, which `mlflow server` serves as index.html at its root
// and every other file under /static-files/ — from the gateway itself:
// compressed with brotli and gzip once (at start-up, kept on disk across
// restarts), with strong ETags, and content-hashed files cached by
// browsers as immutable. MLflow sends the same files uncompressed through a
// Python worker.
//
// The gateway serves these files only to authenticated users, exactly
// where it would have proxied them (internal/gateway); this package does no
// access control.
package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// Options configure Files.
type Options struct {
	// Dir is MLflow's UI build directory (index.html, static/, …).
	Dir string
	// CacheDir keeps the compressed copies and the rewritten index.html,
	// named by content hash; created if missing. Several gateways may
	// share it.
	CacheDir string
	// Page rewrites the top-level index.html once, at Open (the gateway's
	// banner); nil: served as it is.
	Page func([]byte) []byte
	// Logger; nil discards.
	Logger *slog.Logger
}

// Files is an index of the UI build directory. Serve answers from it; run
// Compress in the background to add the compressed copies.
type Files struct {
	opts  Options
	log   *slog.Logger
	files map[string]*file
	order []*file // compression order
	ready atomic.Bool
}

// file is one file of the build.
type file struct {
	name      string // slash-separated, relative to Dir
	path      string // where its bytes are: Dir/name, or the rewritten page in CacheDir
	size      int64
	modTime   time.Time // of path at Open: a change means MLflow was reinstalled underneath
	sum       string    // hex SHA-256 of the bytes served
	ctype     string
	immutable bool // a content-hashed name
	page      bool // the UI's index.html
	compress  bool
	enc       atomic.Pointer[encodings]
}

// encodings are the compressed copies of a file, when smaller.
type encodings struct {
	br, gzip *variant
}

type variant struct {
	path string
	size int64
}

// Limits of what Open indexes: MLflow 3.17's build is ~400 files, 27 MB.
const (
	maxFiles     = 20000
	maxTotalSize = 1 << 30
	// minCompress: smaller files are sent as they are.
	minCompress = 512
)

// hashedName matches build file names that contain a content hash
// (main.c2f5f8d4.js, x.16b289c2599c81a29db9.mjs, ….js.LICENSE.txt): a new
// build gives them new names, so browsers may keep them for good.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{8,}\.`)

// Open indexes opts.Dir: every regular file (symbolic links are skipped)
// with its SHA-256, type and cache policy. The top-level index.html is
// rewritten by opts.Page and kept in opts.CacheDir.
func Open(opts Options) (*Files, error) {
	if opts.Dir == "" || opts.CacheDir == "" {
		return nil, errors.New("ui: Dir and CacheDir are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if info, err := os.Stat(filepath.Join(opts.Dir, "index.html")); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("ui: %s is not MLflow's UI build directory (no index.html)", opts.Dir)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("ui: cache dir: %w", err)
	}
	f := &Files{opts: opts, log: opts.Logger.With("component", "ui"), files: map[string]*file{}}
	var total int64
	err := filepath.WalkDir(opts.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(opts.Dir, p)
		if err != nil {
			return err
		}
		if len(f.files) >= maxFiles {
			return fmt.Errorf("more than %d files", maxFiles)
		}
		e, err := f.index(filepath.ToSlash(rel), p)
		if err != nil {
			return err
		}
		if total += e.size; total > maxTotalSize {
			return fmt.Errorf("more than %d bytes", maxTotalSize)
		}
		f.files[e.name] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: index %s: %w", opts.Dir, err)
	}
	f.order = compressionOrder(f.files)
	return f, nil
}

// index reads one file: its hash, and for the page its rewritten copy.
func (f *Files) index(name, p string) (*file, error) {
	e := &file{name: name, path: p, ctype: contentType(name)}
	base := path.Base(name)
	e.page = name == "index.html"
	e.immutable = !e.page && hashedName.MatchString(base)
	if e.page {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if f.opts.Page != nil {
			data = f.opts.Page(data)
		}
		sum := sha256.Sum256(data)
		e.sum = hex.EncodeToString(sum[:])
		e.path = filepath.Join(f.opts.CacheDir, e.sum+".html")
		if info, err := os.Stat(e.path); err != nil || info.Size() != int64(len(data)) {
			if err := writeOnce(e.path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
				return nil, err
			}
		}
	} else {
		sum, err := hashFile(p)
		if err != nil {
			return nil, err
		}
		e.sum = sum
	}
	info, err := os.Stat(e.path)
	if err != nil {
		return nil, err
	}
	e.size, e.modTime = info.Size(), info.ModTime()
	e.compress = e.size >= minCompress && compressible(name)
	return e, nil
}

func hashFile(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contentType by extension; text types say UTF-8.
func contentType(name string) string {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".js", ".mjs", ".cjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json", ".map":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".woff":
		return "font/woff"
	case ".ttf":
		return "font/ttf"
	case ".eot":
		return "application/vnd.ms-fontobject"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}

// compressible: text and uncompressed fonts and icons; not images or
// woff/woff2, which are compressed already.
func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs", ".cjs", ".css", ".html", ".json", ".map", ".txt", ".svg", ".ico", ".ttf", ".eot", ".otf", ".wasm", ".xml":
		return true
	}
	return false
}

// Has reports whether name (relative to the build directory) is a file of
// the UI.
func (f *Files) Has(name string) bool { _, ok := f.files[name]; return ok }

// Len is the number of files indexed.
func (f *Files) Len() int { return len(f.files) }

// Compressed reports whether Compress has finished.
func (f *Files) Compressed() bool { return f.ready.Load() }

// Serve answers a GET or HEAD for name (relative to the build directory:
// "index.html", "static/js/main.c2f5f8d4.js") and reports true, or reports
// false without writing anything when name is not a file of the build, or
// the file changed on disk since Open (MLflow was reinstalled underneath:
// MLflow itself serves the new one).
//
// Headers: Content-Type; a strong ETag per content and encoding, so that
// If-None-Match gets 304; Content-Encoding br or gzip when the client
// accepts it and the copy is ready; Vary: Accept-Encoding; Cache-Control
// "private, max-age=31536000, immutable" for content-hashed names, "private,
// no-cache" (revalidate) for the others, and "no-store" for index.html: a
// page kept in the browser's back-forward cache would show the signed-in
// UI again after sign-out, and the page is 1 KB.
func (f *Files) Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	e := f.files[name]
	if e == nil {
		return false
	}
	fh, err := os.Open(e.path)
	if err != nil {
		f.log.Warn("ui file unreadable; MLflow serves it", "file", name, "err", err)
		return false
	}
	defer fh.Close()
	if info, err := fh.Stat(); err != nil || info.Size() != e.size || !info.ModTime().Equal(e.modTime) {
		f.log.Warn("ui file changed since start-up; MLflow serves it (restart the gateway)", "file", name)
		return false
	}
	content, tag := io.ReadSeeker(fh), `"`+e.sum[:32]+`"`
	h := w.Header()
	if e.compress {
		h.Add("Vary", "Accept-Encoding")
		if enc := e.enc.Load(); enc != nil {
			if coding, v := choose(r.Header.Values("Accept-Encoding"), enc); v != nil {
				if vf, err := os.Open(v.path); err == nil {
					defer vf.Close()
					content, tag = vf, `"`+e.sum[:32]+"-"+coding+`"`
					h.Set("Content-Encoding", coding)
				}
			}
		}
	}
	h.Set("Content-Type", e.ctype)
	h.Set("ETag", tag)
	h.Set("X-Content-Type-Options", "nosniff")
	switch {
	case e.page:
		h.Set("Cache-Control", "no-store")
	case e.immutable:
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	default:
		h.Set("Cache-Control", "private, no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, content)
	return true
}

// Compress builds the brotli and gzip copies of every compressible file
// that CacheDir does not hold yet — the files index.html loads first, then
// the largest — on one goroutine (the gateway keeps its other core), and
// serves each copy as soon as it is ready. It returns when all are done or
// ctx ends.
func (f *Files) Compress(ctx context.Context) error {
	start := time.Now()
	codings := newCodings()
	// The compressors' tables are garbage afterwards: give the memory back
	// to the system rather than keep it resident until the next GC cycles.
	defer debug.FreeOSMemory()
	var in, brOut, gzOut, made int64
	for _, e := range f.order {
		if err := ctx.Err(); err != nil {
			return err
		}
		enc := &encodings{}
		for _, c := range codings {
			v, fresh, err := f.variant(e, c)
			if err != nil {
				f.log.Warn("ui compress", "file", e.name, "coding", c.name, "err", err)
				continue
			}
			if fresh {
				made++
			}
			if v == nil {
				continue
			}
			if c.name == "br" {
				enc.br, brOut = v, brOut+v.size
			} else {
				enc.gzip, gzOut = v, gzOut+v.size
			}
		}
		in += e.size
		e.enc.Store(enc)
	}
	f.ready.Store(true)
	f.log.Info("ui files compressed", "files", len(f.order), "new", made, "bytes", in,
		"brotli_bytes", brOut, "gzip_bytes", gzOut, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// variant returns e's copy in coding c from the cache, making it if
// needed (fresh). nil: compression does not make it smaller.
func (f *Files) variant(e *file, c coding) (v *variant, fresh bool, err error) {
	p := filepath.Join(f.opts.CacheDir, e.sum+"."+c.name)
	none := p + ".none" // marks "not smaller", so it is not tried again
	if info, err := os.Stat(p); err == nil && info.Size() > 0 {
		return &variant{path: p, size: info.Size()}, false, nil
	}
	if _, err := os.Stat(none); err == nil {
		return nil, false, nil
	}
	src, err := os.Open(e.path)
	if err != nil {
		return nil, false, err
	}
	defer src.Close()
	err = writeOnce(p, func(w io.Writer) error {
		cw := c.writer(w)
		if _, err := io.Copy(cw, src); err != nil {
			return err
		}
		return cw.Close()
	})
	if err != nil {
		return nil, true, err
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, true, err
	}
	if info.Size() >= e.size {
		_ = os.Remove(p)
		return nil, true, writeOnce(none, func(io.Writer) error { return nil })
	}
	return &variant{path: p, size: info.Size()}, true, nil
}

// writeOnce writes p through a temporary file and a rename, so a reader
// (or another gateway sharing the cache) never sees half a file.
func writeOnce(p string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("ui: cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("ui: cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ui: cache: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("ui: cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("ui: cache: %w", err)
	}
	return nil
}
