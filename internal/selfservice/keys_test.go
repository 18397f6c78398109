package selfservice_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

var secretPattern = regexp.MustCompile(`id="secret"[^>]*value="([^"]+)"`)

// createKey posts the page's form and returns the secret shown.
func createKey(t *testing.T, c *client, name string, days int, ips string) string {
	t.Helper()
	resp, body := c.post("/auth/keys", url.Values{"name": {name}, "expires_days": {strconv.Itoa(days)}, "permitted_ips": {ips}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create key: status %d\n%s", resp.StatusCode, body)
	}
	m := secretPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("create key: no secret on the page\n%s", body)
	}
	return m[1]
}

// boundKeys lists the simulator's keys bound to userID.
func boundKeys(t *testing.T, e *env, userID string) []descope.AccessKey {
	t.Helper()
	keys, err := e.dc.SearchAccessKeys(context.Background(), descope.AccessKeySearch{BoundUserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestKeyLifecycle: a signed-in user creates a key on the page, the key is a
// Descope key bound to them with the chosen expiry and IPs, it works as
// them through the gateway, the page lists it, and revoking it stops it at
// once on this replica.
func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice", "editor")
	alice := e.browser(t, "U2alice")

	resp, body := alice.get("/auth/keys")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="no-keys"`) {
		t.Fatalf("empty keys page: status %d\n%s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q: want no script at all", csp)
	}
	// Under no-referrer, browsers post the page's forms with "Origin: null"
	// and the gateway refuses them as cross-site (found in Chromium).
	if rp := resp.Header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("Referrer-Policy %q, want same-origin", rp)
	}
	secret := createKey(t, alice, "laptop notebooks", 7, "127.0.0.1, 10.0.0.0/8")

	keys := boundKeys(t, e, "U2alice")
	if len(keys) != 1 {
		t.Fatalf("alice has %d keys in Descope, want 1", len(keys))
	}
	k := keys[0]
	if k.Name != "laptop notebooks" || len(k.RoleNames) != 0 || len(k.KeyTenants) != 0 {
		t.Errorf("key = %+v; want the name and no roles of its own (it carries the user's)", k)
	}
	if d := time.Until(k.ExpireTime); d < 7*24*time.Hour-time.Hour || d > 7*24*time.Hour+time.Hour {
		t.Errorf("key expires in %s, want 7 days", d)
	}
	if strings.Join(k.PermittedIPs, ",") != "127.0.0.1,10.0.0.0/8" {
		t.Errorf("permitted IPs = %v", k.PermittedIPs)
	}
	if status, user := e.mlflowAs(t, secret); status != http.StatusOK || user != "U2alice@example.com" {
		t.Errorf("the new key through the gateway: status %d as %q, want 200 as U2alice@example.com", status, user)
	}
	_, body = alice.get("/auth/keys")
	if !strings.Contains(body, `data-key-id="`+k.ID+`"`) || strings.Contains(body, secret) {
		t.Errorf("keys page: want the key listed and its secret nowhere\n%s", body)
	}
	if n := len(e.audit.find(audit.ActionAccessKeyCreate, "")); n != 1 {
		t.Errorf("%d access_key_create events, want 1", n)
	}

	resp, _ = alice.post("/auth/keys/"+k.ID+"/revoke", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/auth/keys?revoked=1") {
		t.Fatalf("revoke: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 0 {
		t.Errorf("after revoke alice has %d keys in Descope", n)
	}
	// The gateway had the key's token and record cached; revocation through
	// the page evicts them, so the very next call is refused.
	if status, _ := e.mlflowAs(t, secret); status != http.StatusUnauthorized {
		t.Errorf("revoked key: status %d, want 401 at once", status)
	}
	ev := e.audit.find(audit.ActionAccessKeyRevoke, "owner")
	if len(ev) != 1 || ev[0].Details["key_id"] != k.ID || ev[0].Actor.UserID != "U2alice" {
		t.Errorf("revoke events = %+v", ev)
	}
}

// TestCrossSiteWritesAreRefused: a page on another site cannot make a
// signed-in browser create or revoke keys, approve a CLI or a device.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	secret := createKey(t, alice, "kept", 1, "")
	id := boundKeys(t, e, "U2alice")[0].ID
	_, challenge := pkce("x")
	authz := url.Values{"redirect_uri": {"http://127.0.0.1:4242/cb"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}, "state": {"state-123456"}, "client_name": {"box"}, "decision": {"approve"}}
	for _, origin := range []string{"https://evil.example", "null", ""} {
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/auth/keys", url.Values{"name": {"evil"}, "expires_days": {"7"}}},
			{"/auth/keys/" + id + "/revoke", nil},
			{"/auth/cli/authorize", authz},
			{"/auth/device", url.Values{"user_code": {"BCDF-GHJK"}, "decision": {"approve"}}},
		} {
			resp, _ := alice.postFrom(origin, tc.path, tc.form)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s from origin %q: status %d, want 403", tc.path, origin, resp.StatusCode)
			}
		}
	}
	if keys := boundKeys(t, e, "U2alice"); len(keys) != 1 || keys[0].ID != id {
		t.Errorf("keys after cross-site posts = %+v; want the one key, unchanged", keys)
	}
	if status, _ := e.mlflowAs(t, secret); status != http.StatusOK {
		t.Errorf("key after a cross-site revoke: status %d", status)
	}
	// A browser that sends Sec-Fetch-Site instead of Origin passes.
	resp, _ := alice.do(http.MethodPost, "/auth/keys", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Sec-Fetch-Site": "same-origin", "Accept": "text/html"}, url.Values{"name": {"ok"}, "expires_days": {"7"}}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin post without Origin: status %d", resp.StatusCode)
	}
}

// TestUsersSeeAndRevokeOnlyTheirOwnKeys: bob's key is not on alice's page,
// and alice cannot revoke it even knowing its ID.
func TestUsersSeeAndRevokeOnlyTheirOwnKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	e.user(t, "U2bob")
	bob := e.browser(t, "U2bob")
	bobSecret := createKey(t, bob, "bob's", 7, "")
	bobKey := boundKeys(t, e, "U2bob")[0].ID
	standalone, _, err := e.gw.Sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "ci", Roles: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	alice := e.browser(t, "U2alice")
	_, body := alice.get("/auth/keys")
	if strings.Contains(body, bobKey) || strings.Contains(body, standalone) {
		t.Errorf("alice's page shows others' keys\n%s", body)
	}
	for _, id := range []string{bobKey, standalone, "K2doesnotexist"} {
		resp, body := alice.post("/auth/keys/"+id+"/revoke", nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no such access key") {
			t.Errorf("alice revokes %s: status %d, want 404 (as if it did not exist)", id, resp.StatusCode)
		}
	}
	if n := len(boundKeys(t, e, "U2bob")); n != 1 {
		t.Errorf("bob has %d keys after alice's attempt, want 1", n)
	}
	if status, user := e.mlflowAs(t, bobSecret); status != http.StatusOK || user != "U2bob@example.com" {
		t.Errorf("bob's key: %d as %q", status, user)
	}
	if ev := e.audit.find(audit.ActionAccessKeyRevoke, "not_owner"); len(ev) != 2 {
		t.Errorf("%d denied revoke events, want 2 (the keys that exist)", len(ev))
	}
}

// TestFilterIsAppliedHere: if Descope answered a search by bound user with
// every key, the page must still show only the user's own.
func TestFilterIsAppliedHere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{wrap: func(dc selfservice.Descope) selfservice.Descope { return ignoringFilter{dc} }})
	e.user(t, "U2alice")
	e.user(t, "U2bob")
	createKey(t, e.browser(t, "U2bob"), "bob's", 7, "")
	bobKey := boundKeys(t, e, "U2bob")[0].ID
	_, body := e.browser(t, "U2alice").get("/auth/keys")
	if strings.Contains(body, bobKey) {
		t.Errorf("alice sees bob's key when the search ignores its filter")
	}
}

type ignoringFilter struct{ selfservice.Descope }

func (f ignoringFilter) SearchAccessKeys(ctx context.Context, _ descope.AccessKeySearch) ([]descope.AccessKey, error) {
	return f.Descope.SearchAccessKeys(ctx, descope.AccessKeySearch{})
}

// TestAccessKeysCannotManageKeys: a request authenticated with an access key
// (or a bearer session token) is refused by the pages: a leaked key must
// not mint more keys.
func TestAccessKeysCannotManageKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	secret := createKey(t, e.browser(t, "U2alice"), "k", 7, "")
	sess, _ := e.gw.Mint(t, "U2alice", descopesim.MintOptions{})
	for name, auth := range map[string]string{"access key": "Bearer " + secret, "session token": "Bearer " + sess} {
		c := e.anonymous(t)
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			resp, _ := c.do(m, "/auth/keys", map[string]string{"Authorization": auth, "Accept": "text/html",
				"Content-Type": "application/x-www-form-urlencoded", "Origin": e.gw.URL}, "name=more&expires_days=7")
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s /auth/keys: status %d, want 403", name, m, resp.StatusCode)
			}
		}
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 1 {
		t.Errorf("alice has %d keys, want 1", n)
	}
}

// TestSignedOutVisitorsAreSentToSignIn: the pages need a session and come
// back after sign-in.
func TestSignedOutVisitorsAreSentToSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/auth/keys", "/auth/device?code=BCDF-GHJK"} {
		resp, _ := e.anonymous(t).get(path)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || loc != "/auth/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s signed out: status %d, Location %q", path, resp.StatusCode, loc)
		}
	}
}

// TestLimitsOnKeys: the expiry list is bounded by the setting, a lifetime
// not offered is refused, and a user at the key limit gets no more (expired
// keys do not count).
func TestLimitsOnKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: []string{"MLFLOW_DESCOPE_MAX_KEYS_PER_USER=2", "MLFLOW_DESCOPE_MAX_KEY_EXPIRY=1080h"}})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	_, body := alice.get("/auth/keys")
	for _, want := range []string{`value="1"`, `value="7"`, `value="30" selected`, `value="45"`} {
		if !strings.Contains(body, want) {
			t.Errorf("expiry choices: missing %s", want)
		}
	}
	if strings.Contains(body, `value="90"`) {
		t.Error("90 days offered over a 45-day maximum")
	}
	for _, days := range []string{"90", "0", "-1", "x", ""} {
		resp, _ := alice.post("/auth/keys", url.Values{"name": {"k"}, "expires_days": {days}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("expires_days=%q: status %d, want 400", days, resp.StatusCode)
		}
	}
	for _, bad := range []url.Values{
		{"name": {""}, "expires_days": {"7"}},
		{"name": {"<script>"}, "expires_days": {"7"}},
		{"name": {strings.Repeat("a", 65)}, "expires_days": {"7"}},
		{"name": {"k"}, "expires_days": {"7"}, "permitted_ips": {"not-an-ip"}},
	} {
		if resp, _ := alice.post("/auth/keys", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("form %v: status %d, want 400", bad, resp.StatusCode)
		}
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 0 {
		t.Fatalf("refused forms made %d keys", n)
	}
	createKey(t, alice, "one", 1, "")
	createKey(t, alice, "two", 7, "")
	resp, body := alice.post("/auth/keys", url.Values{"name": {"three"}, "expires_days": {"7"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "the most allowed here") {
		t.Errorf("third key: status %d, want 409 with the reason", resp.StatusCode)
	}
	// Once "one" has expired, it no longer counts.
	e.clock.advance(36 * time.Hour)
	createKey(t, alice, "three", 7, "")
	if n := len(boundKeys(t, e, "U2alice")); n != 3 {
		t.Errorf("alice has %d keys, want 3 (one expired)", n)
	}
}

// TestWithoutManagementKeyOrDisabled: the page says clearly why no key can
// be made, and the CLI's endpoints answer 501 with the reason.
func TestWithoutManagementKeyOrDisabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    envOptions
		want string
		// adminCan: the admin page still lists and revokes keys.
		adminCan bool
	}{
		{"no management key", envOptions{noManagementKey: true}, "DESCOPE_MANAGEMENT_KEY", false},
		{"disabled", envOptions{env: []string{"MLFLOW_DESCOPE_SELF_SERVICE_KEYS=false"}}, "turned off", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.o)
			if _, err := e.svc.AllKeys(context.Background()); (err == nil) != tc.adminCan || (e.svc.Unavailable() == "") != tc.adminCan {
				t.Errorf("admin listing: err %v, Unavailable %q; want possible=%v", err, e.svc.Unavailable(), tc.adminCan)
			}
			e.user(t, "U2alice")
			alice := e.browser(t, "U2alice")
			resp, body := alice.get("/auth/keys")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="unavailable"`) || !strings.Contains(body, tc.want) || strings.Contains(body, `id="create-key"`) {
				t.Errorf("keys page: status %d; want the reason (%s) and no form\n%s", resp.StatusCode, tc.want, body)
			}
			if resp, _ := alice.post("/auth/keys", url.Values{"name": {"k"}, "expires_days": {"7"}}); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotImplemented {
				t.Errorf("create: status %d", resp.StatusCode)
			}
			for _, path := range []string{"/auth/cli/token", "/auth/device/code", "/auth/device/token"} {
				resp, out := e.anonymous(t).api(path, map[string]string{})
				if resp.StatusCode != http.StatusNotImplemented || out["error_code"] != "FEATURE_DISABLED" || !strings.Contains(out["message"].(string), tc.want) {
					t.Errorf("%s: status %d %v", path, resp.StatusCode, out)
				}
			}
		})
	}
}

// TestDisabledUserGetsNoKey: a user disabled in Descope (whose session has
// not ended yet) cannot make a key.
func TestDisabledUserGetsNoKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	if err := e.gw.Sim.SetUserStatus("U2alice", descopesim.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	resp, _ := alice.post("/auth/keys", url.Values{"name": {"k"}, "expires_days": {"7"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("disabled user creates a key: status %d, want 403", resp.StatusCode)
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 0 {
		t.Errorf("disabled user got %d keys", n)
	}
}

// TestUnderPathPrefix: with MLflow under a prefix, every page, link, form
// and redirect stays under it.
func TestUnderPathPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{prefix: "/mlflow"})
	e.user(t, "U2p")
	c := e.browser(t, "U2p")
	resp, body := c.get("/mlflow/auth/keys")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("keys page: %d", resp.StatusCode)
	}
	for _, want := range []string{`href="/mlflow/auth/keys/static/selfservice.css"`, `action="/mlflow/auth/keys"`, "login " + e.gw.URL + "/mlflow"} {
		if !strings.Contains(body, want) {
			t.Errorf("keys page lacks %s", want)
		}
	}
	if resp, _ := c.get("/mlflow/auth/keys/static/selfservice.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("stylesheet: %d", resp.StatusCode)
	}
	resp, body = c.post("/mlflow/auth/keys", url.Values{"name": {"p"}, "expires_days": {"7"}})
	m := secretPattern.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(body, "MLFLOW_TRACKING_URI="+e.gw.URL+"/mlflow") {
		t.Fatalf("create under the prefix: %d\n%s", resp.StatusCode, body)
	}
	keys := boundKeys(t, e, "U2p")
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	resp, _ = c.post("/mlflow/auth/keys/"+keys[0].ID+"/revoke", nil)
	if loc := resp.Header.Get("Location"); loc != "/mlflow/auth/keys?revoked=1" {
		t.Errorf("revoke redirects to %q", loc)
	}
	resp, out := e.anonymous(t).api("/mlflow/auth/device/code", map[string]string{"client_name": "x"})
	if resp.StatusCode != http.StatusOK || out["verification_uri"] != e.gw.URL+"/mlflow/auth/device" {
		t.Errorf("device code under the prefix: %d %v", resp.StatusCode, out)
	}
	resp, _ = e.anonymous(t).get("/mlflow/auth/keys")
	if loc := resp.Header.Get("Location"); loc != "/mlflow/auth/login?next=%2Fmlflow%2Fauth%2Fkeys" {
		t.Errorf("signed out: Location %q", loc)
	}
	if resp, _ := c.get("/auth/keys"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outside the prefix: %d", resp.StatusCode)
	}
}

// slowCreate widens the window between counting a user's keys and Descope
// creating one, as a slow Descope call does.
type slowCreate struct{ selfservice.Descope }

func (s slowCreate) CreateAccessKey(ctx context.Context, k descope.NewAccessKey) (*descope.CreatedAccessKey, error) {
	time.Sleep(300 * time.Millisecond)
	return s.Descope.CreateAccessKey(ctx, k)
}

// TestKeyLimitHoldsAcrossReplicas: two replicas on one PostgreSQL database,
// a user at one key below the limit creating a key on each at the same
// moment: one succeeds, the other is refused (before: both counted the
// same keys and both created one).
func TestKeyLimitHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := testenv.FreshDatabase(t, testenv.RequirePostgres(t), "keylimit_")
	e := newEnv(t, envOptions{
		env:  []string{"MLFLOW_DESCOPE_AUDIT_DB=" + dsn, "MLFLOW_DESCOPE_MAX_KEYS_PER_USER=1"},
		wrap: func(d selfservice.Descope) selfservice.Descope { return slowCreate{d} },
	})
	r2 := e.replica(t)
	e.user(t, "U2alice")
	onA := e.browser(t, "U2alice")
	onB := *onA // the same browser (cookies do not depend on the port) at replica B
	onB.base = r2.URL
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i, c := range []*client{onA, &onB} {
		wg.Go(func() {
			resp, _ := c.post("/auth/keys", url.Values{"name": {"k" + strconv.Itoa(i)}, "expires_days": {"7"}})
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	slices.Sort(codes)
	if n := len(boundKeys(t, e, "U2alice")); n != 1 || codes[0] != http.StatusOK || codes[1] != http.StatusConflict {
		t.Errorf("alice has %d keys (statuses %v); want 1 key, one 200 and one 409", n, codes)
	}
}

// TestCLILogoutRevokesOnlyItsOwnKey: POST /auth/cli/logout with a key
// revokes that key (at once, and it is audited) and nothing else; without a
// key it is refused with MLflow's error shape.
func TestCLILogoutRevokesOnlyItsOwnKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	machine := createKey(t, alice, "old laptop", 7, "")
	other := createKey(t, alice, "ci", 7, "")
	logout := func(hdr map[string]string) (int, map[string]any) {
		hdr = maps.Clone(hdr)
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["Content-Type"] = "application/json"
		resp, body := e.anonymous(t).do(http.MethodPost, "/auth/cli/logout", hdr, "{}")
		var out map[string]any
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("logout answer %d is not JSON: %q", resp.StatusCode, body)
		}
		return resp.StatusCode, out
	}
	if code, out := logout(nil); code != http.StatusUnauthorized || out["error_code"] != "UNAUTHENTICATED" {
		t.Errorf("no credentials: %d %v; want 401 UNAUTHENTICATED", code, out)
	}
	resp, body := alice.do(http.MethodPost, "/auth/cli/logout", map[string]string{"Origin": e.gw.URL}, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
		t.Errorf("browser session: %d %s; want 400 (sessions revoke keys on the page)", resp.StatusCode, body)
	}
	if code, _ := e.mlflowAs(t, machine); code != http.StatusOK {
		t.Fatalf("the key before logout: %d", code)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("U2alice:"+machine))
	// A cross-site HTML form (a browser holding the key as Basic
	// credentials) cannot send JSON: refused, the key stays.
	resp, body = e.anonymous(t).do(http.MethodPost, "/auth/cli/logout",
		map[string]string{"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}, "a=b")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "application/json") {
		t.Errorf("form post with the key: %d %s; want 400", resp.StatusCode, body)
	}
	if code, _ := e.mlflowAs(t, machine); code != http.StatusOK {
		t.Fatalf("the key after a refused form post: %d", code)
	}
	code, out := logout(map[string]string{"Authorization": basic})
	revoked, _ := out["revoked"].(map[string]any)
	if code != http.StatusOK || revoked["name"] != "old laptop" {
		t.Fatalf("logout with the key: %d %v; want 200 naming the key", code, out)
	}
	if code, _ := e.mlflowAs(t, machine); code != http.StatusUnauthorized {
		t.Errorf("the key after logout: %d; want 401", code)
	}
	if code, _ := e.mlflowAs(t, other); code != http.StatusOK {
		t.Errorf("another key of the same user after logout: %d; want 200", code)
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 1 {
		t.Errorf("alice has %d keys at Descope; want 1", n)
	}
	if evs := e.audit.find(audit.ActionAccessKeyRevoke, ""); len(evs) != 1 || evs[0].Actor.UserID != "U2alice" {
		t.Errorf("key_revoked events: %+v; want one, by alice", evs)
	}
	// The revoked key cannot ask again.
	if code, _ := logout(map[string]string{"Authorization": basic}); code != http.StatusUnauthorized {
		t.Errorf("logout with the revoked key: %d; want 401", code)
	}
}
