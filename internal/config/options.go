package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/redact"
)

// option describes one configuration key: its name, default, whether it is a
// secret, and how it lands in Config. Every key can also be read from a file
// named by NAME_FILE, which keeps secrets out of the process environment.
type option struct {
	name   string
	def    string
	secret bool
	help   string
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

// options is the table of every key, in the order check-config prints them.
func options() []option {
	return []option{
		{name: "DESCOPE_PROJECT_ID", help: "Descope project ID (required)",
			set: func(c *Config, v string) error { c.ProjectID = v; return nil },
			get: func(c *Config) string { return c.ProjectID }},
		{name: "DESCOPE_MANAGEMENT_KEY", secret: true, help: "management key: user lookup, access-key owners, sync",
			set: func(c *Config, v string) error { c.ManagementKey = Secret(v); return nil },
			get: func(c *Config) string { return c.ManagementKey.String() }},
		{name: "DESCOPE_BASE_URI", help: "Descope API base URL (custom domain or simulator); derived from the project ID when empty",
			set: func(c *Config, v string) error { c.BaseURI = strings.TrimRight(v, "/"); return nil },
			get: func(c *Config) string { return c.BaseURI }},
		{name: "DESCOPE_FLOW_ID", def: "sign-up-or-in", help: "flow the login page runs",
			set: func(c *Config, v string) error { c.FlowID = v; return nil },
			get: func(c *Config) string { return c.FlowID }},
		{name: "DESCOPE_ADMIN_FLOW_ID", help: "flow for the gateway admin page (e.g. one that requires MFA); empty: no step-up",
			set: func(c *Config, v string) error { c.AdminFlowID = v; return nil },
			get: func(c *Config) string { return c.AdminFlowID }},
		{name: "DESCOPE_REDIRECT_URL", def: "/", help: "where users land after sign-in when no next page is given",
			set: func(c *Config, v string) error { c.RedirectURL = v; return nil },
			get: func(c *Config) string { return c.RedirectURL }},
		{name: "DESCOPE_WEB_COMPONENT_VERSION", def: "4.3.2", help: "version of @descope/web-component loaded by the login page",
			set: func(c *Config, v string) error { c.WebComponentVersion = v; return nil },
			get: func(c *Config) string { return c.WebComponentVersion }},
		{name: "DESCOPE_WEB_COMPONENT_URL", help: "full script URL of the web component (self-hosted copy); overrides the version",
			set: func(c *Config, v string) error { c.WebComponentURL = v; return nil },
			get: func(c *Config) string { return c.WebComponentURL }},
		{name: "DESCOPE_BASE_STATIC_URL", help: "where the web component fetches flow screens and config (its base-static-url); default: the API's /pages, then Descope's static hosts",
			set: func(c *Config, v string) error { c.BaseStaticURL = strings.TrimRight(v, "/"); return nil },
			get: func(c *Config) string { return c.BaseStaticURL }},
		{name: "DESCOPE_BASE_CDN_URL", help: "where the web component loads @descope/web-components-ui from (its base-cdn-url); default: Descope's CDN and its fallbacks",
			set: func(c *Config, v string) error { c.BaseCDNURL = strings.TrimRight(v, "/"); return nil },
			get: func(c *Config) string { return c.BaseCDNURL }},
		{name: "DESCOPE_LOGIN_CSP_EXTRAS", help: "third parties the login page may load, for flows that use them: recaptcha, hcaptcha, google-one-tap (comma-separated)",
			set: func(c *Config, v string) error { c.LoginCSPExtras = splitList(strings.ToLower(v)); return nil },
			get: func(c *Config) string { return strings.Join(c.LoginCSPExtras, ",") }},
		{name: "DESCOPE_SESSION_COOKIE_NAME", def: "DS", help: "name of Descope's session cookie and the session token's drn (a flow's End action can rename it)",
			set: func(c *Config, v string) error { c.SessionCookieName = v; return nil },
			get: func(c *Config) string { return c.SessionCookieName }},
		{name: "DESCOPE_REFRESH_COOKIE_NAME", def: "DSR", help: "name of Descope's refresh cookie and the refresh token's drn",
			set: func(c *Config, v string) error { c.RefreshCookieName = v; return nil },
			get: func(c *Config) string { return c.RefreshCookieName }},
		{name: "DESCOPE_ADMIN_ROLES", def: "admin,mlflow-admin", help: "Descope roles that make a user an MLflow admin",
			set: func(c *Config, v string) error { c.AdminRoles = splitList(v); return nil },
			get: func(c *Config) string { return strings.Join(c.AdminRoles, ",") }},
		{name: "DESCOPE_DEFAULT_PERMISSION", def: "READ", help: "MLflow default permission: NO_PERMISSIONS, READ, USE, EDIT or MANAGE",
			set: func(c *Config, v string) error { c.DefaultPermission = strings.ToUpper(v); return nil },
			get: func(c *Config) string { return c.DefaultPermission }},
		{name: "DESCOPE_AUDIENCE", help: "extra accepted JWT audiences (comma-separated); the project ID is always accepted",
			set: func(c *Config, v string) error { c.Audiences = splitList(v); return nil },
			get: func(c *Config) string { return strings.Join(c.Audiences, ",") }},
		{name: "DESCOPE_ROLE_MAPPING_FILE", help: "file mapping Descope roles and permissions to MLflow roles",
			set: func(c *Config, v string) error { c.RoleMappingFile = v; return nil },
			get: func(c *Config) string { return c.RoleMappingFile }},
		{name: "DESCOPE_SYNC_INTERVAL", def: "5m", help: "how often users are synced from Descope (needs the management key); 0 disables. Replicas sharing a PostgreSQL database run it on one of them at a time",
			set: func(c *Config, v string) error { return parseDuration(v, &c.SyncInterval) },
			get: func(c *Config) string { return c.SyncInterval.String() }},

		{name: "MLFLOW_BACKEND_STORE_URI", def: "sqlite:///mlflow.db", help: "MLflow tracking store (launcher mode)",
			set: func(c *Config, v string) error { c.BackendStoreURI = v; return nil },
			get: func(c *Config) string { return redactURL(c.BackendStoreURI) }},
		{name: "MLFLOW_ARTIFACT_ROOT", def: "./mlartifacts", help: "where MLflow's artifact proxy stores artifacts (launcher mode)",
			set: func(c *Config, v string) error { c.ArtifactRoot = v; return nil },
			get: func(c *Config) string { return c.ArtifactRoot }},
		{name: "MLFLOW_DESCOPE_MLFLOW_URL", help: "URL of an MLflow started separately with the plugin (external mode)",
			set: func(c *Config, v string) error { return parseURL(v, &c.MLflowURL) },
			get: func(c *Config) string { return urlString(c.MLflowURL) }},
		{name: "MLFLOW_DESCOPE_MLFLOW_BIN", help: "mlflow executable (default: .venv/bin/mlflow, then PATH)",
			set: func(c *Config, v string) error { c.MLflowBin = v; return nil },
			get: func(c *Config) string { return c.MLflowBin }},
		{name: "MLFLOW_DESCOPE_ENABLE_WORKSPACES", def: "false", help: "run MLflow with workspaces; Descope tenants become workspaces",
			set: func(c *Config, v string) error { return parseBool(v, &c.EnableWorkspaces) },
			get: func(c *Config) string { return strconv.FormatBool(c.EnableWorkspaces) }},
		{name: "MLFLOW_DESCOPE_STATIC_PREFIX", help: "path prefix MLflow is served under (mlflow server --static-prefix)",
			set: func(c *Config, v string) error { c.StaticPrefix = strings.TrimRight(v, "/"); return nil },
			get: func(c *Config) string { return c.StaticPrefix }},
		{name: "MLFLOW_DESCOPE_ASSERTION_SECRET", secret: true, help: "secret shared with the MLflow plugin (required in external mode; generated otherwise); replicas on PostgreSQL also seal the refreshes they share with a key derived from it",
			set: func(c *Config, v string) error { c.AssertionSecret = Secret(v); return nil },
			get: func(c *Config) string { return c.AssertionSecret.String() }},
		{name: "MLFLOW_DESCOPE_MLFLOW_WORKERS", def: "0", help: "MLflow processes the gateway runs and balances, one uvicorn worker each (launcher mode); 0: one per CPU core, 2 to 8",
			set: func(c *Config, v string) error { return parseWorkers(v, &c.MLflowWorkers) },
			get: func(c *Config) string { return strconv.Itoa(c.MLflowWorkers) }},
		{name: "MLFLOW_DESCOPE_SERVE_UI", def: "true", help: "the gateway serves MLflow's UI files itself, precompressed and cached; false: MLflow serves them",
			set: func(c *Config, v string) error { return parseBool(v, &c.ServeUI) },
			get: func(c *Config) string { return strconv.FormatBool(c.ServeUI) }},
		{name: "MLFLOW_DESCOPE_UI_DIR", help: "MLflow's UI build directory (mlflow/server/js/build of the MLflow behind the gateway); default: found in the installed MLflow (launcher mode), none (external mode: MLflow serves the UI)",
			set: func(c *Config, v string) error { c.UIDir = v; return nil },
			get: func(c *Config) string { return c.UIDir }},
		{name: "MLFLOW_DESCOPE_UI_CACHE_DIR", help: "where the compressed UI files are kept across restarts (may be shared); default: ui-cache in the data dir",
			set: func(c *Config, v string) error { c.UICacheDir = v; return nil },
			get: func(c *Config) string { return c.UICacheDir }},
		{name: "MLFLOW_DESCOPE_MLFLOW_HOME", help: "HOME (and XDG base directories) of the MLflow child; default <data dir>/mlflow/home (launcher mode)",
			set: func(c *Config, v string) error { c.MLflowHome = v; return nil },
			get: func(c *Config) string { return c.MLflowHome }},
		{name: "MLFLOW_AUTH_ADMIN_USERNAME", def: "mlflow-descope-auth-admin", help: "MLflow admin account the gateway uses for provisioning",
			set: func(c *Config, v string) error { c.AdminUsername = v; return nil },
			get: func(c *Config) string { return c.AdminUsername }},

		{name: "MLFLOW_DESCOPE_HOST", def: "127.0.0.1", help: "address the gateway listens on (flag --host)",
			set: func(c *Config, v string) error { c.Host = v; return nil },
			get: func(c *Config) string { return c.Host }},
		{name: "MLFLOW_DESCOPE_PORT", def: "5000", help: "port the gateway listens on (flag --port)",
			set: func(c *Config, v string) error { return parsePort(v, &c.Port) },
			get: func(c *Config) string { return strconv.Itoa(c.Port) }},
		{name: "MLFLOW_DESCOPE_PUBLIC_URL", help: "the gateway's public origin (behind a load balancer); default http://HOST:PORT",
			set: func(c *Config, v string) error { return parseURL(v, &c.PublicURL) },
			get: func(c *Config) string { return urlString(c.PublicURL) }},
		{name: "MLFLOW_DESCOPE_TRUSTED_PROXIES", help: "CIDRs whose X-Forwarded-* headers are trusted (none by default)",
			set: func(c *Config, v string) error { return parsePrefixes(v, &c.TrustedProxies) },
			get: func(c *Config) string { return prefixesString(c.TrustedProxies) }},
		{name: "MLFLOW_DESCOPE_DATA_DIR", def: "./.mlflow-descope-auth", help: "gateway state: generated secrets, MLflow auth DB, audit DB",
			set: func(c *Config, v string) error { c.DataDir = v; return nil },
			get: func(c *Config) string { return c.DataDir }},
		{name: "MLFLOW_DESCOPE_METRICS_ADDR", def: "127.0.0.1:9464", help: "Prometheus metrics listener; empty disables",
			set: func(c *Config, v string) error { c.MetricsAddr = v; return nil },
			get: func(c *Config) string { return c.MetricsAddr }},
		{name: "MLFLOW_DESCOPE_LOG_FORMAT", def: "json", help: "json or text",
			set: func(c *Config, v string) error { c.LogFormat = strings.ToLower(v); return nil },
			get: func(c *Config) string { return c.LogFormat }},
		{name: "MLFLOW_DESCOPE_LOG_LEVEL", def: "info", help: "debug, info, warn or error",
			set: func(c *Config, v string) error { c.LogLevel = strings.ToLower(v); return nil },
			get: func(c *Config) string { return c.LogLevel }},
		{name: "MLFLOW_DESCOPE_INSECURE_COOKIES", def: "false", help: "drop the Secure cookie flag on a plain-HTTP public URL (never in production)",
			set: func(c *Config, v string) error { return parseBool(v, &c.InsecureCookies) },
			get: func(c *Config) string { return strconv.FormatBool(c.InsecureCookies) }},
		{name: "MLFLOW_DESCOPE_MAX_JSON_BODY", def: "16777216", help: "largest JSON request body inspected and forwarded, in bytes",
			set: func(c *Config, v string) error { return parseInt64(v, &c.MaxJSONBodyBytes) },
			get: func(c *Config) string { return strconv.FormatInt(c.MaxJSONBodyBytes, 10) }},
		{name: "MLFLOW_DESCOPE_UNKNOWN_ROUTES", def: "deny", help: "API routes the gateway does not know: deny (non-admins refused) or allow",
			set: func(c *Config, v string) error { c.UnknownRoutes = strings.ToLower(v); return nil },
			get: func(c *Config) string { return c.UnknownRoutes }},
		{name: "MLFLOW_DESCOPE_USERNAME", def: "loginId", help: "a new user's MLflow username: loginId, email or userId (kept once decided)",
			set: func(c *Config, v string) error {
				c.UsernameMode = canonical(v, "loginId", "email", "userId")
				return nil
			},
			get: func(c *Config) string { return c.UsernameMode }},
		{name: "MLFLOW_DESCOPE_LOGIN_TITLE", def: "Sign in to MLflow", help: "title and heading of the sign-in page",
			set: func(c *Config, v string) error { c.LoginTitle = strings.TrimSpace(v); return nil },
			get: func(c *Config) string { return c.LoginTitle }},
		{name: "MLFLOW_DESCOPE_USER_DIRECTORY", def: "admins", help: "who may list every MLflow username (users/list): admins or signed-in",
			set: func(c *Config, v string) error { c.UserDirectory = strings.ToLower(v); return nil },
			get: func(c *Config) string { return c.UserDirectory }},
		{name: "MLFLOW_DESCOPE_ASSISTANT_SETUP", def: "admins", help: "who may reach MLflow's assistant configuration and skill installation: admins or users (MLflow still refuses them to non-local requests)",
			set: func(c *Config, v string) error { c.AssistantSetup = strings.ToLower(v); return nil },
			get: func(c *Config) string { return c.AssistantSetup }},

		{name: "MLFLOW_DESCOPE_SELF_SERVICE_KEYS", def: "true", help: "signed-in users create and revoke their own access keys (/auth/keys) and sign in from code (CLI, notebooks); needs DESCOPE_MANAGEMENT_KEY",
			set: func(c *Config, v string) error { return parseBool(v, &c.SelfServiceKeys) },
			get: func(c *Config) string { return strconv.FormatBool(c.SelfServiceKeys) }},
		{name: "MLFLOW_DESCOPE_MAX_KEYS_PER_USER", def: "10", help: "most unexpired access keys one user may hold before the self-service page and the CLI refuse another (1-1000)",
			set: func(c *Config, v string) error { return parseInt(v, &c.MaxKeysPerUser) },
			get: func(c *Config) string { return strconv.Itoa(c.MaxKeysPerUser) }},
		{name: "MLFLOW_DESCOPE_MAX_KEY_EXPIRY", def: "2160h", help: "longest expiry a user may give a self-service access key (24h or more; the page offers 1, 7, 30, 90, 180 and 365 days up to it)",
			set: func(c *Config, v string) error { return parseDuration(v, &c.MaxKeyExpiry) },
			get: func(c *Config) string { return c.MaxKeyExpiry.String() }},

		{name: "MLFLOW_DESCOPE_AUDIT_DB", help: "the gateway's database (audit log, MLflow usernames, signed-out sessions, blocked users, the sync lease, shared refreshes): sqlite:///path or postgres://… (shared by replicas); default SQLite in the data dir",
			set: func(c *Config, v string) error { c.AuditDatabaseURI = v; return nil },
			get: func(c *Config) string { return redactURL(c.AuditDatabaseURI) }},
		{name: "MLFLOW_DESCOPE_AUDIT_RETENTION", def: "2160h", help: "how long audit events are kept; 0 keeps them forever",
			set: func(c *Config, v string) error { return parseDuration(v, &c.AuditRetention) },
			get: func(c *Config) string { return c.AuditRetention.String() }},
		{name: "MLFLOW_DESCOPE_AUDIT_STDOUT", def: "false", help: "also write audit events to stdout as JSON lines (for a SIEM)",
			set: func(c *Config, v string) error { return parseBool(v, &c.AuditStdout) },
			get: func(c *Config) string { return strconv.FormatBool(c.AuditStdout) }},
	}
}

// canonical returns the one of names v equals ignoring case, else v.
func canonical(v string, names ...string) string {
	for _, n := range names {
		if strings.EqualFold(v, n) {
			return n
		}
	}
	return v
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not a boolean (use true or false)", v)
	}
	*dst = b
	return nil
}

func parseDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a duration (e.g. 90s, 5m, 720h)", v)
	}
	*dst = d
	return nil
}

func parseInt64(v string, dst *int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive integer", v)
	}
	*dst = n
	return nil
}

func parseInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*dst = n
	return nil
}

func parseWorkers(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 64 {
		return fmt.Errorf("%q is not a worker count (0-64)", v)
	}
	*dst = n
	return nil
}

func parsePort(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q is not a port number", v)
	}
	*dst = n
	return nil
}

func parseURL(v string, dst **url.URL) error {
	if v == "" {
		*dst = nil
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) URL with a host", v)
	}
	*dst = u
	return nil
}

func parsePrefixes(v string, dst *[]netip.Prefix) error {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return fmt.Errorf("%q is not a CIDR or IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	*dst = out
	return nil
}

func prefixesString(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// redactURL hides the passwords inside a database URI (user info and
// query parameters).
func redactURL(v string) string {
	if v == "" {
		return ""
	}
	return redact.URL(v)
}
