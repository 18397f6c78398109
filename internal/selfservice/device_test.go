package selfservice_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

type deviceStart struct {
	DeviceCode, UserCode, URI, Complete string
	Interval, ExpiresIn                 float64
}

func startDevice(t *testing.T, e *env, name string) deviceStart {
	t.Helper()
	resp, out := e.anonymous(t).api("/auth/device/code", map[string]string{"client_name": name})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device code: %d %v", resp.StatusCode, out)
	}
	d := deviceStart{}
	d.DeviceCode, _ = out["device_code"].(string)
	d.UserCode, _ = out["user_code"].(string)
	d.URI, _ = out["verification_uri"].(string)
	d.Complete, _ = out["verification_uri_complete"].(string)
	d.Interval, _ = out["interval"].(float64)
	d.ExpiresIn, _ = out["expires_in"].(float64)
	return d
}

func poll(t *testing.T, e *env, deviceCode string) (int, map[string]any) {
	t.Helper()
	resp, out := e.anonymous(t).api("/auth/device/token", map[string]string{"device_code": deviceCode})
	return resp.StatusCode, out
}

// TestDeviceSignIn: the code is shown with the URL, the user confirms it in
// the browser seeing the machine's name and address, the CLI's poll gets a
// working key, and the code is then spent.
func TestDeviceSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	d := startDevice(t, e, "gpu-box-7")
	if d.URI != e.gw.URL+"/auth/device" || d.Complete != d.URI+"?code="+d.UserCode || d.Interval != 5 || d.ExpiresIn != 600 {
		t.Errorf("start = %+v", d)
	}
	if len(d.UserCode) != 9 || d.UserCode[4] != '-' || len(d.DeviceCode) < 43 {
		t.Errorf("codes %q / %d chars", d.UserCode, len(d.DeviceCode))
	}
	if status, out := poll(t, e, d.DeviceCode); status != http.StatusBadRequest || out["error_code"] != "AUTHORIZATION_PENDING" {
		t.Errorf("first poll: %d %v", status, out)
	}

	alice := e.browser(t, "U2alice")
	// Typed in lower case with a space, as people do.
	typed := strings.ToLower(strings.Replace(d.UserCode, "-", " ", 1))
	resp, body := alice.get("/auth/device?code=" + url.QueryEscape(typed))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="device-name">gpu-box-7<`) ||
		!strings.Contains(body, `id="device-ip">127.0.0.1<`) || !strings.Contains(body, d.UserCode) {
		t.Fatalf("confirmation page: status %d; want the machine's name, address and code\n%s", resp.StatusCode, body)
	}
	resp, body = alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"approve"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "approved") {
		t.Fatalf("approve: status %d\n%s", resp.StatusCode, body)
	}
	// The CLI waits its interval, then gets the key.
	e.clock.advance(5 * time.Second)
	status, out := poll(t, e, d.DeviceCode)
	if status != http.StatusOK || out["user_id"] != "U2alice" || !strings.HasPrefix(out["key_name"].(string), "cli-gpu-box-7-") {
		t.Fatalf("poll after approval: %d %v", status, out)
	}
	if status, user := e.mlflowAs(t, out["access_key"].(string)); status != http.StatusOK || user != "U2alice@example.com" {
		t.Errorf("device key: %d as %q", status, user)
	}
	e.clock.advance(5 * time.Second)
	if status, out := poll(t, e, d.DeviceCode); status != http.StatusBadRequest || out["error_code"] != "INVALID_GRANT" {
		t.Errorf("poll after the key was delivered: %d %v, want INVALID_GRANT", status, out)
	}
	// Entering the spent code again is refused.
	if resp, body := alice.get("/auth/device?code=" + d.UserCode); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
		t.Errorf("spent code in the browser: status %d", resp.StatusCode)
	}
	if n := len(boundKeys(t, e, "U2alice")); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
	ev := e.audit.find(audit.ActionDeviceApprove, "approved")
	if len(ev) != 1 || ev[0].Details["client_name"] != "gpu-box-7" || ev[0].Actor.UserID != "U2alice" {
		t.Errorf("device_approve events = %+v", ev)
	}
}

// TestDevicePollingIsRateLimited: a poll sooner than the interval gets
// SLOW_DOWN with a longer interval (RFC 8628 §3.5), and so does every poll
// until the client slows down.
func TestDevicePollingIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	d := startDevice(t, e, "box")
	if status, _ := poll(t, e, d.DeviceCode); status != http.StatusBadRequest {
		t.Fatalf("first poll: %d", status)
	}
	for i, wantWait := range []string{"10", "15", "20"} {
		resp, out := e.anonymous(t).api("/auth/device/token", map[string]string{"device_code": d.DeviceCode})
		if resp.StatusCode != http.StatusTooManyRequests || out["error_code"] != "SLOW_DOWN" || resp.Header.Get("Retry-After") != wantWait {
			t.Errorf("fast poll %d: %d %v Retry-After %q, want 429 SLOW_DOWN after %s s", i, resp.StatusCode, out, resp.Header.Get("Retry-After"), wantWait)
		}
	}
	e.clock.advance(19 * time.Second)
	resp, _ := e.anonymous(t).api("/auth/device/token", map[string]string{"device_code": d.DeviceCode})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "25" {
		t.Errorf("poll 19 s later with a 20 s interval: %d, Retry-After %q; want 429 and 25 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.advance(25 * time.Second)
	if status, out := poll(t, e, d.DeviceCode); status != http.StatusBadRequest || out["error_code"] != "AUTHORIZATION_PENDING" {
		t.Errorf("poll after the interval: %d %v", status, out)
	}
}

// TestDeviceCodesRefused: wrong, malformed, expired, reused and declined
// codes get nothing, on either side.
func TestDeviceCodesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{limits: func(l *selfservice.Limits) { l.CodeEntryPerUser = unlimited{} }})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")

	t.Run("wrong and malformed", func(t *testing.T) {
		d := startDevice(t, e, "box")
		wrong := "BCDF-GHJK"
		if wrong == d.UserCode {
			wrong = "ZZZZ-ZZZZ"
		}
		for _, code := range []string{wrong, "ABCD-EFGH", "12345678", "<script>", strings.Repeat("B", 40)} {
			resp, body := alice.get("/auth/device?code=" + url.QueryEscape(code))
			if resp.StatusCode < 400 || !strings.Contains(body, `id="device-error"`) || strings.Contains(body, `id="approve"`) {
				t.Errorf("code %q: status %d; want an error and nothing to approve", code, resp.StatusCode)
			}
			resp, _ = alice.post("/auth/device", url.Values{"user_code": {code}, "decision": {"approve"}})
			if resp.StatusCode < 400 {
				t.Errorf("approving %q: status %d", code, resp.StatusCode)
			}
		}
		if status, out := poll(t, e, "not-a-device-code"); status != http.StatusBadRequest || out["error_code"] != "INVALID_GRANT" {
			t.Errorf("unknown device code: %d %v", status, out)
		}
		// The user code is not the device code: knowing what the user saw
		// does not let anyone poll for the key.
		if status, out := poll(t, e, d.UserCode); status != http.StatusBadRequest || out["error_code"] != "INVALID_GRANT" {
			t.Errorf("polling with the user code: %d %v", status, out)
		}
	})
	t.Run("expired", func(t *testing.T) {
		d := startDevice(t, e, "box")
		e.clock.advance(10*time.Minute + time.Second)
		if resp, body := alice.get("/auth/device?code=" + d.UserCode); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
			t.Errorf("expired code in the browser: status %d", resp.StatusCode)
		}
		if resp, _ := alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"approve"}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("approving an expired code: status %d", resp.StatusCode)
		}
		if status, out := poll(t, e, d.DeviceCode); status != http.StatusBadRequest || out["error_code"] != "EXPIRED_TOKEN" {
			t.Errorf("polling an expired code: %d %v", status, out)
		}
	})
	t.Run("approved then expired", func(t *testing.T) {
		d := startDevice(t, e, "box")
		alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"approve"}})
		e.clock.advance(10*time.Minute + time.Second)
		if status, out := poll(t, e, d.DeviceCode); status != http.StatusBadRequest || out["error_code"] != "EXPIRED_TOKEN" {
			t.Errorf("polling an approved but expired code: %d %v", status, out)
		}
	})
	t.Run("approved twice", func(t *testing.T) {
		d := startDevice(t, e, "box")
		alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"approve"}})
		resp, body := alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"approve"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
			t.Errorf("second approval: status %d", resp.StatusCode)
		}
	})
	t.Run("declined", func(t *testing.T) {
		d := startDevice(t, e, "box")
		resp, body := alice.post("/auth/device", url.Values{"user_code": {d.UserCode}, "decision": {"deny"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "declined") {
			t.Errorf("deny: status %d", resp.StatusCode)
		}
		if status, out := poll(t, e, d.DeviceCode); status != http.StatusForbidden || out["error_code"] != "ACCESS_DENIED" {
			t.Errorf("polling a declined code: %d %v", status, out)
		}
	})
	if n := len(boundKeys(t, e, "U2alice")); n != 0 {
		t.Errorf("refused codes made %d keys", n)
	}
	if len(e.audit.find(audit.ActionDeviceApprove, "unknown_code")) == 0 || len(e.audit.find(audit.ActionDeviceApprove, "denied")) != 1 {
		t.Errorf("device_approve refusals not audited: %+v", e.audit.find(audit.ActionDeviceApprove, ""))
	}
}

// TestDeviceCodeEntryIsRateLimited: guessing user codes in the browser is
// bounded per user.
func TestDeviceCodeEntryIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user(t, "U2alice")
	alice := e.browser(t, "U2alice")
	limited := 0
	for range 15 {
		if resp, _ := alice.get("/auth/device?code=ZZZZ-ZZZZ"); resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 5 {
		t.Errorf("%d of 15 quick guesses were refused, want 5 (10 allowed at once)", limited)
	}
	// Starting device sign-ins is bounded per address too.
	refused := 0
	for range 12 {
		if resp, _ := e.anonymous(t).api("/auth/device/code", map[string]string{"client_name": "x"}); resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d of 12 device sign-ins from one address refused, want 2", refused)
	}
}

type unlimited struct{}

func (unlimited) Allow(string) (bool, time.Duration) { return true, 0 }
