package config

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

// LoginCSPExtras are the third parties DESCOPE_LOGIN_CSP_EXTRAS can let into
// the login page.
var LoginCSPExtras = []string{"recaptcha", "hcaptcha", "google-one-tap"}

var (
	projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{4,64}$`)
	flowIDPattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	versionPattern   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([-.+][A-Za-z0-9.]+)?$`)
	usernamePattern  = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,128}$`)
)

// Validate checks the configuration and returns one error per problem, each
// naming its key. It does no I/O.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch {
	case c.ProjectID == "":
		bad("DESCOPE_PROJECT_ID", "is required (find it in the Descope console under Project Settings)")
	case !projectIDPattern.MatchString(c.ProjectID):
		bad("DESCOPE_PROJECT_ID", "%q is not a Descope project ID (letters and digits only)", c.ProjectID)
	}
	if c.BaseURI != "" {
		if err := parseURL(c.BaseURI, new(*url.URL)); err != nil {
			bad("DESCOPE_BASE_URI", "%v", err)
		}
	}
	if !flowIDPattern.MatchString(c.FlowID) {
		bad("DESCOPE_FLOW_ID", "%q is not a flow ID", c.FlowID)
	}
	if c.AdminFlowID != "" && !flowIDPattern.MatchString(c.AdminFlowID) {
		bad("DESCOPE_ADMIN_FLOW_ID", "%q is not a flow ID", c.AdminFlowID)
	}
	if !strings.HasPrefix(c.RedirectURL, "/") || strings.HasPrefix(c.RedirectURL, "//") || strings.HasPrefix(c.RedirectURL, "/\\") {
		bad("DESCOPE_REDIRECT_URL", "%q must be a path on this site, starting with a single /", c.RedirectURL)
	}
	if c.WebComponentURL == "" && !versionPattern.MatchString(c.WebComponentVersion) {
		bad("DESCOPE_WEB_COMPONENT_VERSION", "%q is not a version like 4.3.2", c.WebComponentVersion)
	}
	if c.WebComponentURL != "" {
		if err := parseURL(c.WebComponentURL, new(*url.URL)); err != nil {
			bad("DESCOPE_WEB_COMPONENT_URL", "%v", err)
		}
	}
	for _, u := range []struct{ key, v string }{{"DESCOPE_BASE_STATIC_URL", c.BaseStaticURL}, {"DESCOPE_BASE_CDN_URL", c.BaseCDNURL}} {
		if u.v != "" {
			if err := parseURL(u.v, new(*url.URL)); err != nil {
				bad(u.key, "%v", err)
			}
		}
	}
	for _, x := range c.LoginCSPExtras {
		if !slices.Contains(LoginCSPExtras, x) {
			bad("DESCOPE_LOGIN_CSP_EXTRAS", "%q is not one of %s", x, strings.Join(LoginCSPExtras, ", "))
		}
	}
	if err := (descope.CookieNames{Session: c.SessionCookieName, Refresh: c.RefreshCookieName}).Validate(); err != nil {
		bad("DESCOPE_SESSION_COOKIE_NAME", "%v", err)
	}
	for key, name := range map[string]string{"DESCOPE_SESSION_COOKIE_NAME": c.SessionCookieName, "DESCOPE_REFRESH_COOKIE_NAME": c.RefreshCookieName} {
		if strings.HasPrefix(name, "mlflow_") || strings.HasPrefix(name, "__Host-mlflow_") {
			bad(key, "%q collides with the gateway's own session cookies (mlflow_ds, mlflow_dsr)", name)
		}
	}
	if !ValidPermission(c.DefaultPermission) {
		bad("DESCOPE_DEFAULT_PERMISSION", "%q is not an MLflow permission (one of %s)", c.DefaultPermission, strings.Join(permissions, ", "))
	}
	if !usernamePattern.MatchString(c.AdminUsername) {
		bad("MLFLOW_AUTH_ADMIN_USERNAME", "%q is not a usable MLflow username", c.AdminUsername)
	}
	if c.ExternalMLflow() && len(c.AssertionSecret) < 32 {
		bad("MLFLOW_DESCOPE_ASSERTION_SECRET", "is required with an external MLflow (--mlflow-url) and must be at least 32 characters; give MLflow the same value")
	} else if c.AssertionSecret != "" && len(c.AssertionSecret) < 32 {
		bad("MLFLOW_DESCOPE_ASSERTION_SECRET", "must be at least 32 characters")
	}
	if c.Host == "" {
		bad("MLFLOW_DESCOPE_HOST", "must not be empty")
	} else if net.ParseIP(c.Host) == nil && c.Host != "localhost" {
		bad("MLFLOW_DESCOPE_HOST", "%q is not an IP address or localhost", c.Host)
	}
	if c.PublicURL != nil && (c.PublicURL.Path != "" && c.PublicURL.Path != "/" || c.PublicURL.RawQuery != "" || c.PublicURL.Fragment != "") {
		bad("MLFLOW_DESCOPE_PUBLIC_URL", "%q must be an origin (scheme://host[:port]) without a path; use MLFLOW_DESCOPE_STATIC_PREFIX for a prefix", c.PublicURL)
	}
	if c.StaticPrefix != "" && (!strings.HasPrefix(c.StaticPrefix, "/") || strings.Contains(c.StaticPrefix, "//") || strings.ContainsAny(c.StaticPrefix, "?#\\ ") || strings.Contains(c.StaticPrefix, "/.")) {
		bad("MLFLOW_DESCOPE_STATIC_PREFIX", "%q must be a path like /mlflow", c.StaticPrefix)
	}
	if c.PublicURL == nil && c.Host != "" && !isLoopback(c.Host) {
		bad("MLFLOW_DESCOPE_PUBLIC_URL", "is required when listening on %s (not loopback): set the https:// origin users reach", c.Host)
	}
	if c.PublicURL != nil && c.PublicURL.Scheme == "http" && !isLoopback(c.PublicURL.Hostname()) && !c.InsecureCookies {
		bad("MLFLOW_DESCOPE_PUBLIC_URL", "%q is plain HTTP on a non-local host: session cookies need HTTPS (set MLFLOW_DESCOPE_INSECURE_COOKIES=true only for a test setup)", c.PublicURL)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("MLFLOW_DESCOPE_METRICS_ADDR", "%q is not host:port", c.MetricsAddr)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("MLFLOW_DESCOPE_LOG_FORMAT", "%q must be json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("MLFLOW_DESCOPE_LOG_LEVEL", "%q must be debug, info, warn or error", c.LogLevel)
	}
	if c.UnknownRoutes != "deny" && c.UnknownRoutes != "allow" {
		bad("MLFLOW_DESCOPE_UNKNOWN_ROUTES", "%q must be deny or allow", c.UnknownRoutes)
	}
	switch c.UsernameMode {
	case "loginId", "email", "userId":
	default:
		bad("MLFLOW_DESCOPE_USERNAME", "%q must be loginId, email or userId", c.UsernameMode)
	}
	switch {
	case c.LoginTitle == "":
		bad("MLFLOW_DESCOPE_LOGIN_TITLE", "must not be empty")
	case utf8.RuneCountInString(c.LoginTitle) > 80:
		bad("MLFLOW_DESCOPE_LOGIN_TITLE", "is longer than 80 characters")
	case strings.IndexFunc(c.LoginTitle, unicode.IsControl) >= 0:
		bad("MLFLOW_DESCOPE_LOGIN_TITLE", "contains a control character")
	}
	if c.UserDirectory != "admins" && c.UserDirectory != "signed-in" {
		bad("MLFLOW_DESCOPE_USER_DIRECTORY", "%q must be admins or signed-in", c.UserDirectory)
	}
	if c.AssistantSetup != "admins" && c.AssistantSetup != "users" {
		bad("MLFLOW_DESCOPE_ASSISTANT_SETUP", "%q must be admins or users", c.AssistantSetup)
	}
	if c.DataDir == "" {
		bad("MLFLOW_DESCOPE_DATA_DIR", "must not be empty")
	}
	if c.MaxKeysPerUser < 1 || c.MaxKeysPerUser > 1000 {
		bad("MLFLOW_DESCOPE_MAX_KEYS_PER_USER", "%d must be between 1 and 1000", c.MaxKeysPerUser)
	}
	if c.MaxKeyExpiry < 24*time.Hour || c.MaxKeyExpiry > 3650*24*time.Hour {
		bad("MLFLOW_DESCOPE_MAX_KEY_EXPIRY", "%s must be between 24h and 87600h (ten years)", c.MaxKeyExpiry)
	}
	return errs
}

// Dump writes the effective configuration, one KEY=value line each, with
// secrets masked.
func (c *Config) Dump(w io.Writer) error {
	for _, o := range options() {
		if _, err := fmt.Fprintf(w, "%s=%s\n", o.name, o.get(c)); err != nil {
			return err
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SecureCookies reports whether session cookies get the Secure flag (and the
// __Host- prefix). Only plain-HTTP loopback, or an explicit test opt-in, drops it.
func (c *Config) SecureCookies() bool {
	if c.PublicURL != nil {
		if c.PublicURL.Scheme == "https" {
			return true
		}
		return !(isLoopback(c.PublicURL.Hostname()) || c.InsecureCookies)
	}
	return !isLoopback(c.Host)
}
