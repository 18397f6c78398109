package selfservice_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
)

// cliLogin is one run of the CLI's loopback flow up to the redirect.
type cliLogin struct {
	redirect, verifier, challenge, state string
}

func newCLILogin(seed string) cliLogin {
	v, c := pkce(seed)
	return cliLogin{redirect: "http://127.0.0.1:53682/callback", verifier: v, challenge: c, state: "state-" + seed + "-0123456789"}
}

func (l cliLogin) params() url.Values {
	return url.Values{"redirect_uri": {l.redirect}, "code_challenge": {l.challenge}, "code_challenge_method": {"S256"},
		"state": {l.state}, "client_name": {"Alice's Laptop"}}
}

// approve shows the consent page and approves it, returning the code the
// browser is sent back with.
func (l cliLogin) approve(t *testing.T, c *client) string {
	t.Helper()
	resp, body := c.get("/auth/cli/authorize?" + l.params().Encode())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="approve"`) {
		t.Fatalf("consent page: status %d\n%s", resp.StatusCode, body)
	}
	form := l.params()
	form.Set("decision", "approve")
	resp, _ = c.post("/auth/cli/authorize", form)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("approve: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != l.redirect {
		t.Fatalf("redirected to %s, want %s", got, l.redirect)
	}
	if loc.Query().Get("state") != l.state || loc.Query().Get("code") == "" {
		t.Fatalf("redirect query %q: want the state and a code", loc.RawQuery)
	}
	return loc.Query().Get("code")
}

func (l cliLogin) redeem(t *testing.T, e *env, code, verifier string) (*http.Response, map[string]any) {
	t.Helper()
	return e.anonymous(t).api("/auth/cli/token", map[string]string{"code": code, "code_verifier": verifier, "redirect_uri": l.redirect})
}

// TestLoopbackSignIn: approve in the browser, redeem with the verifier, get
// a working key named after the machine; the code works once.
func TestLoopbackSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	l := newCLILogin("a")

	resp, body := alice.get("/auth/cli/authorize?" + l.params().Encode())
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:53682;") {
		t.Errorf("consent page CSP %q: the form must be allowed to land on the loopback origin, and nothing else", csp)
	}
	if !strings.Contains(body, "alices-laptop") || !strings.Contains(body, "cli-alices-laptop-") {
		t.Errorf("consent page does not name the machine and the key\n%s", body)
	}
	code := l.approve(t, alice)
	resp, out := l.redeem(t, e, code, l.verifier)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redeem: status %d %v", resp.StatusCode, out)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on an answer with a key", cc)
	}
	want := "cli-alices-laptop-" + e.clock.now().UTC().Format("20060102")
	if out["key_name"] != want || out["user_id"] != "U2alice" || out["username"] != "U2alice@example.com" || out["login_id"] != "U2alice@example.com" {
		t.Errorf("answer = %v; want key %s for U2alice", out, want)
	}
	key, _ := out["access_key"].(string)
	if status, user := e.mlflowAs(t, key); status != http.StatusOK || user != "U2alice@example.com" {
		t.Errorf("the CLI's key: %d as %q", status, user)
	}
	keys := boundKeys(t, e, "U2alice")
	if len(keys) != 1 || keys[0].Name != want {
		t.Errorf("Descope keys = %+v", keys)
	}
	if d := time.Until(keys[0].ExpireTime); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("CLI key expires in %s, want the default 30 days", d)
	}
	resp, out = l.redeem(t, e, code, l.verifier)
	if resp.StatusCode != http.StatusBadRequest || out["error_code"] != "INVALID_GRANT" {
		t.Errorf("second redeem: %d %v, want 400 INVALID_GRANT", resp.StatusCode, out)
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 1 {
		t.Errorf("a reused code made another key (%d keys)", n)
	}
	if len(e.audit.find(audit.ActionCLILogin, "code_issued")) != 1 || len(e.audit.find(audit.ActionCLILogin, "reused_code")) != 1 {
		t.Errorf("cli_login events: %+v", e.audit.find(audit.ActionCLILogin, ""))
	}
}

// TestLoopbackAttacks: codes and verifiers do not cross sessions, a wrong
// verifier burns the code, codes expire, and the consent is the user's.
func TestLoopbackAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	e.user(t, "U2mallory")
	alice, mallory := e.browser(t, "U2alice"), e.browser(t, "U2mallory")

	t.Run("verifier of another session", func(t *testing.T) {
		a, m := newCLILogin("alice1"), newCLILogin("mallory1")
		code := a.approve(t, alice)
		if resp, out := a.redeem(t, e, code, m.verifier); resp.StatusCode != http.StatusBadRequest || out["error_code"] != "INVALID_GRANT" {
			t.Errorf("alice's code with mallory's verifier: %d %v", resp.StatusCode, out)
		}
		// The code is burnt: a stolen code tried with a guessed verifier
		// must not stay usable for a second guess.
		if resp, _ := a.redeem(t, e, code, a.verifier); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("alice's code after a wrong verifier: status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("code of another session", func(t *testing.T) {
		a, m := newCLILogin("alice2"), newCLILogin("mallory2")
		mcode := m.approve(t, mallory)
		if resp, _ := a.redeem(t, e, mcode, a.verifier); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("mallory's code with alice's verifier: status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("other redirect uri", func(t *testing.T) {
		a := newCLILogin("alice3")
		code := a.approve(t, alice)
		other := a
		other.redirect = "http://127.0.0.1:1/callback"
		if resp, _ := other.redeem(t, e, code, a.verifier); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("code redeemed for another redirect URI: status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		a := newCLILogin("alice4")
		code := a.approve(t, alice)
		e.clock.advance(61 * time.Second)
		resp, out := a.redeem(t, e, code, a.verifier)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(out["message"].(string), "expired") {
			t.Errorf("code after 61 s: %d %v, want expired", resp.StatusCode, out)
		}
	})
	t.Run("unknown and malformed", func(t *testing.T) {
		a := newCLILogin("alice5")
		for _, body := range []map[string]string{
			{"code": "nope", "code_verifier": a.verifier, "redirect_uri": a.redirect},
			{"code": "", "code_verifier": a.verifier},
			{"code": strings.Repeat("x", 200), "code_verifier": a.verifier},
		} {
			if resp, out := e.anonymous(t).api("/auth/cli/token", body); resp.StatusCode != http.StatusBadRequest || out["message"] == "" {
				t.Errorf("redeem %v: %d %v", body, resp.StatusCode, out)
			}
		}
	})
	t.Run("declined", func(t *testing.T) {
		a := newCLILogin("alice6")
		form := a.params()
		form.Set("decision", "deny")
		resp, _ := alice.post("/auth/cli/authorize", form)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
			t.Errorf("cancel: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	if n := len(boundKeys(t, e, "U2alice")) + len(boundKeys(t, e, "U2mallory")); n != 0 {
		t.Errorf("the attacks made %d keys", n)
	}
	if len(e.audit.find(audit.ActionCLILogin, "pkce_mismatch")) != 2 || len(e.audit.find(audit.ActionCLILogin, "redirect_mismatch")) != 1 {
		t.Errorf("refusals not audited: %+v", e.audit.find(audit.ActionCLILogin, ""))
	}
}

// TestLoopbackRedirectMustBeLoopback: the authorize page refuses every
// redirect but http://127.0.0.1:<port>/… and http://[::1]:<port>/…, before
// any sign-in and without redirecting anywhere.
func TestLoopbackRedirectMustBeLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	l := newCLILogin("r")
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:8400/callback", true},
		{"http://[::1]:8400/callback", true},
		{"http://127.0.0.1:8400/", true},
		{"http://localhost:8400/callback", false},
		{"https://127.0.0.1:8400/callback", false},
		{"http://127.0.0.1/callback", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:08400/callback", false},
		{"http://127.0.0.1:8400", false},
		{"http://127.0.0.2:8400/callback", false},
		{"http://127.1:8400/callback", false},
		{"http://2130706433:8400/callback", false},
		{"http://[::ffff:127.0.0.1]:8400/callback", false},
		{"http://[0:0:0:0:0:0:0:1]:8400/callback", false},
		{"http://127.0.0.1.evil.example:8400/callback", false},
		{"http://evil.example/callback", false},
		{"http://evil.example@127.0.0.1:8400/callback", false},
		{"http://127.0.0.1:8400@evil.example/callback", false},
		{"http://127.0.0.1:8400/callback?code=stolen", false},
		{"http://127.0.0.1:8400/callback#x", false},
		{"http://127.0.0.1:8400\\@evil.example/", false},
		{"//127.0.0.1:8400/callback", false},
		{"/auth/keys", false},
		{"javascript:alert(1)", false},
		{"", false},
	} {
		l.redirect = tc.uri
		for _, c := range []*client{alice, e.anonymous(t)} {
			resp, _ := c.get("/auth/cli/authorize?" + l.params().Encode())
			signedIn := c == alice
			switch {
			case tc.ok && signedIn && resp.StatusCode != http.StatusOK:
				t.Errorf("%q signed in: status %d, want the consent page", tc.uri, resp.StatusCode)
			case tc.ok && !signedIn && !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login?"):
				t.Errorf("%q signed out: Location %q, want the login page", tc.uri, resp.Header.Get("Location"))
			case !tc.ok && (resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != ""):
				t.Errorf("%q: status %d, Location %q; want 400 and no redirect", tc.uri, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if tc.ok {
			continue
		}
		form := l.params()
		form.Set("decision", "approve")
		if resp, _ := alice.post("/auth/cli/authorize", form); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("approve for %q: status %d, Location %q", tc.uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// PKCE is not optional, and only S256 will do.
	l = newCLILogin("p")
	for name, edit := range map[string]func(url.Values){
		"no challenge":   func(v url.Values) { v.Del("code_challenge") },
		"plain method":   func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"short":          func(v url.Values) { v.Set("code_challenge", "abc") },
		"no state":       func(v url.Values) { v.Del("state") },
		"two redirects":  func(v url.Values) { v.Add("redirect_uri", "http://127.0.0.1:9/x") },
		"odd expiry":     func(v url.Values) { v.Set("expires_days", "3650") },
		"state with tag": func(v url.Values) { v.Set("state", "<b>state</b>") },
	} {
		v := l.params()
		edit(v)
		if resp, _ := alice.get("/auth/cli/authorize?" + v.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
}

// TestCodeRedeemedOnceAcrossReplicas: a code issued by one replica is
// redeemed at another (they share the database), and when both are asked
// at once exactly one makes a key.
func TestCodeRedeemedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	// Replica B: another gateway on the same database and Descope project.
	replicaB := e.replica(t).URL
	l := newCLILogin("replicas")
	code := l.approve(t, alice)
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := e.gw.URL
			if i%2 == 1 {
				base = replicaB
			}
			c := e.anonymous(t)
			c.base = base
			resp, _ := c.api("/auth/cli/token", map[string]string{"code": code, "code_verifier": l.verifier, "redirect_uri": l.redirect})
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d of 8 concurrent redemptions on two replicas succeeded, want exactly 1", ok)
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 1 {
		t.Errorf("%d keys made, want 1", n)
	}
}
