package config

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func load(t *testing.T, args []string, env []string, files map[string]string) (*Config, error) {
	t.Helper()
	return Load(Sources{
		Args:    args,
		Environ: env,
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
	})
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, []string{"DESCOPE_PROJECT_ID=P2abcdef"}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"flow", c.FlowID, "sign-up-or-in"},
		{"redirect", c.RedirectURL, "/"},
		{"permission", c.DefaultPermission, "READ"},
		{"admin roles", strings.Join(c.AdminRoles, ","), "admin,mlflow-admin"},
		{"backend", c.BackendStoreURI, "sqlite:///mlflow.db"},
		{"artifacts", c.ArtifactRoot, "./mlartifacts"},
		{"listen", c.ListenAddr(), "127.0.0.1:5000"},
		{"username", c.UsernameMode, "loginId"},
		{"user directory", c.UserDirectory, "admins"},
		{"self-service keys", fmt.Sprint(c.SelfServiceKeys, c.MaxKeysPerUser, c.MaxKeyExpiry), "true 10 2160h0m0s"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.ExternalMLflow() {
		t.Error("ExternalMLflow() = true without --mlflow-url")
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	files := map[string]string{"gw.env": "# comment\nexport DESCOPE_FLOW_ID=from-file\nDESCOPE_DEFAULT_PERMISSION='EDIT'\nMLFLOW_DESCOPE_PORT=6000\n"}
	env := []string{"DESCOPE_PROJECT_ID=P2abcdef", "MLFLOW_DESCOPE_CONFIG=gw.env", "MLFLOW_DESCOPE_PORT=7000"}
	c, err := load(t, []string{"--port", "8000"}, env, files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.FlowID != "from-file" {
		t.Errorf("FlowID = %q, want from-file (file beats default)", c.FlowID)
	}
	if c.DefaultPermission != "EDIT" {
		t.Errorf("DefaultPermission = %q, want EDIT (quotes stripped)", c.DefaultPermission)
	}
	if c.Port != 8000 {
		t.Errorf("Port = %d, want 8000 (flag beats env beats file)", c.Port)
	}
}

func TestFileVariant(t *testing.T) {
	t.Parallel()
	files := map[string]string{"/run/secrets/mk": "K2secret\n"}
	c, err := load(t, nil, []string{"DESCOPE_PROJECT_ID=P2abcdef", "DESCOPE_MANAGEMENT_KEY_FILE=/run/secrets/mk"}, files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ManagementKey.Reveal() != "K2secret" {
		t.Errorf("ManagementKey = %q, want K2secret", c.ManagementKey.Reveal())
	}
	_, err = load(t, nil, []string{"DESCOPE_PROJECT_ID=P2abcdef", "DESCOPE_MANAGEMENT_KEY=a", "DESCOPE_MANAGEMENT_KEY_FILE=/run/secrets/mk"}, files)
	if err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("both NAME and NAME_FILE: err = %v, want a conflict", err)
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  []string
		want []string // each must appear in the error
	}{
		{"missing project", nil, nil, []string{"DESCOPE_PROJECT_ID: is required"}},
		{"bad permission", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_DEFAULT_PERMISSION=WRITE"}, []string{"DESCOPE_DEFAULT_PERMISSION", "WRITE"}},
		{"bad url", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_BASE_URI=ftp://x"}, []string{"DESCOPE_BASE_URI"}},
		{"bad mlflow url", []string{"--mlflow-url", "not a url"}, []string{"DESCOPE_PROJECT_ID=P2x1"}, []string{"--mlflow-url"}},
		{"external needs secret", []string{"--mlflow-url", "http://127.0.0.1:5001"}, []string{"DESCOPE_PROJECT_ID=P2x1"}, []string{"MLFLOW_DESCOPE_ASSERTION_SECRET"}},
		{"bad port", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_PORT=99999"}, []string{"MLFLOW_DESCOPE_PORT"}},
		{"bad bool", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_AUDIT_STDOUT=yes please"}, []string{"MLFLOW_DESCOPE_AUDIT_STDOUT"}},
		{"bad duration", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_SYNC_INTERVAL=often"}, []string{"DESCOPE_SYNC_INTERVAL"}},
		{"absolute redirect", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_REDIRECT_URL=https://evil.example"}, []string{"DESCOPE_REDIRECT_URL"}},
		{"protocol-relative redirect", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_REDIRECT_URL=//evil.example"}, []string{"DESCOPE_REDIRECT_URL"}},
		{"bad cidr", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_TRUSTED_PROXIES=10.0.0.0/8,nope"}, []string{"MLFLOW_DESCOPE_TRUSTED_PROXIES", "nope"}},
		{"public url with path", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_PUBLIC_URL=https://mlflow.example/x"}, []string{"MLFLOW_DESCOPE_PUBLIC_URL"}},
		{"several at once", nil, []string{"DESCOPE_DEFAULT_PERMISSION=ALL", "MLFLOW_DESCOPE_LOG_FORMAT=xml"}, []string{"DESCOPE_PROJECT_ID", "DESCOPE_DEFAULT_PERMISSION", "MLFLOW_DESCOPE_LOG_FORMAT"}},
		{"bad username mode", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_USERNAME=name"}, []string{"MLFLOW_DESCOPE_USERNAME", "loginId, email or userId"}},
		{"empty login title", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_LOGIN_TITLE= "}, []string{"MLFLOW_DESCOPE_LOGIN_TITLE", "empty"}},
		{"bad user directory", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_USER_DIRECTORY=everyone"}, []string{"MLFLOW_DESCOPE_USER_DIRECTORY", "admins or signed-in"}},
		{"same cookie names", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_SESSION_COOKIE_NAME=X", "DESCOPE_REFRESH_COOKIE_NAME=X"}, []string{"DESCOPE_SESSION_COOKIE_NAME", "must differ"}},
		{"cookie name is not a token", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_REFRESH_COOKIE_NAME=a;b"}, []string{"DESCOPE_SESSION_COOKIE_NAME", "a;b"}},
		{"cookie name of the gateway", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_SESSION_COOKIE_NAME=mlflow_ds"}, []string{"DESCOPE_SESSION_COOKIE_NAME", "collides"}},
		{"unknown csp extra", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_LOGIN_CSP_EXTRAS=recaptcha,everything"}, []string{"DESCOPE_LOGIN_CSP_EXTRAS", "everything"}},
		{"bad static url", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_BASE_STATIC_URL=javascript:x"}, []string{"DESCOPE_BASE_STATIC_URL"}},
		{"bad cdn url", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_BASE_CDN_URL=ftp://x"}, []string{"DESCOPE_BASE_CDN_URL"}},
		{"unknown flag", []string{"--nope"}, []string{"DESCOPE_PROJECT_ID=P2x1"}, []string{"flags"}},
		{"too many keys per user", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_MAX_KEYS_PER_USER=0"}, []string{"MLFLOW_DESCOPE_MAX_KEYS_PER_USER"}},
		{"keys per user not a number", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_MAX_KEYS_PER_USER=ten"}, []string{"MLFLOW_DESCOPE_MAX_KEYS_PER_USER"}},
		{"key expiry under a day", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_MAX_KEY_EXPIRY=1h"}, []string{"MLFLOW_DESCOPE_MAX_KEY_EXPIRY"}},
		{"self-service not a bool", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_SELF_SERVICE_KEYS=maybe"}, []string{"MLFLOW_DESCOPE_SELF_SERVICE_KEYS"}},
		{"missing config file", nil, []string{"DESCOPE_PROJECT_ID=P2x1", "MLFLOW_DESCOPE_CONFIG=absent.env"}, []string{"absent.env"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, tt.env, nil)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBadFileLine(t *testing.T) {
	t.Parallel()
	_, err := load(t, []string{"--config", "c.env"}, []string{"DESCOPE_PROJECT_ID=P2x1"}, map[string]string{"c.env": "DESCOPE_FLOW_ID=x\nthis line is wrong\n"})
	if err == nil || !strings.Contains(err.Error(), "c.env:2") {
		t.Fatalf("err = %v, want the file and line", err)
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, []string{"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_FLOWID=typo", "MLFLOW_TRACKING_URI=http://x",
		"MLFLOW_DESCOPE_AUTH_SPEEDUPS=off"}, nil) // the plugin's switch is not the gateway's to judge
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "DESCOPE_FLOWID") {
		t.Errorf("Warnings = %q, want one about DESCOPE_FLOWID only", c.Warnings)
	}
}

func TestDumpMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, []string{
		"DESCOPE_PROJECT_ID=P2x1", "DESCOPE_MANAGEMENT_KEY=K2-very-secret",
		"MLFLOW_DESCOPE_ASSERTION_SECRET=0123456789abcdef0123456789abcdef-hidden",
		"MLFLOW_DESCOPE_AUDIT_DB=postgres://audit:pw-hidden@db/audit",
		// libpq also takes the password as a query parameter.
		"MLFLOW_BACKEND_STORE_URI=postgresql://ml@db/ml?sslmode=require&password=q-hidden",
	}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var b strings.Builder
	if err := c.Dump(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"K2-very-secret", "hidden"} {
		if strings.Contains(out, secret) {
			t.Errorf("Dump leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "DESCOPE_MANAGEMENT_KEY=********") {
		t.Errorf("Dump does not show the masked key:\n%s", out)
	}
	if got := c.ManagementKey.String(); got != "********" {
		t.Errorf("Secret.String() = %q", got)
	}
}

// TestTokenDeliveryHints: check-config warns when Descope's cookies, set on
// the custom domain's parent, cannot reach the gateway.
func TestTokenDeliveryHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		warn bool
	}{
		{"default cloud", nil, false},
		{"simulator on loopback", []string{"DESCOPE_BASE_URI=http://127.0.0.1:8790"}, false},
		{"sibling of the gateway", []string{"DESCOPE_BASE_URI=https://auth.example.com", "MLFLOW_DESCOPE_PUBLIC_URL=https://mlflow.example.com"}, false},
		{"another site", []string{"DESCOPE_BASE_URI=https://auth.example.com", "MLFLOW_DESCOPE_PUBLIC_URL=https://mlflow.example.org"}, true},
		{"gateway on loopback", []string{"DESCOPE_BASE_URI=https://auth.example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, nil, append([]string{"DESCOPE_PROJECT_ID=P2x1"}, tt.env...), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, w := range c.Warnings {
				if strings.Contains(w, "token response method") {
					got = true
				}
			}
			if got != tt.warn {
				t.Errorf("hint = %v; want %v (warnings %q)", got, tt.warn, c.Warnings)
			}
		})
	}
}
