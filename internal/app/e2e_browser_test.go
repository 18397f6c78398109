package app_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// TestBrowserSignInCreateSignOut drives the real login page, the simulator's
// stand-in web component and the real MLflow UI in headless Chromium.
func TestBrowserSignInCreateSignOut(t *testing.T) {
	st := startStack(t)
	runBrowserFlow(t, st, "")
}

// runBrowserFlow signs in through the browser at st.url+prefix, checks the
// MLflow UI, creates an experiment in it, signs out, and shows the old
// cookies no longer work.
func runBrowserFlow(t *testing.T, st *stack, prefix string) {
	t.Helper()
	ctx := testenv.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	shot := screenshots(t, ctx)
	defer func() {
		if t.Failed() {
			shot("failure")
		}
	}()
	base := st.url + prefix

	// An unauthenticated visit lands on the login page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#descope-login-id")),
	); err != nil {
		t.Fatalf("login page: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(loc, base+"/auth/login") {
		t.Fatalf("landed on %s, want the login page", loc)
	}
	shot("1-login")

	// Sign in through the (stand-in) Descope flow.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#descope-login-id"), "alice@example.com"),
		chromedp.Click(chromedp.CSS("#descope-submit")),
		chromedp.WaitVisible(chromedp.CSS("#mda-banner")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The MLflow UI shows the experiments list with the Default experiment.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/#/experiments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-experiment-button"]`)),
	); err != nil {
		t.Fatalf("experiments page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.innerText.includes("Default")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("experiments list did not load: %v", err)
	}
	banner, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#mda-banner")))
	if !strings.Contains(banner, "Sign out") || !strings.Contains(banner, "alice") {
		t.Errorf("banner = %q, want the user and a sign-out link", banner)
	}
	// The web component's localStorage copies are gone.
	if leftover, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(localStorage.getItem("DS")||"") + (localStorage.getItem("DSR")||"")`)); leftover != "" {
		t.Error("session tokens left in localStorage")
	}
	if js, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(js, "mlflow_ds") {
		t.Errorf("session cookie readable by JavaScript: %q", js)
	}
	shot("2-experiments")

	// Create an experiment through the UI's own dialog.
	name := "ui-created-" + time.Now().Format("150405.000")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="create-experiment-button"]`)),
		chromedp.WaitVisible(chromedp.CSS("#experimentName")),
		chromedp.SendKeys(chromedp.CSS("#experimentName"), name),
	); err != nil {
		t.Fatalf("open create dialog: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const dialog = document.querySelector('[role="dialog"]');
		const b = Array.from((dialog || document).querySelectorAll('button')).find(b => b.innerText.trim() === "Create");
		if (b) { b.click(); return true; } return false; })()`)); err != nil {
		t.Fatalf("click create: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.innerText.includes("`+name+`")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("new experiment not shown: %v", err)
	}
	shot("3-created")

	// Keep the cookies, then sign out with the banner's link.
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("cookies: %v", err)
	}
	var old []*http.Cookie
	for _, c := range res.Cookies {
		if strings.Contains(c.Name, "mlflow_ds") {
			old = append(old, &http.Cookie{Name: c.Name, Value: c.Value})
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("cookie %s: HttpOnly=%v SameSite=%v", c.Name, c.HTTPOnly, c.SameSite)
			}
		}
	}
	if len(old) != 2 {
		t.Fatalf("session cookies = %d, want 2", len(old))
	}
	// The created experiment really exists in MLflow, as alice's.
	if code := getWithCookies(t, base+"/api/2.0/mlflow/experiments/get-by-name?experiment_name="+name, old); code != http.StatusOK {
		t.Errorf("experiment lookup with the session: %d", code)
	}
	// One real mouse click on the banner's sign-out (MLflow's popovers must
	// not swallow it).
	xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector("#mda-signout").getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`))
	if err != nil || len(xy) != 2 {
		t.Fatalf("find sign-out: %v", err)
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := chromedp.Do(sctx,
		chromedp.MouseClickXY(xy[0], xy[1]),
		chromedp.WaitVisible(chromedp.CSS("#descope-login-id")),
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("sign out: %v (at %s)", err, loc)
	}
	shot("4-signed-out")
	if code := getWithCookies(t, base+"/api/2.0/mlflow/experiments/search?max_results=1", old); code != http.StatusUnauthorized {
		t.Errorf("old cookies after sign-out: status %d, want 401", code)
	}
}

// screenshots returns a function that saves a full-page screenshot of ctx's
// tab as <test name>-<name>.png in the test artifacts.
func screenshots(t *testing.T, ctx context.Context) func(name string) {
	art := testenv.Artifacts(t)
	return func(name string) {
		if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(art, sanitize(t.Name())+"-"+name+".png"), b, 0o644)
		}
	}
}

func getWithCookies(t *testing.T, url string, cookies []*http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBrowserUnderPathPrefix runs MLflow under --static-prefix behind the
// gateway (as behind a load balancer routing /mlflow) and repeats the whole
// browser flow there.
func TestBrowserUnderPathPrefix(t *testing.T) {
	st := startStack(t, "MLFLOW_DESCOPE_STATIC_PREFIX=/mlflow")
	runBrowserFlow(t, st, "/mlflow")
	// Outside the prefix there is nothing.
	resp, err := http.Get(st.url + "/api/2.0/mlflow/experiments/search")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("outside the prefix: %d, want 404", resp.StatusCode)
	}
}
