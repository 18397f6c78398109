package app_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// TestSelfServiceEndToEnd runs the self-service features against the real
// gateway, a real mlflow server, the official MLflow client and headless
// Chromium, on one stack (the stack is the expensive part):
//
//   - keys page: sign in, create a key on /auth/keys, the MLflow client logs
//     a run with it, revoke it on the page, the client's next call is 401;
//   - CLI loopback: `python -m mlflow_descope_auth login URL` as a
//     subprocess opens "the browser" (BROWSER), Chromium signs in on that
//     URL and approves, the key lands in ~/.mlflow/credentials of a temp
//     HOME, and a fresh Python process logs a run with only
//     MLFLOW_TRACKING_URI;
//   - device flow: `login --device` shows a code, Chromium (another
//     browser) confirms it seeing the machine's name, the CLI receives the
//     key; wrong and reused codes are refused; polling is rate-limited.
func TestSelfServiceEndToEnd(t *testing.T) {
	st := startStack(t)
	py := pythonBin(t)
	t.Run("keys page", func(t *testing.T) { testKeysPage(t, st, py) })
	t.Run("cli loopback", func(t *testing.T) { testCLILoopback(t, st, py) })
	t.Run("device flow", func(t *testing.T) { testDeviceFlow(t, st, py) })
}

// pythonBin is the Python with MLflow and our package: $MLFLOW_PYTHON, or
// the one next to the mlflow executable.
func pythonBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MLFLOW_PYTHON"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(testenv.MLflowBin(t)), "python")
}

// runPython runs a script with exactly env (plus PATH) and returns its
// output and exit code.
func runPython(t *testing.T, py string, env []string, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1"}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("python: %v", err)
	}
	return string(out), code
}

// logRunScript logs a run with the official client, in an experiment of its
// own (another user's would be read-only), and prints its ID.
const logRunScript = `
import os, mlflow
mlflow.set_experiment("self-service-e2e-" + os.environ["E2E_EXPERIMENT"])
with mlflow.start_run() as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("auc", 0.91)
print("RUN", run.info.run_id)
`

// callScript makes one client call and prints the HTTP status it failed with.
const callScript = `
import sys, mlflow
from mlflow.exceptions import MlflowException
try:
    mlflow.search_experiments(max_results=1)
except MlflowException as e:
    print("STATUS", e.get_http_status_code(), e.error_code)
    sys.exit(3)
print("OK")
`

var runLine = regexp.MustCompile(`RUN ([0-9a-f]{32})`)

// signInAt drives the login page Chromium was sent to (the stand-in web
// component) and waits until the browser is back on a page of want.
func signInAt(t *testing.T, ctx context.Context, loginID, wantSelector string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css("#descope-login-id")),
		chromedp.SendKeys(css("#descope-login-id"), loginID),
		chromedp.Click(css("#descope-submit")),
		chromedp.WaitVisible(css(wantSelector)),
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("sign in as %s: %v (at %s)", loginID, err, loc)
	}
}

// css is a CSS selector for chromedp.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func browserFor(t *testing.T) (context.Context, func(string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Browser(t), 3*time.Minute)
	t.Cleanup(cancel)
	shot := screenshots(t, ctx)
	t.Cleanup(func() {
		if t.Failed() {
			shot("failure")
		}
	})
	return ctx, shot
}

func testKeysPage(t *testing.T, st *stack, py string) {
	ctx, shot := browserFor(t)
	// From the MLflow UI: sign in, then the banner's link to the keys page
	// (a DOM click: MLflow's onboarding popovers can swallow a real one).
	if err := chromedp.Do(ctx, chromedp.Navigate(st.url+"/")); err != nil {
		t.Fatal(err)
	}
	signInAt(t, ctx, "keys-user@example.com", "#mda-keys")
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#mda-keys").click()`),
		chromedp.WaitVisible(css("#create-key")),
	); err != nil {
		t.Fatalf("the banner's link to the keys page: %v", err)
	}
	shot("keys-1-empty")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css("#key-name"), "e2e notebook"),
		chromedp.SetValue(css("#key-expiry"), "7"),
		chromedp.Click(css("#create-button")),
		chromedp.WaitVisible(css("#secret")),
	); err != nil {
		t.Fatalf("create a key: %v", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Value(css("#secret")))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := chromedp.Run(ctx, chromedp.Text(css("#created-name")))
	shot("keys-2-created")
	if !strings.HasPrefix(secret, "K2") || name != "e2e notebook" {
		t.Fatalf("created key %q named %q", secret, name)
	}
	env := []string{"HOME=" + t.TempDir(), "MLFLOW_TRACKING_URI=" + st.url, "MLFLOW_TRACKING_TOKEN=" + secret, "E2E_EXPERIMENT=keys"}
	out, code := runPython(t, py, env, logRunScript)
	m := runLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("MLflow client with the new key: exit %d\n%s", code, lastLines(out, 20))
	}
	if status, body := api(t, st.url, secret, http.MethodGet, "/api/2.0/mlflow/runs/get?run_id="+m[1], nil); status != http.StatusOK || body["run"] == nil {
		t.Errorf("the logged run: %d %v", status, body)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(st.url+"/auth/keys"),
		chromedp.WaitVisible(css("[data-revoke]")),
		chromedp.Click(css("[data-revoke]")),
		chromedp.WaitVisible(css("#revoked")),
		chromedp.WaitVisible(css("#no-keys")),
	); err != nil {
		t.Fatalf("revoke on the page: %v", err)
	}
	shot("keys-3-revoked")
	// machine-access.md: revoking on the page takes effect at once on the
	// replica that served it (the key is evicted from the gateway's cache).
	out, code = runPython(t, py, env, callScript)
	if code != 3 || !strings.Contains(out, "STATUS 401 UNAUTHENTICATED") {
		t.Errorf("client call after revoke: exit %d, want 401 UNAUTHENTICATED\n%s", code, lastLines(out, 10))
	}
}

// cliProcess is `python -m mlflow_descope_auth login …` running.
type cliProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func startCLI(t *testing.T, py string, env []string, args ...string) *cliProcess {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-m", "mlflow_descope_auth", "login"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1"}, env...)
	p := &cliProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("CLI output:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *cliProcess) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("CLI: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(within):
		t.Fatalf("CLI did not finish within %s\n%s", within, p.stderr.String())
	}
}

// waitFor polls f until it returns a non-empty string.
func waitFor(t *testing.T, what string, within time.Duration, f func() string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s := f(); s != "" {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s within %s", what, within)
	return ""
}

// checkCredentialsFile reads the key the CLI wrote and checks the file is
// private.
func checkCredentialsFile(t *testing.T, home string) string {
	t.Helper()
	path := filepath.Join(home, ".mlflow", "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %o, want 600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	m := regexp.MustCompile(`(?m)^mlflow_tracking_password = (K2\S+)$`).FindSubmatch(data)
	if m == nil || !strings.Contains(string(data), "[mlflow]") || !strings.Contains(string(data), "mlflow_tracking_username = ") {
		t.Fatalf("credentials file has no key:\n%s", data)
	}
	return string(m[1])
}

func testCLILoopback(t *testing.T, st *stack, py string) {
	home := t.TempDir()
	opened := filepath.Join(t.TempDir(), "opened-url")
	browserScript := filepath.Join(t.TempDir(), "browser.sh")
	// The CLI opens "the browser" through Python's webbrowser, which runs
	// $BROWSER with the URL: here, a script that hands the URL to the test.
	if err := os.WriteFile(browserScript, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+opened+".tmp && mv "+opened+".tmp "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cli := startCLI(t, py, []string{"HOME=" + home, "BROWSER=" + browserScript}, st.url, "--timeout", "150")
	url := waitFor(t, "URL opened by the CLI", 60*time.Second, func() string {
		b, _ := os.ReadFile(opened)
		return string(b)
	})
	if !strings.HasPrefix(url, st.url+"/auth/cli/authorize?") || !strings.Contains(url, "code_challenge_method=S256") ||
		!strings.Contains(url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A") {
		t.Fatalf("the CLI opened %s", url)
	}
	ctx, shot := browserFor(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	signInAt(t, ctx, "cli-user@example.com", "#approve")
	shot("cli-1-consent")
	client, _ := chromedp.Run(ctx, chromedp.Text(css("#client-name")))
	if err := chromedp.Do(ctx, chromedp.Click(css("#approve")), chromedp.WaitVisible(css("#result"))); err != nil {
		t.Fatalf("approve: %v", err)
	}
	result, _ := chromedp.Run(ctx, chromedp.Text(css("#result")))
	shot("cli-2-done")
	if result != "Signed in" || client == "" {
		t.Errorf("loopback page %q for client %q", result, client)
	}
	cli.wait(t, 60*time.Second)
	key := checkCredentialsFile(t, home)
	// A fresh process: nothing but the tracking URI (and the HOME whose
	// ~/.mlflow/credentials the client reads by itself).
	out, code := runPython(t, py, []string{"HOME=" + home, "MLFLOW_TRACKING_URI=" + st.url, "E2E_EXPERIMENT=cli"}, logRunScript)
	m := runLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("MLflow client with only MLFLOW_TRACKING_URI: exit %d\n%s", code, lastLines(out, 20))
	}
	if status, _ := api(t, st.url, key, http.MethodGet, "/api/2.0/mlflow/runs/get?run_id="+m[1], nil); status != http.StatusOK {
		t.Errorf("the run logged with the CLI's key: status %d", status)
	}
	// Giving the machine up: logout revokes the key at once and removes it.
	logout := exec.Command(py, "-m", "mlflow_descope_auth", "logout", st.url)
	logout.Env = []string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1", "HOME=" + home}
	lout, err := logout.CombinedOutput()
	if err != nil || !strings.Contains(string(lout), "Revoked the access key") || strings.Contains(string(lout), key) {
		t.Fatalf("logout: %v\n%s", err, lout)
	}
	if status, _ := api(t, st.url, key, http.MethodGet, "/api/2.0/mlflow/runs/get?run_id="+m[1], nil); status != http.StatusUnauthorized {
		t.Errorf("the CLI's key after logout: status %d, want 401", status)
	}
	if data, _ := os.ReadFile(filepath.Join(home, ".mlflow", "credentials")); strings.Contains(string(data), key) {
		t.Errorf("the key is still in the credentials file after logout")
	}
}

var (
	userCodeLine = regexp.MustCompile(`(?m)^\s+([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})\s*$`)
	verifyLine   = regexp.MustCompile(`open (http://\S+/auth/device) in any browser`)
)

func testDeviceFlow(t *testing.T, st *stack, py string) {
	home := t.TempDir()
	cli := startCLI(t, py, []string{"HOME=" + home}, st.url, "--device", "--timeout", "150")
	var code, verify string
	waitFor(t, "device code from the CLI", 60*time.Second, func() string {
		out := cli.stderr.String()
		c, v := userCodeLine.FindStringSubmatch(out), verifyLine.FindStringSubmatch(out)
		if c == nil || v == nil {
			return ""
		}
		code, verify = c[1], v[1]
		return code
	})
	if verify != st.url+"/auth/device" {
		t.Fatalf("the CLI shows %s, want %s/auth/device", verify, st.url)
	}
	host, _ := os.Hostname()

	ctx, shot := browserFor(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(verify)); err != nil {
		t.Fatal(err)
	}
	signInAt(t, ctx, "device-user@example.com", "#user-code")
	// A wrong code is refused.
	wrong := "ZZZZ-ZZZZ"
	if wrong == code {
		wrong = "BBBB-BBBB"
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css("#user-code"), wrong),
		chromedp.Click(css("#continue")),
		chromedp.WaitVisible(css("#device-error")),
	); err != nil {
		t.Fatalf("wrong code: %v", err)
	}
	errText, _ := chromedp.Run(ctx, chromedp.Text(css("#device-error")))
	if !strings.Contains(errText, "No sign-in is waiting") {
		t.Errorf("wrong code: %q", errText)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(css("#user-code"), strings.ToLower(code)),
		chromedp.Click(css("#continue")),
		chromedp.WaitVisible(css("#approve")),
	); err != nil {
		t.Fatalf("enter the code: %v", err)
	}
	name, _ := chromedp.Run(ctx, chromedp.Text(css("#device-name")))
	shownCode, _ := chromedp.Run(ctx, chromedp.Text(css("#device-code")))
	shot("device-1-confirm")
	if want := strings.ToLower(strings.ReplaceAll(host, "_", "-")); !strings.HasPrefix(want, name) || name == "" || shownCode != code {
		t.Errorf("confirmation names machine %q with code %q; want %q and %q", name, shownCode, want, code)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css("#approve")), chromedp.WaitVisible(css("#message"))); err != nil {
		t.Fatalf("approve: %v", err)
	}
	shot("device-2-approved")
	cli.wait(t, 60*time.Second)
	key := checkCredentialsFile(t, home)
	if status, _ := api(t, st.url, key, http.MethodGet, "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != http.StatusOK {
		t.Errorf("the device key: status %d", status)
	}
	// The spent code is refused in the browser too.
	err := chromedp.Do(ctx, chromedp.Navigate(verify+"?code="+code), chromedp.WaitVisible(css("#device-error")))
	errText, _ = chromedp.Run(ctx, chromedp.Text(css("#device-error")))
	if err != nil || !strings.Contains(errText, "already used") {
		t.Errorf("reused code: %q %v", errText, err)
	}

	// Polling faster than the interval is refused (SLOW_DOWN), however the
	// client is written.
	status, start := api(t, st.url, "", http.MethodPost, "/auth/device/code", map[string]string{"client_name": "poller"})
	if status != http.StatusOK {
		t.Fatalf("device code: %d", status)
	}
	poll := map[string]any{"device_code": start["device_code"]}
	first, _ := api(t, st.url, "", http.MethodPost, "/auth/device/token", poll)
	second, body := api(t, st.url, "", http.MethodPost, "/auth/device/token", poll)
	if first != http.StatusBadRequest || second != http.StatusTooManyRequests || body["error_code"] != "SLOW_DOWN" {
		t.Errorf("two quick polls: %d then %d %v; want 400 AUTHORIZATION_PENDING then 429 SLOW_DOWN", first, second, body)
	}
}
