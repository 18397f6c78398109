package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// flowSignIn runs the simulator's sign-in flow from "the browser" c, as the
// web component would (credentials included, so Descope's cookies land in
// c's jar: the simulator and the gateway share the host 127.0.0.1, as a
// custom domain and the gateway share a parent domain), and returns the
// success event's detail.
func (h *harness) flowSignIn(t *testing.T, c *http.Client, loginID string) map[string]any {
	t.Helper()
	body := `{"loginId":"` + loginID + `","projectId":"` + h.sim.ProjectID() + `","flowId":"sign-up-or-in"}`
	resp, text := do(t, c, http.MethodPost, h.sim.URL()+"/sim/flow/sign-in", map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("flow sign-in: %d %s", resp.StatusCode, text)
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(text), &detail); err != nil {
		t.Fatal(err)
	}
	return detail
}

// postSession posts the detail's tokens to /auth/session as login.js does.
func (h *harness) postSession(t *testing.T, c *http.Client, detail map[string]any) (*http.Response, string) {
	t.Helper()
	s, _ := detail["sessionJwt"].(string)
	r, _ := detail["refreshJwt"].(string)
	b, _ := json.Marshal(map[string]string{"sessionJwt": s, "refreshJwt": r, "next": "/"})
	return do(t, c, http.MethodPost, h.gw.URL+"/auth/session", map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, string(b))
}

// gatewayCookie returns the value of one of the gateway's own cookies in c.
func gatewayCookie(t *testing.T, c *http.Client, gw, name string) string {
	t.Helper()
	u, _ := url.Parse(gw)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func setGatewayCookie(t *testing.T, c *http.Client, gw, name, value string) {
	t.Helper()
	u, _ := url.Parse(gw)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// TestTokenDeliveryModes: sign-in and refresh work whichever way the Descope
// project delivers its tokens: both in the success event (the default), the
// refresh token only as a cookie, or both only as cookies; also with the
// cookies renamed by a flow. Refresh (with rotation, so a refresh token
// taken from Set-Cookie must be kept for the next one) keeps the user signed
// in after the session JWT expires.
func TestTokenDeliveryModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  string
		names descope.CookieNames
	}{
		{name: "body", mode: descopesim.DeliveryBody},
		{name: "refresh cookie", mode: descopesim.DeliveryRefreshCookie},
		{name: "cookies", mode: descopesim.DeliveryCookies},
		{name: "renamed cookies", mode: descopesim.DeliveryCookies, names: descope.CookieNames{Session: "mlsess", Refresh: "mlref"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{env: cookieEnv(tt.names)})
			if err := h.sim.SetTokenDelivery(descopesim.TokenDelivery{Mode: tt.mode, SessionCookieName: tt.names.Session, RefreshCookieName: tt.names.Refresh}); err != nil {
				t.Fatal(err)
			}
			h.sim.SetRefreshRotation(true)
			u := h.user(t, "U2deliv")
			c := browser(t)
			detail := h.flowSignIn(t, c, u.Email)
			_, inBody := detail["refreshJwt"].(string)
			if got := inBody && detail["refreshJwt"] != ""; got != (tt.mode == descopesim.DeliveryBody) {
				t.Fatalf("refresh token in the success event = %v in mode %s", got, tt.mode)
			}
			resp, text := h.postSession(t, c, detail)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, text)
			}
			resp, text = do(t, c, http.MethodGet, h.gw.URL+"/auth/whoami", nil, "")
			if resp.StatusCode != http.StatusOK || !strings.Contains(text, "U2deliv") {
				t.Fatalf("whoami: %d %s", resp.StatusCode, text)
			}

			// The session JWT expires (here: replaced by an expired one of
			// the same user); two refreshes in a row must both work.
			sessName := "mlflow_ds"
			refName := "mlflow_dsr"
			for i := range 2 {
				expired, _ := h.mint(t, "U2deliv", descopesim.MintOptions{SessionTTL: -time.Minute})
				before := gatewayCookie(t, c, h.gw.URL, refName)
				setGatewayCookie(t, c, h.gw.URL, sessName, expired)
				n := h.sim.Count("/v1/auth/refresh")
				resp, text = do(t, c, http.MethodGet, h.gw.URL+"/auth/whoami", nil, "")
				if resp.StatusCode != http.StatusOK || !strings.Contains(text, "U2deliv") {
					t.Fatalf("refresh %d: %d %s", i+1, resp.StatusCode, text)
				}
				if got := h.sim.Count("/v1/auth/refresh") - n; got != 1 {
					t.Errorf("refresh %d: %d calls to Descope; want 1", i+1, got)
				}
				if after := gatewayCookie(t, c, h.gw.URL, refName); after == before || after == "" {
					t.Errorf("refresh %d: the rotated refresh token was not kept", i+1)
				}
			}
		})
	}
}

// TestNoRefreshTokenIsAClearError: a project that keeps the refresh token in
// a cookie the gateway never sees (a custom domain under another parent)
// gets a sign-in refusal that says what to change, not a session that ends
// with the first session JWT.
func TestNoRefreshTokenIsAClearError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	if err := h.sim.SetTokenDelivery(descopesim.TokenDelivery{Mode: descopesim.DeliveryRefreshCookie}); err != nil {
		t.Fatal(err)
	}
	u := h.user(t, "U2norefresh")
	detail := h.flowSignIn(t, browser(t), u.Email) // Descope's cookies stay in that jar
	c := browser(t)
	resp, text := h.postSession(t, c, detail)
	if resp.StatusCode != http.StatusUnauthorized || errorCode(t, text) != "UNAUTHENTICATED" ||
		!strings.Contains(text, "no refresh token") || !strings.Contains(text, "response body") {
		t.Fatalf("sign-in without a refresh token: %d %s; want 401 naming the console setting", resp.StatusCode, text)
	}
	if gatewayCookie(t, c, h.gw.URL, "mlflow_ds") != "" {
		t.Error("a session cookie was set anyway")
	}
	// No tokens at all (cookie session mode, cookies elsewhere) says so too.
	resp, text = h.postSession(t, c, map[string]any{})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(text, "no session token") {
		t.Fatalf("sign-in without tokens: %d %s", resp.StatusCode, text)
	}
}

// TestDescopeCookiesDoNotOutliveSignOut: in cookie mode Descope's cookies
// stay in the browser after a sign-out here; posting them again must not
// sign the browser back in.
func TestDescopeCookiesDoNotOutliveSignOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	if err := h.sim.SetTokenDelivery(descopesim.TokenDelivery{Mode: descopesim.DeliveryCookies}); err != nil {
		t.Fatal(err)
	}
	u := h.user(t, "U2replay")
	c := browser(t)
	detail := h.flowSignIn(t, c, u.Email)
	if resp, text := h.postSession(t, c, detail); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, text)
	}
	if resp, text := do(t, c, http.MethodPost, h.gw.URL+"/auth/logout", map[string]string{"Origin": h.gw.URL}, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", resp.StatusCode, text)
	}
	resp, text := h.postSession(t, c, map[string]any{})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with the signed-out session's cookies: %d %s; want 401", resp.StatusCode, text)
	}
}

// cookieEnv names Descope's cookies (and drn) for the gateway.
func cookieEnv(n descope.CookieNames) []string {
	var env []string
	if n.Session != "" {
		env = append(env, "DESCOPE_SESSION_COOKIE_NAME="+n.Session)
	}
	if n.Refresh != "" {
		env = append(env, "DESCOPE_REFRESH_COOKIE_NAME="+n.Refresh)
	}
	return env
}
