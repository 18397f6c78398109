// Package config holds the gateway's configuration: one typed struct filled from
// defaults, an optional file, the environment and flags (in that order of
// precedence), and validated without side effects.
package config

import (
	"net/netip"
	"net/url"
	"time"
)

// Config is the gateway's whole configuration.
type Config struct {
	// Descope
	ProjectID           string
	ManagementKey       Secret
	BaseURI             string // DESCOPE_BASE_URI; empty means derived from the project ID
	FlowID              string
	AdminFlowID         string
	RedirectURL         string
	WebComponentVersion string
	WebComponentURL     string // full script URL; overrides the version
	BaseStaticURL       string // the component's base-static-url; empty: its defaults
	BaseCDNURL          string // the component's base-cdn-url; empty: its defaults
	LoginCSPExtras      []string
	SessionCookieName   string // Descope's session cookie and drn (DS)
	RefreshCookieName   string // Descope's refresh cookie and drn (DSR)
	AdminRoles          []string
	DefaultPermission   string
	Audiences           []string
	RoleMappingFile     string
	SyncInterval        time.Duration

	// MLflow
	BackendStoreURI  string
	ArtifactRoot     string
	MLflowURL        *url.URL // external mode when set
	MLflowBin        string
	MLflowWorkers    int
	EnableWorkspaces bool
	StaticPrefix     string
	AssertionSecret  Secret // required in external mode; generated otherwise
	AdminUsername    string
	ServeUI          bool   // the gateway serves MLflow's static UI files
	UIDir            string // MLflow's UI build directory; empty: found (launcher) or none (external)
	UICacheDir       string // compressed UI files; empty: DataDir/ui-cache
	// MLflowHome is the MLflow child's HOME (launcher mode); empty means
	// <DataDir>/mlflow/home, never the gateway user's own home.
	MLflowHome string

	// Gateway
	Host             string
	Port             int
	PublicURL        *url.URL
	TrustedProxies   []netip.Prefix
	DataDir          string
	MetricsAddr      string
	LogFormat        string
	LogLevel         string
	InsecureCookies  bool // allow non-Secure cookies on a plain-HTTP non-localhost origin
	MaxJSONBodyBytes int64
	UnknownRoutes    string // "deny" (non-admins refused) or "allow"
	// UsernameMode is MLFLOW_DESCOPE_USERNAME: what a new user's MLflow
	// username is made of ("loginId", "email" or "userId").
	UsernameMode string
	// UserDirectory is MLFLOW_DESCOPE_USER_DIRECTORY: who may list every
	// MLflow username ("admins" or "signed-in").
	UserDirectory string
	// LoginTitle is MLFLOW_DESCOPE_LOGIN_TITLE: the sign-in page's title
	// and heading.
	LoginTitle     string
	AssistantSetup string // who may configure MLflow's assistant: "admins" or "users"

	// Self-service access keys (/auth/keys, sign-in from code)
	SelfServiceKeys bool
	MaxKeysPerUser  int
	MaxKeyExpiry    time.Duration

	// Audit
	AuditDatabaseURI string
	AuditRetention   time.Duration
	AuditStdout      bool

	// Warnings collected while loading (unknown keys, ...). Not errors.
	Warnings []string
}

// Permissions MLflow knows, lowest first.
var permissions = []string{"NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"}

// ValidPermission reports whether p is an MLflow permission name.
func ValidPermission(p string) bool {
	for _, q := range permissions {
		if p == q {
			return true
		}
	}
	return false
}

// ExternalMLflow reports whether MLflow is run by someone else (--mlflow-url).
func (c *Config) ExternalMLflow() bool { return c.MLflowURL != nil }

// ListenAddr is host:port for the public listener.
func (c *Config) ListenAddr() string {
	return joinHostPort(c.Host, c.Port)
}
