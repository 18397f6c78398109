package gatewaytest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// loginState is what the login page shows.
type loginState struct {
	State    string   `json:"state"` // "ready", "failed" or ""
	Title    string   `json:"title"`
	Text     string   `json:"text"`
	Checks   []string `json:"checks"`
	Doc      string   `json:"doc"`
	Heading  string   `json:"heading"`
	Overflow bool     `json:"overflow"` // wider than the window
	CardOut  bool     `json:"cardOut"`  // the card leaves the window
}

const loginStateJS = `(() => {
  const p = document.getElementById('mda-problem');
  const card = document.querySelector('main.card').getBoundingClientRect();
  return {
    state: document.body.getAttribute('data-sign-in') || '',
    title: p && !p.hidden ? document.getElementById('mda-problem-title').textContent : '',
    text: p && !p.hidden ? document.getElementById('mda-problem-text').textContent : '',
    checks: p && !p.hidden ? Array.from(document.querySelectorAll('#mda-problem-checks li')).map(li => li.textContent) : [],
    doc: document.title,
    heading: document.querySelector('h1').textContent,
    overflow: document.documentElement.scrollWidth > window.innerWidth,
    cardOut: card.left < 0 || card.right > window.innerWidth,
  };
})()`

// openLogin loads the gateway's login page in a fresh tab at the given
// window size and waits until it is ready or says why not; it returns what
// the page shows and how long that took.
func openLogin(t *testing.T, browser context.Context, g *gatewaytest.Gateway, w, h int64, name string) (loginState, time.Duration) {
	t.Helper()
	tctx, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(cancelTab)
	ctx, cancel := context.WithTimeout(tctx, 60*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(g.URL+"/auth/login")); err != nil {
		t.Fatalf("open the login page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.body.getAttribute('data-sign-in')`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the login page neither started nor said why: %v", err)
	}
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let the layout settle for the screenshot
	st, err := chromedp.Run(ctx, chromedp.Evaluate[loginState](loginStateJS))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(testenv.Artifacts(t), "TestLoginPage-"+name+".png"), b, 0o644)
	}
	return st, took
}

// closedURL is a URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestLoginPage: the sign-in page starts (with the configured title, and
// right on a phone's screen), and when Descope's component cannot load or
// start it says so within a few seconds, in plain words, with what the
// operator should check, instead of an empty card. Screenshots of every
// case are kept in the test artifacts.
func TestLoginPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browser := testenv.Browser(t)
	has := func(t *testing.T, st loginState, words ...string) {
		t.Helper()
		all := st.Title + "\n" + st.Text + "\n" + strings.Join(st.Checks, "\n")
		for _, w := range words {
			if !strings.Contains(all, w) {
				t.Errorf("the page says\n%s\nwithout %q", all, w)
			}
		}
	}

	t.Run("starts, titled, on a phone", func(t *testing.T) {
		g := gatewaytest.New(t, gatewaytest.Options{Env: []string{"MLFLOW_DESCOPE_LOGIN_TITLE=Sign in to Acme ML"}})
		for _, size := range [][2]int64{{1280, 800}, {375, 740}} {
			st, _ := openLogin(t, browser, g, size[0], size[1], fmt.Sprintf("ready-%dpx", size[0]))
			if st.State != "ready" || st.Title != "" {
				t.Errorf("%dpx: state %q, problem %q", size[0], st.State, st.Title)
			}
			if st.Doc != "Sign in to Acme ML" || st.Heading != "Sign in to Acme ML" {
				t.Errorf("title %q, heading %q; want MLFLOW_DESCOPE_LOGIN_TITLE", st.Doc, st.Heading)
			}
			if st.Overflow || st.CardOut {
				t.Errorf("%dpx: the page is wider than the screen (overflow %v, card out %v)", size[0], st.Overflow, st.CardOut)
			}
		}
	})

	t.Run("script blocked", func(t *testing.T) {
		blocked := closedURL(t)
		g := gatewaytest.New(t, gatewaytest.Options{Env: []string{"DESCOPE_WEB_COMPONENT_URL=" + blocked + "/web-component.js"}})
		for _, size := range [][2]int64{{1280, 800}, {375, 740}} {
			st, took := openLogin(t, browser, g, size[0], size[1], fmt.Sprintf("script-blocked-%dpx", size[0]))
			if st.State != "failed" || took > 5*time.Second {
				t.Fatalf("state %q after %s", st.State, took)
			}
			has(t, st, "could not be loaded", blocked, "DESCOPE_WEB_COMPONENT_URL")
			if st.Overflow || st.CardOut {
				t.Errorf("%dpx: the explanation is wider than the screen", size[0])
			}
		}
	})

	t.Run("wrong project ID", func(t *testing.T) {
		// The component finds no flow files for the project: the real one
		// only logs "Cannot get config file", and so does the stand-in.
		g := gatewaytest.New(t, gatewaytest.Options{NotReady: true, Env: []string{"DESCOPE_PROJECT_ID=P2NoSuchProject0001"}})
		st, took := openLogin(t, browser, g, 1280, 800, "wrong-project")
		if st.State != "failed" || took > 5*time.Second {
			t.Fatalf("state %q after %s", st.State, took)
		}
		has(t, st, "does not know this sign-in flow", "P2NoSuchProject0001", "DESCOPE_PROJECT_ID", "DESCOPE_FLOW_ID")
	})

	t.Run("origin not approved", func(t *testing.T) {
		sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001", ApprovedOrigins: []string{"https://mlflow.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		g := gatewaytest.New(t, gatewaytest.Options{Sim: sim})
		st, took := openLogin(t, browser, g, 1280, 800, "origin-not-approved")
		if st.State != "failed" || took > 5*time.Second {
			t.Fatalf("state %q after %s", st.State, took)
		}
		has(t, st, "refused to start sign-in", "not in the project's approved domains", g.URL+" one of the project's approved domains")
	})

	t.Run("no answer", func(t *testing.T) {
		g := gatewaytest.New(t, gatewaytest.Options{})
		if err := g.Sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/flow/start", Delay: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		st, took := openLogin(t, browser, g, 1280, 800, "no-answer")
		if st.State != "failed" || took < 7*time.Second || took > 12*time.Second {
			t.Fatalf("state %q after %s; want the explanation after about 8 s", st.State, took)
		}
		has(t, st, "has not started", g.Sim.URL(), "approved domains", "DESCOPE_PROJECT_ID")
	})
}

// TestLoginPageRealComponentFailures: the same explanations with the real
// @descope/web-component (from npm): for a project it cannot find flow
// files for it only logs "Cannot get config file" (the page hears it
// through the component's logger), and a flow API that refuses the page's
// origin becomes its "error" event before any form.
func TestLoginPageRealComponentFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	assets := cdn(t) // before the browser: a missing npm skips here
	browser := testenv.Browser(t)
	env := func(sim *descopesim.Server) []string {
		return []string{
			"DESCOPE_WEB_COMPONENT_URL=" + assets.URL + "/npm/@descope/web-component@" + webComponentVersion + "/dist/index.js",
			"DESCOPE_BASE_STATIC_URL=" + sim.URL() + "/pages",
			"DESCOPE_BASE_CDN_URL=" + assets.URL,
		}
	}
	for _, c := range []struct {
		name     string
		approved []string
		project  string
		want     []string
	}{
		{"wrong project ID", nil, "P2NoSuchProject0001", []string{"does not know this sign-in flow", "P2NoSuchProject0001"}},
		{"origin not approved", []string{"https://mlflow.example.com"}, "", []string{"refused to start sign-in", "approved domains"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001", ApprovedOrigins: c.approved})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sim.Close() })
			o := gatewaytest.Options{Sim: sim, Env: env(sim)}
			if c.project != "" {
				o.Env, o.NotReady = append(o.Env, "DESCOPE_PROJECT_ID="+c.project), true
			}
			g := gatewaytest.New(t, o)
			st, took := openLogin(t, browser, g, 1280, 800, "real-component-"+strings.ReplaceAll(c.name, " ", "-"))
			if st.State != "failed" || took > 8*time.Second {
				t.Fatalf("state %q after %s", st.State, took)
			}
			all := st.Title + "\n" + st.Text + "\n" + strings.Join(st.Checks, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("the page says\n%s\nwithout %q", all, w)
				}
			}
		})
	}
}
