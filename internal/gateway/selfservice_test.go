package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// TestSelfServiceMount: the gateway mounts the self-service handler that
// app.New builds (internal/selfservice) and hands it who the request is.
// Each case is told apart by who answered: the handler's own pages and
// JSON, or the gateway's refusals. A signed-in browser reaches it with its
// identity (the page names the user), and so does a bearer session token
// (which the handler then refuses: keys are managed from a browser); a
// request without any credential passes through anonymously (the CLI's
// endpoints, and the pages' redirect to sign in); the origin is handed over
// (the device flow's URL); a bad credential is answered by the gateway; a
// cookie-authenticated write must pass the gateway's cross-site rule; and no
// self-service path reaches MLflow.
func TestSelfServiceMount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2ss")
	base := h.gw.URL
	c := browser(t)
	sess, ref := h.mint(t, "U2ss", descopesim.MintOptions{})
	if resp := h.signIn(t, c, sess, ref); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	anon := browser(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	newKey := url.Values{"name": {"mount test"}, "expires_days": {"7"}}.Encode()
	before := h.up.count()
	tests := []struct {
		name   string
		c      *http.Client
		method string
		path   string
		hdr    map[string]string
		body   string
		status int
		// want is in the body of the answer; location is where it
		// redirects.
		want, location string
	}{
		// Anonymous: through to the handler, which answers for itself.
		{"anonymous CLI call", anon, http.MethodPost, "/auth/cli/token", map[string]string{"Content-Type": "application/json"}, `{}`,
			http.StatusBadRequest, "code and code_verifier are required", ""},
		{"anonymous page", anon, http.MethodGet, "/auth/keys", nil, "", http.StatusSeeOther, "", "/auth/login?next=%2Fauth%2Fkeys"},
		{"anonymous device page", anon, http.MethodGet, "/auth/device", nil, "", http.StatusSeeOther, "", "/auth/login?next=%2Fauth%2Fdevice"},
		// The handler writes the gateway's origin into the device flow.
		{"device code", anon, http.MethodPost, "/auth/device/code", map[string]string{"Content-Type": "application/json"}, `{"client_name":"box"}`,
			http.StatusOK, `"verification_uri":"` + base + `/auth/device"`, ""},
		// Signed in: the handler sees the user.
		{"signed in", c, http.MethodGet, "/auth/keys", map[string]string{"Accept": "text/html"}, "", http.StatusOK, `id="viewer">User U2ss<`, ""},
		{"same-origin write", c, http.MethodPost, "/auth/keys", with(form, "Origin", base), newKey, http.StatusOK, `id="secret"`, ""},
		{"bearer session token", anon, http.MethodPost, "/auth/keys", with(form, "Authorization", "Bearer "+sess), newKey,
			http.StatusForbidden, "managed from a browser session", ""},
		// The gateway's own answers.
		{"cross-site write", c, http.MethodPost, "/auth/keys", with(form, "Origin", "https://evil.example"), newKey,
			http.StatusForbidden, "cross-site request refused", ""},
		{"write without origin", c, http.MethodPost, "/auth/keys/K2x/revoke", form, "", http.StatusForbidden, "cross-site request refused", ""},
		{"bad bearer", anon, http.MethodGet, "/auth/keys", map[string]string{"Authorization": "Bearer eyJ.bad.token"}, "",
			http.StatusUnauthorized, `"error_code":"UNAUTHENTICATED"`, ""},
		// Paths under the mount that the handler does not serve.
		{"unknown CLI path", c, http.MethodGet, "/auth/cli/nope", nil, "", http.StatusNotFound, "ENDPOINT_NOT_FOUND", ""},
		{"unknown device path", c, http.MethodPost, "/auth/device/nope", map[string]string{"Origin": base}, "", http.StatusNotFound, "ENDPOINT_NOT_FOUND", ""},
		{"next to the mount", c, http.MethodGet, "/auth/keysx", nil, "", http.StatusNotFound, "ENDPOINT_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		resp, body := do(t, tt.c, tt.method, base+tt.path, tt.hdr, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) || resp.Header.Get("Location") != tt.location {
			t.Errorf("%s: status %d, Location %q; want %d, %q and %q in\n%s", tt.name, resp.StatusCode, resp.Header.Get("Location"),
				tt.status, tt.location, tt.want, body)
		}
	}
	// Only the same-origin write made a key.
	keys, err := h.gw.Management(t).SearchAccessKeys(context.Background(), descope.AccessKeySearch{BoundUserID: "U2ss"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		names := []string{}
		for _, k := range keys {
			names = append(names, k.Name)
		}
		t.Errorf("U2ss has keys %q, want the one made same-origin", names)
	}
	if h.up.count() != before {
		t.Error("a self-service path reached MLflow")
	}
	// The anonymous answer is the handler's JSON, in MLflow's shape.
	_, body := do(t, anon, http.MethodPost, base+"/auth/cli/token", map[string]string{"Content-Type": "application/json"}, `{}`)
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || e["error_code"] == "" {
		t.Errorf("anonymous CLI call: %q is not MLflow error JSON", body)
	}
}
