package descopesim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestFlowAPI walks the simulated one-screen flow the way the real web
// component does (shared/docs/descope-web-component.md): flow files, the
// CORS preflight, start, next; the real component itself runs it in
// internal/gatewaytest.
func TestFlowAPI(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{AutoSignUp: true, UIComponentsVersion: "9.9.9"})
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	pages := "/pages/" + s.ProjectID() + "/v2-beta/"
	if code, body, h := get(pages + "config.json"); code != 200 || !strings.Contains(body, `"componentsVersion":"9.9.9"`) || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("config.json: %d %s %v", code, body, h)
	}
	if code, body, _ := get(pages + "theme.json"); code != 200 || !strings.Contains(body, `"light"`) {
		t.Errorf("theme.json: %d %s", code, body)
	}
	if code, body, _ := get(pages + LoginScreenID + ".html"); code != 200 || !strings.Contains(body, `name="loginId"`) || !strings.Contains(body, `id="`+loginInteraction+`"`) {
		t.Errorf("screen: %d %s", code, body)
	}
	if code, _, _ := get("/pages/P2other/v2-beta/config.json"); code != 404 {
		t.Errorf("other project's config: %d; want 404", code)
	}

	origin := "http://127.0.0.1:5000"
	pre, _ := http.NewRequest(http.MethodOptions, s.URL()+"/v1/flow/start", nil)
	pre.Header.Set("Origin", origin)
	pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-descope-sdk-name")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != origin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "x-descope-sdk-name") {
		t.Errorf("preflight headers %v", resp.Header)
	}

	post := func(path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+auth)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("%s: no CORS answer", path)
		}
		return resp.StatusCode, out
	}
	if code, _ := post("/v1/flow/start", "P2other", `{"flowId":"sign-in"}`); code != 401 {
		t.Errorf("start for another project: %d; want 401", code)
	}
	code, started := post("/v1/flow/start", s.ProjectID(), `{"flowId":"sign-in","interactionId":"","input":{},"options":{"tenant":""}}`)
	screen, _ := started["screen"].(map[string]any)
	if code != 200 || started["status"] != "running" || screen["id"] != LoginScreenID {
		t.Fatalf("start: %d %v", code, started)
	}
	exec, _ := started["executionId"].(string)
	if code, _ := post("/v1/flow/next", s.ProjectID(), `{"executionId":"nope","stepId":"1","interactionId":"submitterId","input":{"loginId":"x@example.com"}}`); code != 400 {
		t.Errorf("next of an unknown execution: %d; want 400", code)
	}
	code, done := post("/v1/flow/next", s.ProjectID(), `{"executionId":"`+exec+`","stepId":"1","interactionId":"submitterId","version":1,"input":{"loginId":"flow@example.com","origin":"`+origin+`"}}`)
	auth, _ := done["authInfo"].(map[string]any)
	if code != 200 || done["status"] != "completed" || auth == nil {
		t.Fatalf("next: %d %v", code, done)
	}
	if _, err := verifyJWKS(t, s, auth["sessionJwt"].(string)); err != nil {
		t.Errorf("authInfo.sessionJwt: %v", err)
	}
	if u, err := s.UserByLoginID("flow@example.com"); err != nil || auth["refreshJwt"] == "" || u.ID == "" {
		t.Errorf("user %v (%v), refresh %v", u, err, auth["refreshJwt"])
	}
	// The execution is over.
	if code, _ := post("/v1/flow/next", s.ProjectID(), `{"executionId":"`+exec+`","stepId":"1","interactionId":"submitterId","input":{"loginId":"flow@example.com"}}`); code != 400 {
		t.Errorf("next after completion: %d; want 400", code)
	}
}
