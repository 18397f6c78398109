package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

const uiMain = "static/js/main.c2f5f8d4.js"

// uiBuild writes a stand-in for MLflow's UI build directory.
func uiBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html": `<!doctype html><html><head><title>MLflow</title><script defer src="static-files/` + uiMain +
			`"></script></head><body><div id="root"></div></body></html>`,
		uiMain:        strings.Repeat("function experimentsList(){return 'secret-free bundle';}\n", 300),
		"favicon.ico": strings.Repeat("\x00\x00\x01\x00", 200),
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// waitCompressed waits until the gateway sends the bundle with brotli.
func waitCompressed(t *testing.T, c *http.Client, url string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, _ := do(t, c, "GET", url, map[string]string{"Accept-Encoding": "br"}, "")
		if resp.Header.Get("Content-Encoding") == "br" {
			return
		}
	}
	t.Fatal("the bundle was never sent compressed")
}

// TestUIFilesServedByTheGateway: with MLFLOW_DESCOPE_UI_DIR, a signed-in
// browser gets MLflow's page (with the banner) and its files from the
// gateway — compressed, cached, revalidated — and MLflow sees none of
// those requests; everyone else still only gets the sign-in page or a 401,
// exactly as when MLflow served them.
func TestUIFilesServedByTheGateway(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/mlflow"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{prefix: prefix, env: []string{"MLFLOW_DESCOPE_UI_DIR=" + uiBuild(t)}})
			base := h.gw.URL + prefix

			// Signed out: the page and the files are refused before anything
			// is read from the build.
			anon := browser(t)
			for _, path := range []string{"/", "/static-files/" + uiMain, "/static-files/favicon.ico", "/static-files/index.html"} {
				resp, body := do(t, anon, "GET", base+path, map[string]string{"Accept": "text/html", "Accept-Encoding": "br"}, "")
				if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
					t.Errorf("signed out, browser %s: %d, want a redirect to sign-in", path, resp.StatusCode)
				} else if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, prefix+"/auth/login") {
					t.Errorf("signed out, browser %s: redirected to %q", path, loc)
				}
				if strings.Contains(body, "experimentsList") || strings.Contains(body, "<div id=\"root\">") {
					t.Errorf("signed out, browser %s: UI content leaked", path)
				}
				resp, body = do(t, anon, "GET", base+path, map[string]string{"Accept-Encoding": "br"}, "")
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Encoding") != "" {
					t.Errorf("signed out, API client %s: %d %v", path, resp.StatusCode, resp.Header)
				}
				if strings.Contains(body, "experimentsList") {
					t.Errorf("signed out, API client %s: UI content leaked", path)
				}
			}
			req, _ := http.NewRequest("GET", base+"/static-files/"+uiMain, nil)
			req.Header.Set("Cookie", "mlflow_ds=not-a-jwt")
			if resp, body := send(t, browser(t), req); resp.StatusCode == http.StatusOK || strings.Contains(body, "experimentsList") {
				t.Errorf("forged cookie: %d", resp.StatusCode)
			}

			// Signed in.
			h.user(t, "U2ui")
			sess, ref := h.mint(t, "U2ui", descopesim.MintOptions{})
			c := browser(t)
			resp, body := do(t, c, "POST", base+"/auth/session", map[string]string{"Content-Type": "application/json", "Origin": h.gw.URL},
				`{"sessionJwt":"`+sess+`","refreshJwt":"`+ref+`"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("sign in: %d %s", resp.StatusCode, body)
			}
			before := h.up.count()

			resp, page := do(t, c, "GET", base+"/", map[string]string{"Accept": "text/html"}, "")
			if resp.StatusCode != 200 || !strings.Contains(page, prefix+"/auth/static/banner.js") || !strings.Contains(page, `<div id="root">`) {
				t.Fatalf("signed in, page: %d %s", resp.StatusCode, page)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("page Cache-Control %q; want no-store (not kept for the back button after sign-out)", cc)
			}

			waitCompressed(t, c, base+"/static-files/"+uiMain)
			resp, raw := do(t, c, "GET", base+"/static-files/"+uiMain, map[string]string{"Accept-Encoding": "gzip, br"}, "")
			js, err := io.ReadAll(brotli.NewReader(strings.NewReader(raw)))
			if err != nil || !bytes.Contains(js, []byte("experimentsList")) {
				t.Fatalf("bundle: %d %v %v", resp.StatusCode, resp.Header, err)
			}
			if len(raw)*3 > len(js) {
				t.Errorf("bundle sent in %d bytes for %d; want it compressed", len(raw), len(js))
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("hashed bundle Cache-Control %q", cc)
			}
			tag := resp.Header.Get("ETag")
			resp, _ = do(t, c, "GET", base+"/static-files/"+uiMain, map[string]string{"Accept-Encoding": "br", "If-None-Match": tag}, "")
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with the ETag: %d; want 304", resp.StatusCode)
			}
			resp, _ = do(t, c, "GET", base+"/static-files/favicon.ico", nil, "")
			if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || cc != "private, no-cache" {
				t.Errorf("favicon: %d, Cache-Control %q", resp.StatusCode, cc)
			}
			if n := h.up.count(); n != before {
				t.Errorf("%d UI requests reached MLflow; the gateway serves them", n-before)
			}

			// What the build does not hold still goes to MLflow.
			resp, _ = do(t, c, "GET", base+"/static-files/not-in-the-build.js", nil, "")
			if h.up.count() != before+1 || h.up.last(t).Path != prefix+"/static-files/not-in-the-build.js" {
				t.Errorf("a file outside the build did not reach MLflow: %d", resp.StatusCode)
			}
		})
	}
}

// With MLFLOW_DESCOPE_SERVE_UI=false MLflow serves the UI, as before: the
// page goes through the proxy and gets the banner there.
func TestUIFilesFromMLflowWhenTurnedOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{env: []string{"MLFLOW_DESCOPE_UI_DIR=" + uiBuild(t), "MLFLOW_DESCOPE_SERVE_UI=false"}})
	h.user(t, "U2off")
	sess, ref := h.mint(t, "U2off", descopesim.MintOptions{})
	c := browser(t)
	h.signIn(t, c, sess, ref).Body.Close()
	resp, page := do(t, c, "GET", h.gw.URL+"/", map[string]string{"Accept": "text/html"}, "")
	if resp.StatusCode != 200 || h.up.last(t).Path != "/" || !strings.Contains(page, "/auth/static/banner.js") {
		t.Errorf("page from MLflow: %d %s", resp.StatusCode, page)
	}
}
