package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// namesMapping makes tenant T2TenantA the workspace team-a; its
// "tenant-admin" manages the workspace (an MLflow workspace admin, not an
// MLflow admin), its "member" may use it.
const namesMapping = `{
  "tenant_roles": [
    {"descope_role": "tenant-admin", "workspace_permission": "MANAGE"},
    {"descope_role": "member", "workspace_permission": "USE"}
  ],
  "tenants": [{"tenant_id": "T2TenantA", "workspace": "team-a"}]
}`

// TestBrowserReadableUsernames is issue 16 in the real MLflow UI, on one
// stack (workspaces on, as MLflow lets a non-admin share only with users of
// a workspace they manage):
//   - alice signs in through the login page; MLflow's account menu and
//     account page show alice@example.com;
//   - carol, who manages team-a but is no MLflow admin, may not list users
//     (MLFLOW_DESCOPE_USER_DIRECTORY=admins) and shares her experiment with
//     alice in MLflow's permission dialog by typing alice's username;
//   - an MLflow admin's users/list shows alice@example.com;
//   - a second Descope user given alice's old login ID becomes another
//     MLflow user, with none of alice's grants;
//   - the banner covers no MLflow control on the home, experiments, run,
//     models and prompts pages, with the Assistant panel open and closed, at
//     1280 and 1920 px (screenshots in the test artifacts);
//   - one real mouse click on sign-out signs alice out while MLflow shows
//     an onboarding popover.
func TestBrowserReadableUsernames(t *testing.T) {
	mapping := filepath.Join(t.TempDir(), "mapping.json")
	if err := os.WriteFile(mapping, []byte(namesMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, "MLFLOW_DESCOPE_ENABLE_WORKSPACES=true", "DESCOPE_ROLE_MAPPING_FILE="+mapping)
	for _, u := range []descopesim.User{
		{ID: "U2root", LoginIDs: []string{"root@example.com"}, Email: "root@example.com", Roles: []string{"admin"}},
		{ID: "U2carol", LoginIDs: []string{"carol@example.com"}, Email: "carol@example.com", Name: "Carol",
			Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"tenant-admin"}}}},
		{ID: "U2alice", LoginIDs: []string{"alice@example.com"}, Email: "alice@example.com", Name: "Alice",
			Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"member"}}}},
	} {
		if err := st.sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	mint := func(id string) string {
		s, _, err := st.sim.MintSession(id, descopesim.MintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	teamA := inWorkspace("team-a")
	code, out := apiWith(t, st.url, mint("U2carol"), teamA, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "carol-shared"})
	if code != 200 {
		t.Fatalf("carol creates an experiment: %d %v", code, out)
	}
	expID, _ := out["experiment_id"].(string)
	code, out = apiWith(t, st.url, mint("U2carol"), teamA, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID, "run_name": "carol-run"})
	if code != 200 {
		t.Fatalf("carol creates a run: %d %v", code, out)
	}
	runID := out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	logMetric := map[string]any{"run_id": runID, "key": "m", "value": 1, "timestamp": 1}

	// Alice signs in through the login page.
	alice := newTab(t, st, "alice@example.com")
	alice.open(t, "/#/account?workspace=team-a")
	alice.waitText(t, "Logged in as alice@example.com")
	if got := alice.eval(t, `(() => { const b = Array.from(document.querySelectorAll('aside button, aside [role=button], aside a')).find(e => e.innerText.includes('@')); return b ? b.innerText : '' })()`); !strings.Contains(got, "alice@example.com") {
		t.Errorf("MLflow's account menu shows %q, want alice@example.com", got)
	}
	alice.shot(t, "1-account")
	if code, _ := apiWith(t, st.url, mint("U2alice"), teamA, "POST", "/api/2.0/mlflow/runs/log-metric", logMetric); code != 403 {
		t.Fatalf("alice logs to carol's run before it is shared: %d, want 403", code)
	}

	// Carol shares her experiment with alice by typing alice's username: she
	// may not list MLflow's users.
	carol := newTab(t, st, "carol@example.com")
	carol.open(t, "/#/admin?workspace=team-a")
	carol.waitText(t, "available to administrators only")
	carol.shot(t, "2-no-directory")
	carol.open(t, "/#/admin/users/alice@example.com?workspace=team-a")
	carol.click(t, `[data-component-id="admin.user_detail.edit_access_button"]`, "")
	carol.waitText(t, "Edit access for alice@example.com")
	carol.click(t, `[data-component-id="admin.direct_permission.resource_id"]`, "")
	carol.click(t, `[role="option"]`, "carol-shared")
	carol.click(t, `[data-component-id="admin.direct_permission.permission_level"]`, "")
	carol.click(t, `[role="menuitem"], [role="option"], [role="menuitemradio"]`, "EDIT")
	carol.click(t, `[data-component-id="admin.direct_permissions.add"]`, "")
	carol.shot(t, "3-permission-dialog")
	carol.click(t, `[data-component-id="admin.edit_access_modal.review"]`, "")
	carol.click(t, `[data-component-id="admin.edit_access_modal.confirm"]`, "")
	carol.waitGone(t, `[role="dialog"]`)
	carol.shot(t, "4-shared")
	if code, out := apiWith(t, st.url, mint("U2alice"), teamA, "POST", "/api/2.0/mlflow/runs/log-metric", logMetric); code != 200 {
		t.Fatalf("alice logs to carol's run after carol shared it: %d %v", code, out)
	}

	// An MLflow admin's list of users shows alice by her login ID.
	code, out = apiWith(t, st.url, mint("U2root"), nil, "GET", "/api/2.0/mlflow/users/list", nil)
	if b, _ := json.Marshal(out); code != 200 || !strings.Contains(string(b), `"username":"alice@example.com"`) {
		t.Errorf("users/list as admin: %d %s", code, b)
	}

	// Alice's login ID goes to another Descope user, in the same tenant.
	if err := st.sim.UpdateUser(descopesim.User{ID: "U2alice", LoginIDs: []string{"alice.moved@example.com"}, Email: "alice.moved@example.com", Name: "Alice",
		Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"member"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.sim.CreateUser(descopesim.User{ID: "U2newcomer", LoginIDs: []string{"alice@example.com"}, Email: "alice@example.com",
		Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"member"}}}}); err != nil {
		t.Fatal(err)
	}
	newcomer := mint("U2newcomer")
	_, who := apiWith(t, st.url, newcomer, nil, "GET", "/auth/whoami", nil)
	if who["username"] != "alice@example.com~2" {
		t.Errorf("the newcomer with alice's old login ID is MLflow user %v, want alice@example.com~2", who["username"])
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + expID, nil},
		{"POST", "/api/2.0/mlflow/runs/log-metric", logMetric},
	} {
		if code, _ := apiWith(t, st.url, newcomer, teamA, c.method, c.path, c.body); code != 403 {
			t.Errorf("newcomer %s %s: %d, want 403 (alice's grant is not theirs)", c.method, c.path, code)
		}
	}
	if code, _ := apiWith(t, st.url, mint("U2alice"), teamA, "POST", "/api/2.0/mlflow/runs/log-metric", logMetric); code != 200 {
		t.Errorf("alice after her login ID moved: %d, want her grant kept", code)
	}

	checkBanner(t, alice, expID, runID)

	// One real click on sign-out while MLflow shows an onboarding popover.
	alice.open(t, "/#/experiments/"+expID+"?workspace=team-a")
	alice.waitText(t, "Detect Issues in Your Traces")
	alice.shot(t, "8-popover")
	x, y := alice.center(t, "#mda-signout")
	if err := chromedp.Do(alice.ctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(alice.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS("#descope-login-id"))); err != nil {
		t.Fatalf("one click on sign-out with the popover open did not sign out: %v", err)
	}
	alice.shot(t, "9-signed-out")
}

// checkBanner opens each page in alice's tab and checks, at two widths with
// the Assistant panel open and closed, that the banner's box meets no
// clickable element of MLflow, that it is on top where it is, and that
// MLflow's own controls at the bottom of the window are still in it.
func checkBanner(t *testing.T, tab *tab, expID, runID string) {
	t.Helper()
	pages := []struct{ name, path, text string }{
		{"home", "/#/?workspace=team-a", "Welcome to MLflow"},
		{"experiments", "/#/experiments?workspace=team-a", "carol-shared"},
		{"run", "/#/experiments/" + expID + "/runs/" + runID + "?workspace=team-a", "carol-run"},
		{"models", "/#/models?workspace=team-a", "Registered Models"},
		{"prompts", "/#/prompts?workspace=team-a", "Prompts"},
	}
	checked := 0
	for _, p := range pages {
		tab.open(t, p.path)
		tab.waitText(t, p.text)
		for _, assistant := range []bool{true, false} {
			tab.setAssistant(t, assistant)
			for _, w := range []int64{1280, 1920} {
				if err := chromedp.Do(tab.ctx, chromedp.EmulateViewport(w, 900)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(400 * time.Millisecond) // MLflow lays itself out again
				state := fmt.Sprintf("%s-%d-assistant-%s", p.name, w, map[bool]string{true: "open", false: "closed"}[assistant])
				tab.shot(t, "banner-"+state)
				var r struct {
					Banner   []float64 `json:"banner"`
					Checked  int       `json:"checked"`
					Overlaps []string  `json:"overlaps"`
					OnTop    bool      `json:"onTop"`
					Cut      []string  `json:"cut"`
				}
				if err := json.Unmarshal([]byte(tab.eval(t, bannerCheckJS)), &r); err != nil {
					t.Fatalf("%s: %v", state, err)
				}
				checked += r.Checked
				if len(r.Overlaps) > 0 {
					t.Errorf("%s: the banner %v covers %s", state, r.Banner, strings.Join(r.Overlaps, "; "))
				}
				if !r.OnTop {
					t.Errorf("%s: the banner's sign-out is covered", state)
				}
				if len(r.Cut) > 0 {
					t.Errorf("%s: MLflow controls out of the window: %s", state, strings.Join(r.Cut, "; "))
				}
				if r.Checked < 10 {
					t.Errorf("%s: only %d clickable elements found: the check would be blind", state, r.Checked)
				}
			}
		}
	}
	t.Logf("banner checked against %d clickable elements in %d page states", checked, len(pages)*4)
}

// bannerCheckJS compares the banner's box with every visible clickable
// element (overlay wrappers that span the whole window excepted), checks
// that the point at its sign-out button is the banner's, and that the
// sidebar's account button and the Assistant's question box (when open)
// end inside the window.
const bannerCheckJS = `(() => {
  const b = document.getElementById('mda-banner');
  if (!b) return JSON.stringify({overlaps: ['no banner'], checked: 0});
  const br = b.getBoundingClientRect();
  const sel = 'a[href],button,input,select,textarea,summary,[role=button],[role=link],[role=tab],[role=menuitem],' +
    '[role=checkbox],[role=radio],[role=switch],[role=combobox],[role=option],[role=treeitem],[tabindex]:not([tabindex="-1"]),[contenteditable=true]';
  const describe = (e, r) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    ' "' + (e.getAttribute('aria-label') || e.innerText || e.getAttribute('placeholder') || '').trim().slice(0, 40).replace(/\s+/g, ' ') + '"' +
    ' at ' + [r.left, r.top, r.width, r.height].map(Math.round).join(',');
  const overlaps = [], cut = [];
  let checked = 0;
  for (const e of document.querySelectorAll(sel)) {
    if (b.contains(e)) continue;
    const r = e.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility === 'hidden' || cs.display === 'none' || Number(cs.opacity) === 0) continue;
    if (r.width >= innerWidth - 1 && r.height >= innerHeight - 1) continue;
    checked++;
    if (r.left < br.right && r.right > br.left && r.top < br.bottom && r.bottom > br.top) overlaps.push(describe(e, r));
  }
  const s = document.getElementById('mda-signout').getBoundingClientRect();
  const hit = document.elementFromPoint(s.left + s.width / 2, s.top + s.height / 2);
  const account = Array.from(document.querySelectorAll('aside button, aside [role=button], aside a')).find(e => e.innerText.includes('@'));
  const ask = Array.from(document.querySelectorAll('textarea, input')).find(e => (e.getAttribute('placeholder') || '').startsWith('Ask a question'));
  for (const e of [account, ask]) {
    if (e && e.getBoundingClientRect().bottom > innerHeight + 0.5) cut.push(describe(e, e.getBoundingClientRect()));
  }
  if (!account) cut.push('no account button in the sidebar');
  return JSON.stringify({banner: [br.left, br.top, br.right, br.bottom], checked, overlaps, onTop: !!hit && b.contains(hit), cut});
})()`

// tab is a browser signed in to the stack as one user.
type tab struct {
	ctx context.Context
	st  *stack
	who string
}

// newTab starts a browser and signs loginID in through the login page (the
// simulator's stand-in for Descope's web component).
func newTab(t *testing.T, st *stack, loginID string) *tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Browser(t), 5*time.Minute)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx, st: st, who: strings.Split(loginID, "@")[0]}
	t.Cleanup(func() {
		if t.Failed() {
			tb.shot(t, "failure")
		}
	})
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(st.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#descope-login-id")),
		chromedp.SendKeys(chromedp.CSS("#descope-login-id"), loginID),
		chromedp.Click(chromedp.CSS("#descope-submit")),
		chromedp.WaitVisible(chromedp.CSS("#mda-banner")),
	); err != nil {
		t.Fatalf("%s signs in: %v", loginID, err)
	}
	return tb
}

// open loads path as a new document.
func (tb *tab) open(t *testing.T, path string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(tb.st.url+path)); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
}

func (tb *tab) eval(t *testing.T, js string) string {
	t.Helper()
	out, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	return out
}

// poll evaluates a boolean expression until it holds (the UI may still be
// rewriting its URL, which replaces the page's JavaScript context).
func (tb *tab) poll(t *testing.T, what, js string) {
	t.Helper()
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
	}
	t.Fatalf("%s: timed out", what)
}

func (tb *tab) waitText(t *testing.T, s string) {
	t.Helper()
	tb.poll(t, fmt.Sprintf("%s waits for %q", tb.who, s), fmt.Sprintf(`document.body.innerText.includes(%q)`, s))
	time.Sleep(300 * time.Millisecond)
}

func (tb *tab) waitGone(t *testing.T, sel string) {
	t.Helper()
	tb.poll(t, fmt.Sprintf("%s waits for %s to go", tb.who, sel), `!(`+find(sel, "")+`)`)
}

// find returns the JavaScript for the first visible element matching sel
// (and whose text, label or title contains text, if given).
func find(sel, text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).find(e => { const r = e.getBoundingClientRect();
		const says = [e.innerText, e.getAttribute('aria-label'), e.getAttribute('title')].filter(Boolean).join(' ');
		return r.width > 0 && r.height > 0 && (%q === '' || says.includes(%q)); })`, sel, text, text)
}

// center scrolls the element into view and returns its centre.
func (tb *tab) center(t *testing.T, sel string) (float64, float64) {
	t.Helper()
	return tb.centerOf(t, sel, "")
}

func (tb *tab) centerOf(t *testing.T, sel, text string) (float64, float64) {
	t.Helper()
	tb.poll(t, fmt.Sprintf("%s waits for %s %q", tb.who, sel, text), `!!(`+find(sel, text)+`)`)
	js := `(() => { const e = ` + find(sel, text) + `; e.scrollIntoView({block: 'center', inline: 'center'}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`
	xy, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]float64](js))
	if err != nil || len(xy) != 2 {
		t.Fatalf("locate %s %q: %v", sel, text, err)
	}
	return xy[0], xy[1]
}

// click presses the mouse on the element, as a person would.
func (tb *tab) click(t *testing.T, sel, text string) {
	t.Helper()
	x, y := tb.centerOf(t, sel, text)
	if err := chromedp.Do(tb.ctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatalf("click %s %q: %v", sel, text, err)
	}
	time.Sleep(300 * time.Millisecond)
}

// setAssistant opens or closes MLflow's Assistant panel.
func (tb *tab) setAssistant(t *testing.T, open bool) {
	t.Helper()
	isOpen := `Array.from(document.querySelectorAll('textarea, input')).some(e => (e.getAttribute('placeholder') || '').startsWith('Ask a question') && e.getBoundingClientRect().width > 0)`
	if ok, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](isOpen)); ok == open {
		return
	}
	// A modal MLflow opened by itself (the model registry's news) is in the
	// way of the panel's buttons: close it as a person would.
	if ok, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`!!(`+find(`[role="dialog"] button[aria-label="Close"]`, "")+`)`)); ok {
		tb.click(t, `[role="dialog"] button[aria-label="Close"]`, "")
		tb.waitGone(t, `[role="dialog"]`)
	}
	if open {
		tb.click(t, `button, [role=button]`, "MLflow Assistant")
	} else {
		// The panel's own close button: the Close button whose panel holds
		// the question box.
		js := `(() => { for (const b of document.querySelectorAll('button[aria-label="Close"]')) {
			let p = b; for (let i = 0; i < 8 && p; i++, p = p.parentElement) {
				if (p.querySelector && p.querySelector('textarea[placeholder^="Ask a question"], input[placeholder^="Ask a question"]')) {
					const r = b.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; } } } return []; })()`
		xy, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]float64](js))
		if err != nil || len(xy) != 2 {
			t.Fatalf("find the Assistant's close button: %v", err)
		}
		if err := chromedp.Do(tb.ctx, chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
			t.Fatal(err)
		}
	}
	want := isOpen
	if !open {
		want = "!" + isOpen
	}
	tb.poll(t, fmt.Sprintf("Assistant open=%v", open), want)
	time.Sleep(300 * time.Millisecond)
}

// shot saves a screenshot of the tab's window as <test>-<user>-<name>.png
// in the test artifacts.
func (tb *tab) shot(t *testing.T, name string) {
	if b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(testenv.Artifacts(t), sanitize(t.Name())+"-"+tb.who+"-"+name+".png"), b, 0o644)
	}
}
