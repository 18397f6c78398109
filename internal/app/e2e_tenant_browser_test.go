package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// tenantMapping makes tenants T2TenantA and T2TenantB the workspaces team-a
// and team-b; a tenant "member" may use its workspace and edit experiments.
const tenantMapping = `{
  "tenant_roles": [
    {"descope_role": "member", "workspace_permission": "USE",
     "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}
  ],
  "tenants": [{"tenant_id": "T2TenantA", "workspace": "team-a"},
              {"tenant_id": "T2TenantB", "workspace": "team-b"}]
}`

func inWorkspace(ws string) map[string]string { return map[string]string{"X-MLFLOW-WORKSPACE": ws} }

// uiCall is one MLflow API call the UI made, as the browser saw it.
type uiCall struct {
	id             network.RequestID
	url, workspace string
	status         int
	collected      bool
	body           string
}

// uiCalls records the UI's API calls in a browser tab.
type uiCalls struct {
	mu    sync.Mutex
	reqs  map[network.RequestID]*uiCall
	order []*uiCall
}

func recordUICalls(t *testing.T, ctx context.Context) *uiCalls {
	t.Helper()
	c := &uiCalls{reqs: map[network.RequestID]*uiCall{}}
	err := chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if !strings.Contains(ev.Request.URL, "/ajax-api/") && !strings.Contains(ev.Request.URL, "/graphql") {
				return
			}
			call := &uiCall{id: ev.RequestID, url: ev.Request.URL}
			for k, v := range ev.Request.Headers {
				if strings.EqualFold(k, "X-MLFLOW-WORKSPACE") {
					call.workspace = fmt.Sprint(v)
				}
			}
			c.reqs[ev.RequestID] = call
			c.order = append(c.order, call)
		case *network.EventResponseReceived:
			if call, ok := c.reqs[ev.RequestID]; ok {
				call.status = int(ev.Response.Status)
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the browser: %v", err)
	}
	return c
}

// find returns the calls whose URL contains part, made in workspace.
func (c *uiCalls) find(part, workspace string) []uiCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uiCall
	for _, call := range c.order {
		if strings.Contains(call.url, part) && call.workspace == workspace && call.status != 0 {
			out = append(out, *call)
		}
	}
	return out
}

// collect keeps the response bodies of the calls answered so far. The
// browser drops them when the page goes, so call it before navigating.
func (c *uiCalls) collect(ctx context.Context) {
	c.mu.Lock()
	var todo []*uiCall
	for _, call := range c.order {
		if call.status != 0 && !call.collected {
			todo = append(todo, call)
		}
	}
	c.mu.Unlock()
	for _, call := range todo {
		res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: call.id})
		c.mu.Lock()
		call.collected = true
		if err == nil {
			call.body = string(res.Body)
		}
		c.mu.Unlock()
	}
}

// containing returns the calls whose collected response body contains s.
func (c *uiCalls) containing(s string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, call := range c.order {
		if strings.Contains(call.body, s) {
			out = append(out, fmt.Sprintf("%d ws=%q %s", call.status, call.workspace, call.url))
		}
	}
	return out
}

func (c *uiCalls) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, call := range c.order {
		fmt.Fprintf(&b, "  %d ws=%q %s\n", call.status, call.workspace, call.url)
	}
	return b.String()
}

// TestBrowserTenantIsolation: with workspaces on, a tenant A member signed in
// through the browser sees tenant A's experiments in the MLflow UI and
// cannot see tenant B's, whether the UI is switched to B's workspace or sent
// straight to B's experiment.
func TestBrowserTenantIsolation(t *testing.T) {
	mapping := filepath.Join(t.TempDir(), "roles.json")
	if err := os.WriteFile(mapping, []byte(tenantMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, "MLFLOW_DESCOPE_ENABLE_WORKSPACES=true", "DESCOPE_ROLE_MAPPING_FILE="+mapping)
	for _, u := range []descopesim.User{
		{ID: "U2alice", LoginIDs: []string{"alice@a.example"}, Email: "alice@a.example", Name: "Alice A",
			Tenants: []descopesim.UserTenant{{ID: "T2TenantA", Roles: []string{"member"}}}},
		{ID: "U2bob", LoginIDs: []string{"bob@b.example"}, Email: "bob@b.example", Name: "Bob B",
			Tenants: []descopesim.UserTenant{{ID: "T2TenantB", Roles: []string{"member"}}}},
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
	stamp := time.Now().Format("150405")
	aliceExp, bobExp := "alice-visible-"+stamp, "bob-secret-"+stamp
	code, out := apiWith(t, st.url, mint("U2alice"), inWorkspace("team-a"), "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": aliceExp})
	if code != 200 {
		t.Fatalf("alice creates in team-a: %d %v", code, out)
	}
	code, out = apiWith(t, st.url, mint("U2bob"), inWorkspace("team-b"), "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": bobExp})
	if code != 200 {
		t.Fatalf("bob creates in team-b: %d %v", code, out)
	}
	bobID, _ := out["experiment_id"].(string)

	ctx := testenv.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	shot := screenshots(t, ctx)
	calls := recordUICalls(t, ctx)
	defer func() {
		if t.Failed() {
			shot("failure")
			t.Logf("UI API calls:\n%s", calls)
		}
	}()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(st.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#descope-login-id")),
		chromedp.SendKeys(chromedp.CSS("#descope-login-id"), "alice@a.example"),
		chromedp.Click(chromedp.CSS("#descope-submit")),
		chromedp.WaitVisible(chromedp.CSS("#mda-banner")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// open loads url as a new document: a hash change alone would let the UI
	// keep showing what it fetched for the previous workspace.
	open := func(url string) {
		t.Helper()
		calls.collect(ctx)
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
	}
	bodyHas := func(s string) string {
		return `document.body.innerText.includes(` + fmt.Sprintf("%q", s) + `)`
	}
	waitFor := func(what string, part, ws string) []uiCall {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if got := calls.find(part, ws); len(got) > 0 {
				return got
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: the UI never called %s in workspace %q", what, part, ws)
		return nil
	}

	// Her own workspace: her experiment is listed, Bob's is not.
	open(st.url + "/#/experiments?workspace=team-a")
	// The UI may still be navigating (it rewrites the URL), which destroys the
	// page's JavaScript context under a poll: retry instead of failing.
	shown := false
	for deadline := time.Now().Add(30 * time.Second); !shown && time.Now().Before(deadline); {
		shown, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](bodyHas(aliceExp)))
		if !shown {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !shown {
		t.Fatal("alice's experiment not listed in team-a")
	}
	if has, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](bodyHas(bobExp))); has {
		t.Error("tenant B's experiment listed in tenant A's workspace")
	}
	shot("1-team-a")

	// Switched to Bob's workspace: every call there is refused, nothing shown.
	open(st.url + "/#/experiments?workspace=team-b")
	for _, c := range waitFor("team-b list", "experiments/search", "team-b") {
		if c.status != http.StatusForbidden {
			t.Errorf("UI search in team-b: %d, want 403 (%s)", c.status, c.url)
		}
	}
	time.Sleep(time.Second) // let the UI render whatever it got
	if has, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](bodyHas(bobExp))); has {
		t.Error("tenant B's experiment shown after switching the UI to team-b")
	}
	shot("2-team-b")

	// Straight to Bob's experiment, from either workspace.
	for _, ws := range []string{"team-b", "team-a"} {
		open(st.url + "/#/experiments/" + bobID + "?workspace=" + ws)
		time.Sleep(5 * time.Second)
		if has, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](bodyHas(bobExp))); has {
			t.Errorf("tenant B's experiment shown when opened directly in %s", ws)
		}
		shot("3-direct-" + ws)
	}
	// Nothing of tenant B reached the browser, in any answer: not the
	// experiment, not even the workspace's name.
	calls.collect(ctx)
	if len(calls.containing(aliceExp)) == 0 {
		t.Fatal("no collected answer holds alice's own experiment: the leak check below would be blind")
	}
	for _, secret := range []string{bobExp, "team-b\""} {
		if got := calls.containing(secret); len(got) > 0 {
			t.Errorf("%s in the answers to:\n  %s", secret, strings.Join(got, "\n  "))
		}
	}
}
