package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// mlflowUser sends one request with the header and returns the status and
// the MLflow user it reached MLflow as ("" if it did not).
func (h *harness) mlflowUser(t *testing.T, c *http.Client, hdr map[string]string) (int, string) {
	t.Helper()
	before := h.up.count()
	resp, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search?max_results=1", hdr, "")
	if h.up.count() == before {
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("200 without reaching MLflow: %s", body)
		}
		return resp.StatusCode, ""
	}
	return resp.StatusCode, h.up.last(t).Subject
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestMLflowUsernamesAreReadable: people reach MLflow under their login ID,
// decided once from what Descope says of them, and never under someone
// else's name.
func TestMLflowUsernamesAreReadable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	create := func(t *testing.T, id string, logins ...string) {
		t.Helper()
		if err := h.sim.CreateUser(descopesim.User{ID: id, LoginIDs: logins, Email: logins[0]}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("sign-in decides from Descope's me", func(t *testing.T) {
		create(t, "U2signin", "signin@example.com")
		c := browser(t)
		s, r := h.mint(t, "U2signin", descopesim.MintOptions{})
		if resp := h.signIn(t, c, s, r); resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		if _, user := h.mlflowUser(t, c, nil); user != "signin@example.com" {
			t.Errorf("MLflow user %q, want signin@example.com", user)
		}
	})

	t.Run("bearer token, management API", func(t *testing.T) {
		create(t, "U2bearer", "bearer@example.com")
		s, _ := h.mint(t, "U2bearer", descopesim.MintOptions{})
		if _, user := h.mlflowUser(t, browser(t), bearer(s)); user != "bearer@example.com" {
			t.Errorf("MLflow user %q, want bearer@example.com", user)
		}
	})

	t.Run("reassigned login ID gets a new name", func(t *testing.T) {
		create(t, "U2first", "shared@example.com")
		first, _ := h.mint(t, "U2first", descopesim.MintOptions{})
		if _, user := h.mlflowUser(t, browser(t), bearer(first)); user != "shared@example.com" {
			t.Fatalf("first holder: %q", user)
		}
		// The address moves to another Descope user.
		if err := h.sim.UpdateUser(descopesim.User{ID: "U2first", LoginIDs: []string{"first.left@example.com"}, Email: "first.left@example.com"}); err != nil {
			t.Fatal(err)
		}
		create(t, "U2second", "shared@example.com")
		second, _ := h.mint(t, "U2second", descopesim.MintOptions{})
		if _, user := h.mlflowUser(t, browser(t), bearer(second)); user != "shared@example.com~2" {
			t.Errorf("newcomer with the old login ID: %q, want shared@example.com~2", user)
		}
		if _, user := h.mlflowUser(t, browser(t), bearer(first)); user != "shared@example.com" {
			t.Errorf("first holder after the change: %q, want their name kept", user)
		}
	})

	t.Run("a changed login ID keeps the name", func(t *testing.T) {
		create(t, "U2mover", "mover@old.example.com")
		signIn := func() map[string]any {
			t.Helper()
			c := browser(t)
			s, r := h.mint(t, "U2mover", descopesim.MintOptions{})
			if resp := h.signIn(t, c, s, r); resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d", resp.StatusCode)
			}
			_, body := do(t, c, "GET", h.gw.URL+"/auth/whoami", nil, "")
			var who map[string]any
			if err := json.Unmarshal([]byte(body), &who); err != nil {
				t.Fatal(err)
			}
			return who
		}
		signIn()
		if err := h.sim.UpdateUser(descopesim.User{ID: "U2mover", LoginIDs: []string{"mover@new.example.com"}, Email: "mover@new.example.com"}); err != nil {
			t.Fatal(err)
		}
		who := signIn()
		if who["username"] != "mover@old.example.com" || who["login_id"] != "mover@new.example.com" {
			t.Errorf("after the login ID changed: username %v, login ID %v", who["username"], who["login_id"])
		}
		r, ok, err := h.gw.App.Names().Lookup(context.Background(), "U2mover")
		if err != nil || !ok || r.Username != "mover@old.example.com" || r.LoginID != "mover@new.example.com" || r.FirstLoginID != "mover@old.example.com" {
			t.Errorf("recorded %+v, %v, %v", r, ok, err)
		}
	})

	t.Run("reserved names are never used", func(t *testing.T) {
		for id, login := range map[string]string{
			"U2imitator":  "MLflow-Descope-Auth-\u0430dmin", // Cyrillic а
			"U2keyprefix": "access-key-K2fake",
		} {
			create(t, id, login)
			s, _ := h.mint(t, id, descopesim.MintOptions{})
			if _, user := h.mlflowUser(t, browser(t), bearer(s)); user != id {
				t.Errorf("login ID %q: MLflow user %q, want the user ID %q", login, user, id)
			}
		}
	})

	t.Run("access key acts under its user's name", func(t *testing.T) {
		create(t, "U2keyowner", "keyowner@example.com")
		_, secret, err := h.sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: "U2keyowner"})
		if err != nil {
			t.Fatal(err)
		}
		if _, user := h.mlflowUser(t, browser(t), bearer(secret)); user != "keyowner@example.com" {
			t.Errorf("bound key: MLflow user %q, want keyowner@example.com", user)
		}
	})
}

// TestNoNameFromNothing: without a management key, a session token of a
// user the gateway has never seen names no one (403, nothing reaches
// MLflow) unless its claims carry the login ID; once the user signs in
// through the browser, the token works under the name decided then.
func TestNoNameFromNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noMgmtKey: true})
	for _, u := range []descopesim.User{
		{ID: "U2unknown", LoginIDs: []string{"unknown@example.com"}},
		{ID: "U2claims", LoginIDs: []string{"claims@example.com"}},
	} {
		if err := h.sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	s, r := h.mint(t, "U2unknown", descopesim.MintOptions{})
	status, user := h.mlflowUser(t, browser(t), bearer(s))
	if status != http.StatusForbidden || user != "" {
		t.Fatalf("unnamed bearer token: %d as %q, want 403 before MLflow", status, user)
	}
	_, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", bearer(s), "")
	if code := errorCode(t, body); code != "PERMISSION_DENIED" {
		t.Errorf("error code %s", code)
	}
	if resp := h.signIn(t, browser(t), s, r); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if _, user := h.mlflowUser(t, browser(t), bearer(s)); user != "unknown@example.com" {
		t.Errorf("after a browser sign-in: %q, want unknown@example.com", user)
	}

	withClaim, _ := h.mint(t, "U2claims", descopesim.MintOptions{ExtraClaims: map[string]any{"loginId": "claims@example.com"}})
	if _, user := h.mlflowUser(t, browser(t), bearer(withClaim)); user != "claims@example.com" {
		t.Errorf("login ID from the token's claims: %q, want claims@example.com", user)
	}
}

// TestUsernameModes: MLFLOW_DESCOPE_USERNAME=email and =userId.
func TestUsernameModes(t *testing.T) {
	t.Parallel()
	for mode, want := range map[string]string{"email": "mode@mail.example.com", "userId": "U2mode"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{env: []string{"MLFLOW_DESCOPE_USERNAME=" + mode}})
			if err := h.sim.CreateUser(descopesim.User{ID: "U2mode", LoginIDs: []string{"mode-login"}, Email: "mode@mail.example.com"}); err != nil {
				t.Fatal(err)
			}
			s, _ := h.mint(t, "U2mode", descopesim.MintOptions{})
			if _, user := h.mlflowUser(t, browser(t), bearer(s)); user != want {
				t.Errorf("MLflow user %q, want %q", user, want)
			}
		})
	}
}

// TestUserDirectory: MLflow's users/list (every username and admin flag)
// is for admins only by default, on both REST twins; signed-in restores
// MLflow's own rule.
func TestUserDirectory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2member")
	h.user(t, "U2boss", "mlflow-admin")
	member, _ := h.mint(t, "U2member", descopesim.MintOptions{})
	boss, _ := h.mint(t, "U2boss", descopesim.MintOptions{})
	open := h.withEnv(t, "MLFLOW_DESCOPE_USER_DIRECTORY=signed-in")
	for _, path := range []string{"/api/2.0/mlflow/users/list", "/ajax-api/2.0/mlflow/users/list"} {
		for _, c := range []struct {
			name, base, tok string
			want            int
		}{
			{"member, admins only", h.gw.URL, member, http.StatusForbidden},
			{"admin, admins only", h.gw.URL, boss, http.StatusOK},
			{"member, signed-in", open.URL, member, http.StatusOK},
		} {
			before := h.up.count()
			resp, body := do(t, browser(t), "GET", c.base+path, bearer(c.tok), "")
			if resp.StatusCode != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.name, path, resp.StatusCode, body, c.want)
			}
			reached := h.up.count() > before
			if reached != (c.want == http.StatusOK) {
				t.Errorf("%s %s: reached MLflow = %v", c.name, path, reached)
			}
			if c.want == http.StatusForbidden && errorCode(t, body) != "PERMISSION_DENIED" {
				t.Errorf("%s %s: %s", c.name, path, body)
			}
		}
	}
	// Looking up one's own user, and everything else, still works.
	if resp, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/users/current", bearer(member), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("users/current: %d %s", resp.StatusCode, body)
	}
}
