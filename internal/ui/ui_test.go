package ui

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// build writes a small stand-in for MLflow's UI build.
func build(t *testing.T) (dir string, files map[string][]byte) {
	t.Helper()
	dir = t.TempDir()
	js := bytes.Repeat([]byte("function mlflow(){return 'experiments';}\n"), 200)
	files = map[string][]byte{
		"index.html":                                 []byte(`<!doctype html><html><head><title>MLflow</title><script defer src="static-files/static/js/main.c2f5f8d4.js"></script></head><body></body></html>`),
		"static/js/main.c2f5f8d4.js":                 js,
		"static/js/12.0a1b2c3d.chunk.js":             bytes.Repeat([]byte("var chunk=1;"), 100),
		"static/media/logo.1a2b3c4d5e6f7a8b9c0d.png": bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 300),
		"favicon.ico":                                bytes.Repeat([]byte{0, 0, 1, 0}, 300),
		"manifest.json":                              []byte(`{"name":"MLflow"}`),
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "static", "passwd")); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func banner(page []byte) []byte {
	return bytes.Replace(page, []byte("</head>"), []byte("<script src=/auth/static/banner.js></script></head>"), 1)
}

func openFiles(t *testing.T, dir, cache string) *Files {
	t.Helper()
	f, err := Open(Options{Dir: dir, CacheDir: cache, Page: banner})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type answer struct {
	code    int
	header  http.Header
	decoded []byte
}

func fetch(t *testing.T, f *Files, name string, hdr map[string]string) (answer, bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/static-files/"+name, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	if !f.Serve(rec, req, name) {
		return answer{}, false
	}
	a := answer{code: rec.Code, header: rec.Header()}
	var r io.Reader = rec.Body
	switch rec.Header().Get("Content-Encoding") {
	case "br":
		r = brotli.NewReader(rec.Body)
	case "gzip":
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatalf("%s: gzip: %v", name, err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	a.decoded = b
	return a, true
}

func TestServeBeforeAndAfterCompression(t *testing.T) {
	t.Parallel()
	dir, files := build(t)
	f := openFiles(t, dir, t.TempDir())
	if f.Has("static/passwd") {
		t.Error("a symbolic link was indexed")
	}
	if _, ok := fetch(t, f, "static/passwd", nil); ok {
		t.Error("served a symbolic link")
	}
	if _, ok := fetch(t, f, "nope.js", nil); ok {
		t.Error("served a file that does not exist")
	}
	br := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	main := "static/js/main.c2f5f8d4.js"
	// Before the copies exist: the file as it is.
	a, _ := fetch(t, f, main, br)
	if a.code != 200 || a.header.Get("Content-Encoding") != "" || !bytes.Equal(a.decoded, files[main]) {
		t.Fatalf("before compression: %d %v", a.code, a.header)
	}
	identityTag := a.header.Get("ETag")

	if err := f.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !f.Compressed() {
		t.Error("Compressed() false after Compress")
	}
	tags := map[string]string{}
	for _, tc := range []struct {
		accept, want string
	}{
		{"gzip, deflate, br", "br"},
		{"gzip", "gzip"},
		{"x-gzip", "gzip"},
		{"br;q=0.5, gzip;q=0.9", "gzip"},
		{"br;q=0, gzip;q=0", ""},
		{"identity", ""},
		{"", ""},
		{"*", "br"},
		{"*;q=0, gzip", "gzip"},
	} {
		a, _ := fetch(t, f, main, map[string]string{"Accept-Encoding": tc.accept})
		if got := a.header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q; want %q", tc.accept, got, tc.want)
		}
		if !bytes.Equal(a.decoded, files[main]) {
			t.Errorf("Accept-Encoding %q: decoded body differs from the file", tc.accept)
		}
		if a.header.Get("Vary") != "Accept-Encoding" || a.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: headers %v", tc.accept, a.header)
		}
		if cc := a.header.Get("Cache-Control"); cc != "private, max-age=31536000, immutable" {
			t.Errorf("hashed file Cache-Control %q", cc)
		}
		tags[tc.want] = a.header.Get("ETag")
	}
	if tags[""] != identityTag || tags["br"] == tags["gzip"] || tags["br"] == tags[""] || !strings.HasPrefix(tags["br"], `"`) {
		t.Errorf("ETags must be strong and differ per encoding: %v (identity %s)", tags, identityTag)
	}
	// Revalidation with the tag of the copy the browser holds.
	a, _ = fetch(t, f, main, map[string]string{"Accept-Encoding": "br", "If-None-Match": tags["br"]})
	if a.code != http.StatusNotModified {
		t.Errorf("If-None-Match of the br copy: %d; want 304", a.code)
	}
	a, _ = fetch(t, f, main, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": tags["br"]})
	if a.code != http.StatusOK || a.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("If-None-Match of another copy: %d %v; want 200 gzip", a.code, a.header)
	}

	for _, tc := range []struct {
		name, cache string
		encoded     bool
	}{
		{"index.html", "no-store", false}, // too small here (MLflow's is larger)
		{"favicon.ico", "private, no-cache", true},
		{"manifest.json", "private, no-cache", false}, // too small to bother
		{"static/media/logo.1a2b3c4d5e6f7a8b9c0d.png", "private, max-age=31536000, immutable", false},
	} {
		a, _ := fetch(t, f, tc.name, br)
		if got := a.header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("%s: Cache-Control %q; want %q", tc.name, got, tc.cache)
		}
		if got := a.header.Get("Content-Encoding") == "br"; got != tc.encoded {
			t.Errorf("%s: brotli %v; want %v", tc.name, got, tc.encoded)
		}
		want := files[tc.name]
		if tc.name == "index.html" {
			want = banner(want)
		}
		if !bytes.Equal(a.decoded, want) {
			t.Errorf("%s: body %q; want %q", tc.name, a.decoded, want)
		}
	}
}

// The cache survives a restart: nothing is compressed again. A file
// changed on disk after start-up is left to MLflow.
func TestCacheIsReusedAndChangesAreNoticed(t *testing.T) {
	t.Parallel()
	dir, _ := build(t)
	cache := t.TempDir()
	f := openFiles(t, dir, cache)
	if err := f.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	mtimes := map[string]time.Time{}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		info, _ := e.Info()
		mtimes[e.Name()] = info.ModTime()
	}
	if len(mtimes) < 4 {
		t.Fatalf("cache holds %d files", len(mtimes))
	}
	time.Sleep(20 * time.Millisecond)
	g := openFiles(t, dir, cache)
	if err := g.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _ = os.ReadDir(cache)
	for _, e := range entries {
		info, _ := e.Info()
		if !info.ModTime().Equal(mtimes[e.Name()]) {
			t.Errorf("cache file %s written again", e.Name())
		}
	}
	a, _ := fetch(t, g, "static/js/main.c2f5f8d4.js", map[string]string{"Accept-Encoding": "br"})
	if a.header.Get("Content-Encoding") != "br" {
		t.Error("a restarted gateway does not serve the cached copy")
	}

	if err := os.WriteFile(filepath.Join(dir, "static/js/main.c2f5f8d4.js"), []byte("new build"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := fetch(t, g, "static/js/main.c2f5f8d4.js", nil); ok {
		t.Error("served a file whose content changed since start-up")
	}
}

func TestOpenRefusesWhatIsNotABuild(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Dir: t.TempDir(), CacheDir: t.TempDir()},
		{Dir: "", CacheDir: t.TempDir()},
		{Dir: t.TempDir()},
	} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}

func TestAcceptQ(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header []string
		coding string
		want   float64
	}{
		{[]string{"gzip, br"}, "br", 1},
		{[]string{"gzip;q=0.8"}, "gzip", 0.8},
		{[]string{"GZIP; Q=0.5"}, "gzip", 0.5},
		{[]string{"gzip;q=2"}, "gzip", 0},
		{[]string{"gzip;q=abc"}, "gzip", 0},
		{[]string{"deflate", "br;q=0.1"}, "br", 0.1},
		{[]string{"*;q=0.3"}, "br", 0.3},
		{[]string{"*;q=0.3, br;q=0"}, "br", 0},
		{nil, "br", 0},
		{[]string{";;,,;q="}, "br", 0},
	} {
		if got := acceptQ(tc.header, tc.coding); got != tc.want {
			t.Errorf("acceptQ(%q, %s) = %v; want %v", tc.header, tc.coding, got, tc.want)
		}
	}
}

// FuzzChoose: any Accept-Encoding header picks an existing copy or none,
// and never one the header refuses outright.
func FuzzChoose(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br", "br;q=0", "*", "gzip;q=0.5, *;q=0", ";q=,", "x-gzip;q=1.0"} {
		f.Add(s)
	}
	enc := &encodings{br: &variant{path: "b"}, gzip: &variant{path: "g"}}
	f.Fuzz(func(t *testing.T, header string) {
		name, v := choose([]string{header}, enc)
		switch name {
		case "":
			if v != nil {
				t.Fatal("identity with a variant")
			}
		case "br", "gzip":
			if v == nil || acceptQ([]string{header}, name) <= 0 {
				t.Fatalf("chose %s for %q", name, header)
			}
		default:
			t.Fatalf("chose %q", name)
		}
	})
}
