package admin_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// signIn puts a session cookie for the gateway in the browser.
func signIn(ctx context.Context, url, sessionJWT string) error {
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "mlflow_ds", Value: sessionJWT, URL: url, Path: "/"})
	return err
}

// TestBrowserAdminPage uses the admin pages in Chromium: the filter form,
// paging, the CSV export as a download, and a non-admin's refusal.
func TestBrowserAdminPage(t *testing.T) {
	t.Parallel()
	s := newSite(t, admin.Options{})
	bctx := testenv.Browser(t)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	downloads := t.TempDir()

	if err := signIn(ctx, s.g.URL, s.admin); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.g.URL+"/auth/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#nav-audit")),
	)
	if err != nil {
		t.Fatalf("home: %v", err)
	}
	home, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(home, "Recent sign-ins") || !strings.Contains(home, "U2alice") {
		t.Errorf("home page: %.300s", home)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-audit")),
		chromedp.WaitVisible(chromedp.CSS("#filters")),
		chromedp.SendKeys(chromedp.CSS("#f-user"), "bob"),
		chromedp.SetValue(chromedp.CSS("#f-outcome"), "denied"),
		chromedp.Click(chromedp.CSS("#f-apply")),
		chromedp.WaitVisible(chromedp.CSS(`#f-user[value="bob"]`)),
	)
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.event").length`))
	users, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("tr.event td.user")].map(e => e.textContent).join("|")`))
	outcomes, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("tr.event td.outcome")].map(e => e.textContent).join("|")`))
	// bob is i%3==1; denied is i%7==0: i = 7, 28, 49, 70, 91, 112.
	if rows != 6 || strings.Count(users, "U2bob") != 6 || strings.Count(outcomes, "denied") != 6 {
		t.Errorf("filtered rows %d, users %q, outcomes %q", rows, users, outcomes)
	}

	// Paging: 121 events, 25 a page, newest (121) first.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.g.URL+"/auth/admin/audit?limit=25"),
		chromedp.Click(chromedp.CSS("#page-next")),
		chromedp.WaitVisible(chromedp.CSS("#page-first")),
	)
	if err != nil {
		t.Fatalf("paging: %v", err)
	}
	if next, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("tr.event").dataset.id`)); next != "96" {
		t.Errorf("second page starts at id %s; want 96", next)
	}

	// Export the filtered view as CSV through its link.
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("download behavior: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.g.URL+"/auth/admin/audit?user=bob&outcome=denied"),
		chromedp.WaitVisible(chromedp.CSS("#export-csv")),
		chromedp.Click(chromedp.CSS("#export-csv")),
	)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var file string
	for deadline := time.Now().Add(20 * time.Second); file == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(downloads, "audit-*.csv"))
		if len(m) == 1 {
			file = m[0]
		}
	}
	if file == "" {
		t.Fatal("no CSV was downloaded")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 {
		t.Fatalf("csv has %d rows; want header + 6", len(recs))
	}
	for _, r := range recs[1:] {
		if r[6] != "U2bob" || r[3] != "denied" {
			t.Errorf("csv row %v", r)
		}
	}

	// A signed-in non-admin gets the refusal page.
	if err := signIn(ctx, s.g.URL, s.user); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.g.URL+"/auth/admin/audit")); err != nil {
		t.Fatalf("non-admin: %v", err)
	}
	refused, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(refused, "Admins only") || strings.Contains(refused, "U2alice") {
		t.Errorf("non-admin saw: %.300s", refused)
	}
}
