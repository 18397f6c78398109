package gatewaytest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// The published packages the test runs: the component version the gateway
// loads by default, and the UI library version the simulator's config.json
// names (the one 4.3.2 was published with).
const (
	webComponentVersion = "4.3.2"
	uiVersion           = descopesim.DefaultUIComponentsVersion
)

// cdn serves the unpacked npm packages the way Descope's CDN lays them out
// (/npm/<name>@<version>/...), from loopback, readable from any origin (the
// UI library's chunks are loaded with crossorigin=anonymous).
func cdn(t *testing.T) *httptest.Server {
	t.Helper()
	pkgs := map[string]string{
		"/npm/@descope/web-component@" + webComponentVersion + "/": testenv.NPMPackage(t, "@descope/web-component", webComponentVersion),
		"/npm/@descope/web-components-ui@" + uiVersion + "/":       testenv.NPMPackage(t, "@descope/web-components-ui", uiVersion),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		for prefix, dir := range pkgs {
			if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
				http.ServeFile(w, r, filepath.Join(dir, filepath.FromSlash(filepath.Clean("/"+rest))))
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deepQuery finds the first element matching a selector anywhere, shadow
// roots included (the component renders its screen in its shadow root, and
// the UI library's fields keep their input in theirs).
const deepQuery = `function deepQuery(root, sel) {
  const found = root.querySelector(sel);
  if (found) return found;
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) { const f = deepQuery(el.shadowRoot, sel); if (f) return f; }
  }
  return null;
}
function loginInput() {
  const field = deepQuery(document, "descope-text-field[name=loginId]");
  return field && deepQuery(field.shadowRoot || field, "input");
}`

// withDeepQuery wraps body (statements ending in a return) into one
// expression that can use deepQuery.
func withDeepQuery(body string) string {
	return "(() => { " + deepQuery + "\n" + body + " })()"
}

// TestRealWebComponentSignIn signs a user in through the real
// @descope/web-component (from npm) in headless Chromium, in each token
// delivery mode: the component fetches the flow's config, theme and screen
// from the simulator, loads the real UI library, starts the flow, submits
// the login ID with /v1/flow/next and fires its real success event; the
// gateway's login page hands the tokens (or, in cookie modes, Descope's
// cookies) to /auth/session. In the cookie mode the session JWT lives 2 s:
// the user is still signed in after it expired, by a server-side refresh
// that reads Descope's Set-Cookie.
func TestRealWebComponentSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	assets := cdn(t) // before the browser: a missing npm skips here
	ctx := testenv.Browser(t)
	for _, mode := range []string{descopesim.DeliveryBody, descopesim.DeliveryRefreshCookie, descopesim.DeliveryCookies} {
		t.Run(mode, func(t *testing.T) {
			sessionTTL := time.Duration(0)
			if mode == descopesim.DeliveryCookies {
				sessionTTL = 2 * time.Second
			}
			sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001",
				Delivery: descopesim.TokenDelivery{Mode: mode}, FlowSessionTTL: sessionTTL})
			if err != nil {
				t.Fatalf("descopesim: %v", err)
			}
			t.Cleanup(func() { sim.Close() })
			g := gatewaytest.New(t, gatewaytest.Options{
				Sim: sim,
				Env: []string{
					"DESCOPE_WEB_COMPONENT_URL=" + assets.URL + "/npm/@descope/web-component@" + webComponentVersion + "/dist/index.js",
					"DESCOPE_BASE_STATIC_URL=" + sim.URL() + "/pages",
					"DESCOPE_BASE_CDN_URL=" + assets.URL,
				},
			})
			u := g.User(t, "U2real"+strings.ReplaceAll(mode, "-", ""))
			runRealSignIn(t, ctx, g, u, mode, sessionTTL)
		})
	}
}

func runRealSignIn(t *testing.T, parent context.Context, g *gatewaytest.Gateway, u descopesim.User, mode string, sessionTTL time.Duration) {
	tctx, cancelTab := chromedp.NewContext(parent) // a fresh tab; cookies are per browser, so hosts differ per run anyway
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tctx, 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			console = append(console, string(e.Type)+": "+strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			console = append(console, fmt.Sprintf("exception: %s %v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		}
	}); err != nil {
		t.Fatal(err)
	}
	art := testenv.Artifacts(t)
	shot := func(name string) {
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(art, strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+"-"+name+".png"), b, 0o644)
		}
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
		}
	}
	fail := func(format string, a ...any) {
		t.Helper()
		shot("failed")
		dom, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const wc = document.querySelector("descope-wc"); return wc && wc.shadowRoot ? wc.shadowRoot.innerHTML.slice(0, 3000) : "no shadow root"; })()`))
		t.Logf("component DOM: %s", dom)
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf(format+"\nbrowser console:\n%s\nsimulator calls: %v", append(a, strings.Join(console, "\n"), g.Sim.Counts())...)
	}

	login := g.URL + "/auth/login?next=%2Fwhoami-after-sign-in"
	if _, err := chromedp.Run(ctx, chromedp.Navigate(login)); err != nil {
		fail("open the login page: %v", err)
	}
	// The real screen: the UI library's text field rendered in the
	// component's shadow root, with its input inside.
	waitFor := withDeepQuery(`const i = loginInput(); return !!i && i.getBoundingClientRect().width > 0;`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](waitFor, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		fail("the component's screen did not render: %v", err)
	}
	shot("1-flow-screen")
	focus := withDeepQuery(`loginInput().focus(); return true;`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](focus)); err != nil {
		fail("focus the login ID field: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(u.Email)); err != nil {
		fail("type the login ID: %v", err)
	}
	// A real click in the middle of the component's Continue button.
	type point struct{ X, Y float64 }
	at := withDeepQuery(`const r = deepQuery(document, "descope-button#submitterId").getBoundingClientRect(); return {X: r.x + r.width/2, Y: r.y + r.height/2};`)
	p, err := chromedp.Run(ctx, chromedp.Evaluate[point](at))
	if err != nil {
		fail("find the Continue button: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(p.X, p.Y)); err != nil {
		fail("click Continue: %v", err)
	}
	// login.js redirects to next once the gateway holds the session.
	// (Polled from here: the navigation ends any in-page wait.)
	var path string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if path, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); path == "/whoami-after-sign-in" {
			break
		}
	}
	if path != "/whoami-after-sign-in" {
		errText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("mda-error") || {}).textContent || ""`))
		fail("no redirect after the success event (at %q, page error %q)", path, errText)
	}
	shot("2-signed-in")
	if g.Sim.Count("/v1/flow/start") != 1 || g.Sim.Count("/v1/flow/next") != 1 {
		fail("flow calls: start %d, next %d; want 1 each", g.Sim.Count("/v1/flow/start"), g.Sim.Count("/v1/flow/next"))
	}
	// Signed in as the user, in the browser's own cookie session.
	whoami := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/auth/whoami", {headers: {Accept: "application/json"}}).then(r => r.text().then(b => r.status + " " + b))`, chromedp.EvalAwaitPromise))
		if err != nil {
			fail("whoami: %v", err)
		}
		return v
	}
	if got := whoami(); !strings.HasPrefix(got, "200") || !strings.Contains(got, u.ID) {
		fail("whoami after sign-in = %q; want 200 for %s", got, u.ID)
	}
	// Nothing the component stored is left where MLflow's scripts could read it.
	left, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Object.keys(localStorage).concat(Object.keys(sessionStorage)).join(",")`))
	if err != nil || left != "" {
		fail("storage after sign-in holds %q (%v); want nothing", left, err)
	}
	// The browser holds no token script can read.
	if jsCookies, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); jsCookies != "" {
		fail("document.cookie = %q; want no script-readable cookie", jsCookies)
	}
	if sessionTTL > 0 {
		// Past the session JWT's expiry (and the verifier's 5 s leeway), a
		// page load is answered after a refresh that read Set-Cookie.
		before := g.Sim.Count("/v1/auth/refresh")
		time.Sleep(sessionTTL + 6*time.Second)
		if _, err := chromedp.Run(ctx, chromedp.Navigate(g.URL+"/after-expiry")); err != nil {
			fail("reload: %v", err)
		}
		if got := whoami(); !strings.HasPrefix(got, "200") || !strings.Contains(got, u.ID) {
			fail("whoami after the session JWT expired = %q; want still signed in", got)
		}
		if g.Sim.Count("/v1/auth/refresh") == before {
			fail("no refresh at Descope after the session JWT expired")
		}
		shot("3-after-refresh")
	}
	fmt.Fprintf(os.Stderr, "real component sign-in (%s): ok, simulator calls %v\n", mode, g.Sim.Counts())
}
