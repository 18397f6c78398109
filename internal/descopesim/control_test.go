package descopesim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	steps := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
	}{
		{"create role", http.MethodPost, "/sim/roles", `{"name":"admin","permissions":["p1"]}`, http.StatusCreated},
		{"create tenant", http.MethodPost, "/sim/tenants", `{"id":"T1","name":"One"}`, http.StatusCreated},
		{"create user", http.MethodPost, "/sim/users", `{"id":"U2c","email":"c@example.com","roles":["admin"]}`, http.StatusCreated},
		{"duplicate user", http.MethodPost, "/sim/users", `{"id":"U2c"}`, http.StatusConflict},
		{"bad status", http.MethodPost, "/sim/users", `{"id":"U2d","status":"sleeping"}`, http.StatusBadRequest},
		{"update user", http.MethodPut, "/sim/users/U2c", `{"email":"c@example.com","name":"Cee","tenants":[{"id":"T1"}]}`, http.StatusOK},
		{"mint", http.MethodPost, "/sim/tokens", `{"userId":"U2c","alg":"RS256","sessionTtlSeconds":60}`, http.StatusOK},
		{"mint by login id", http.MethodPost, "/sim/tokens", `{"loginId":"c@example.com"}`, http.StatusOK},
		{"mint unknown", http.MethodPost, "/sim/tokens", `{"userId":"U2zz"}`, http.StatusNotFound},
		{"create key", http.MethodPost, "/sim/access-keys", `{"id":"K2fixed","secret":"K2secret","roles":["admin"],"ttlSeconds":30}`, http.StatusCreated},
		{"deactivate key", http.MethodPost, "/sim/access-keys/K2fixed/deactivate", ``, http.StatusNoContent},
		{"activate key", http.MethodPost, "/sim/access-keys/K2fixed/activate", ``, http.StatusNoContent},
		{"rotate keys", http.MethodPost, "/sim/keys/rotate", ``, http.StatusOK},
		{"inject fault", http.MethodPost, "/sim/faults", `{"pathPrefix":"/v1/auth/me","status":503,"times":1,"delayMs":1}`, http.StatusNoContent},
		{"bad fault", http.MethodPost, "/sim/faults", `{"pathPrefix":"nope","status":503}`, http.StatusBadRequest},
		{"clear faults", http.MethodDelete, "/sim/faults", ``, http.StatusNoContent},
		{"rotation on", http.MethodPut, "/sim/refresh-rotation", `{"enabled":true}`, http.StatusNoContent},
		{"counts", http.MethodGet, "/sim/counts", ``, http.StatusOK},
		{"reset counts", http.MethodDelete, "/sim/counts", ``, http.StatusNoContent},
		{"advance", http.MethodPost, "/sim/clock/advance", `{"seconds":5}`, http.StatusOK},
		{"disable user", http.MethodPost, "/sim/users/U2c/status", `{"status":"disabled"}`, http.StatusNoContent},
		{"list users", http.MethodGet, "/sim/users", ``, http.StatusOK},
		{"delete key", http.MethodDelete, "/sim/access-keys/K2fixed", ``, http.StatusNoContent},
		{"delete user", http.MethodDelete, "/sim/users/U2c", ``, http.StatusNoContent},
		{"delete user again", http.MethodDelete, "/sim/users/U2c", ``, http.StatusNotFound},
		{"malformed json", http.MethodPost, "/sim/users", `{`, http.StatusBadRequest},
		{"health", http.MethodGet, "/sim/healthz", ``, http.StatusOK},
		{"unknown path", http.MethodGet, "/v9/nothing", ``, http.StatusNotFound},
	}
	for _, st := range steps { // sequential: each step builds on the last
		if resp := call(t, s, st.method, st.path, "", st.body, nil); resp.StatusCode != st.wantStatus {
			t.Errorf("%s: %s %s: status %d; want %d", st.name, st.method, st.path, resp.StatusCode, st.wantStatus)
		}
	}
	if _, err := s.UserByID("U2c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByID after delete: %v; want ErrNotFound", err)
	}
}

func TestLoadSeed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		seed    string
		wantErr bool
	}{
		{name: "full", seed: `{"roles":[{"name":"admin","permissions":["x"]}],"tenants":[{"id":"T1","name":"One"}],
			"users":[{"id":"U2a","email":"a@example.com","roles":["admin"]}],
			"accessKeys":[{"id":"K2a","secret":"K2demo","boundUserId":"U2a","expireTime":0}]}`},
		{name: "empty", seed: `{}`},
		{name: "unknown field", seed: `{"people":[]}`, wantErr: true},
		{name: "duplicate user", seed: `{"users":[{"id":"U2a"},{"id":"U2a"}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{})
			err := s.LoadSeed(strings.NewReader(tt.seed))
			if (err != nil) != tt.wantErr {
				t.Fatalf("LoadSeed error = %v; want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestWebComponentScript(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	tests := []struct {
		path       string
		wantStatus int
	}{
		{path: "/sim/web-component.js", wantStatus: http.StatusOK},
		{path: "/npm/@descope/web-component@4.3.1/dist/index.js", wantStatus: http.StatusOK},
		{path: "/npm/@descope/react-sdk@1.0.0/dist/index.js", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Get(s.URL() + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	for _, want := range []string{`"descope-wc"`, `"descope-login-id"`, `"descope-submit"`, `"loginId"`, "/sim/flow/sign-in",
		`"success"`, `"error"`, `"ready"`, `"DS"`, `"DSR"`, "composed: true"} {
		if !strings.Contains(string(webComponentJS), want) {
			t.Errorf("web component script lacks %s", want)
		}
	}
}

func TestFlowSignIn(t *testing.T) {
	t.Parallel()
	const origin = "http://127.0.0.1:5000"
	tests := []struct {
		name          string
		autoSignUp    bool
		body          string
		wantStatus    int
		wantFirstSeen bool
	}{
		{name: "known user", body: `{"loginId":"known@example.com","projectId":"` + testProject + `","flowId":"sign-up-or-in"}`, wantStatus: http.StatusOK},
		{name: "auto sign-up", autoSignUp: true, body: `{"loginId":"new@example.com","projectId":"` + testProject + `"}`, wantStatus: http.StatusOK, wantFirstSeen: true},
		{name: "unknown without sign-up", body: `{"loginId":"new@example.com"}`, wantStatus: http.StatusUnauthorized},
		{name: "disabled user", body: `{"loginId":"off@example.com"}`, wantStatus: http.StatusUnauthorized},
		{name: "wrong project", body: `{"loginId":"known@example.com","projectId":"P2Other"}`, wantStatus: http.StatusBadRequest},
		{name: "empty login id", body: `{"loginId":" "}`, wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{AutoSignUp: tt.autoSignUp})
			mustUser(t, s, User{ID: "U2k", Email: "known@example.com"})
			mustUser(t, s, User{ID: "U2off", Email: "off@example.com", Status: StatusDisabled})

			pre, err := http.NewRequest(http.MethodOptions, s.URL()+"/sim/flow/sign-in", nil)
			if err != nil {
				t.Fatal(err)
			}
			pre.Header.Set("Origin", origin)
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", "content-type")
			presp, err := http.DefaultClient.Do(pre)
			if err != nil {
				t.Fatal(err)
			}
			presp.Body.Close()
			if presp.StatusCode != http.StatusNoContent || presp.Header.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(presp.Header.Get("Access-Control-Allow-Methods"), "POST") {
				t.Errorf("preflight: status %d, headers %v", presp.StatusCode, presp.Header)
			}

			req, err := http.NewRequest(http.MethodPost, s.URL()+"/sim/flow/sign-in", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, origin)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			var body refreshBody
			call(t, s, http.MethodPost, "/sim/flow/sign-in", "", tt.body, &body)
			if body.SessionJwt == "" || body.RefreshJwt == "" || body.User == nil || body.SessionExpiration == 0 || body.CookieExpiration == 0 {
				t.Fatalf("response = %+v; want tokens, user and expirations", body)
			}
			if body.FirstSeen {
				t.Errorf("second sign-in firstSeen = true")
			}
			if _, err := verifyJWKS(t, s, body.SessionJwt); err != nil {
				t.Errorf("session: %v", err)
			}
			if got := s.Count("/sim/flow/sign-in"); got != 2 {
				t.Errorf("Count(/sim/flow/sign-in) = %d; want 2", got)
			}
			if tt.wantFirstSeen {
				u, err := s.UserByLoginID("new@example.com")
				if err != nil || u.Email != "new@example.com" || u.Name != "new" {
					t.Errorf("auto-created user = %+v, %v", u, err)
				}
			}
		})
	}
}
