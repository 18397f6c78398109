package descopesim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebComponentInBrowser loads the stand-in component from the simulator
// into a page on another origin, signs in and checks the events and
// localStorage. It is skipped when no Chromium is installed.
func TestWebComponentInBrowser(t *testing.T) {
	t.Parallel()
	var browser string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium found")
	}
	s := newSim(t, Options{AutoSignUp: true})
	tests := []struct {
		name      string
		loginID   string
		wantEvent string
	}{
		{name: "success", loginID: "browser@example.com", wantEvent: "success"},
		{name: "error", loginID: "disabled@example.com", wantEvent: "error"},
	}
	mustUser(t, s, User{ID: "U2off", Email: "disabled@example.com", Status: StatusDisabled})

	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body>
<script src="%s/npm/@descope/web-component@4.3.1/dist/index.js"></script>
<descope-wc project-id="%s" flow-id="sign-up-or-in"></descope-wc>
<script>
window.events = [];
const wc = document.querySelector("descope-wc");
document.addEventListener("ready", () => window.events.push("ready"));
document.addEventListener("success", (e) => { window.events.push("success"); window.detail = e.detail; });
document.addEventListener("error", (e) => { window.events.push("error"); window.detail = e.detail; });
</script></body></html>`, s.URL(), s.ProjectID())
	}))
	t.Cleanup(page.Close)

	for _, tt := range tests { // sequential: one browser at a time is kinder to CI
		t.Run(tt.name, func(t *testing.T) {
			allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
				append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox)...)
			defer cancelAlloc()
			bctx, cancel := chromedp.NewContext(allocCtx)
			defer cancel()
			if err := chromedp.Do(bctx); err != nil { // starts the browser
				t.Fatalf("start browser: %v", err)
			}
			ctx, cancelT := context.WithTimeout(bctx, 30*time.Second)
			defer cancelT()

			err := chromedp.Do(ctx,
				chromedp.Navigate(page.URL),
				chromedp.WaitVisible(chromedp.ID("descope-login-id")),
				chromedp.SendKeys(chromedp.ID("descope-login-id"), tt.loginID),
				chromedp.Click(chromedp.ID("descope-submit")),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.events.filter(e => e !== "ready").length > 0`)); err != nil {
				t.Fatalf("waiting for an event: %v", err)
			}
			eval := func(expr string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
				if err != nil {
					t.Fatalf("evaluate %s: %v", expr, err)
				}
				return v
			}
			event := eval(`window.events.filter(e => e !== "ready").join(",")`)
			storedDS := eval(`localStorage.getItem("DS") || ""`)
			detailCode := eval(`(window.detail && (window.detail.sessionJwt ? "jwt" : window.detail.errorCode)) || ""`)
			if ready := eval(`window.events[0] || ""`); ready != "ready" {
				t.Errorf("first event = %q; want ready", ready)
			}
			if event != tt.wantEvent {
				t.Fatalf("event = %q; want %q (detail %q)", event, tt.wantEvent, detailCode)
			}
			if tt.wantEvent == "success" {
				if storedDS == "" || detailCode != "jwt" {
					t.Errorf("DS stored = %v, detail = %q; want the session JWT", storedDS != "", detailCode)
				}
				if _, err := verifyJWKS(t, s, storedDS); err != nil {
					t.Errorf("stored DS: %v", err)
				}
			} else if detailCode == "" {
				t.Errorf("error event without errorCode")
			}
		})
	}
}
