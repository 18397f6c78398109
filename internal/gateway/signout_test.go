package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// TestBrowserConfirmedSignOut: the sign-out confirmation page (GET
// /auth/logout) signs a real browser out. Its form posts to the gateway's
// own origin, which the cross-site rule requires; under
// "Referrer-Policy: no-referrer" Chromium sends such a post with
// "Origin: null" and the gateway refused it (found with the self-service
// pages' forms).
func TestBrowserConfirmedSignOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2bye")
	sess, ref := h.mint(t, "U2bye", descopesim.MintOptions{})
	ctx, cancel := context.WithTimeout(testenv.Browser(t), 2*time.Minute)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"mlflow_ds": sess, "mlflow_dsr": ref} {
		if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: v, URL: h.gw.URL, Path: "/"}); err != nil {
			t.Fatal(err)
		}
	}
	// A bound on the flow, not on the test: the diagnostics below still
	// need the browser.
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	err := chromedp.Do(fctx,
		chromedp.Navigate(h.gw.URL+"/auth/logout"),
		chromedp.WaitVisible(chromedp.CSS("#mda-confirm-signout")),
		chromedp.Click(chromedp.CSS("#mda-confirm-signout")),
		// The signed-out page clears the component's storage and goes on to
		// the login page.
		chromedp.WaitVisible(chromedp.CSS("#descope-login-id")),
	)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("sign out from the confirmation page: %v (at %s: %.200q)", err, loc, text)
	}
	resp, _ := do(t, browser(t), http.MethodGet, h.gw.URL+"/api/2.0/mlflow/experiments/search",
		map[string]string{"Cookie": "mlflow_ds=" + sess + "; mlflow_dsr=" + ref}, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session after sign-out: status %d, want 401", resp.StatusCode)
	}
}

// TestPagesReferrerPolicy: the gateway's pages send their referrer to their
// own origin only, so their forms' posts carry an Origin the cross-site
// rule accepts (see TestBrowserConfirmedSignOut), and nothing of the URL
// leaves for another site.
func TestPagesReferrerPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, p := range []string{"/auth/login", "/auth/logout"} {
		resp, _ := do(t, browser(t), http.MethodGet, h.gw.URL+p, map[string]string{"Accept": "text/html"}, "")
		if got := resp.Header.Get("Referrer-Policy"); resp.StatusCode != http.StatusOK || got != "same-origin" {
			t.Errorf("GET %s: status %d, Referrer-Policy %q; want 200 and same-origin", p, resp.StatusCode, got)
		}
	}
}
