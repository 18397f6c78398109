// Package audit records what the gateway did and for whom: typed events,
// written asynchronously to a tamper-evident store (SQLite or PostgreSQL) in
// which every record is chained to the previous one by SHA-256.
//
// Events never carry secrets. Callers pass token hashes and access-key ids,
// never a token, cookie, password, Authorization header or management key;
// Validate rejects Details keys that look like they hold one.
package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Action names what happened. Values are stable snake_case strings: they are
// stored, hashed and searched, so a constant is never renamed.
type Action string

// The event catalogue. See docs/audit.md for when each is written.
const (
	ActionSignIn            Action = "sign_in"             // browser session created at /auth/session
	ActionRefresh           Action = "refresh"             // session refreshed server-side
	ActionSignOut           Action = "sign_out"            // /auth/logout
	ActionAuthFailure       Action = "auth_failure"        // a credential was missing, invalid or expired
	ActionAccessKeyExchange Action = "access_key_exchange" // access key exchanged for a session JWT
	ActionRequest           Action = "request"             // a proxied MLflow request
	ActionProvisionUser     Action = "provision_user"      // MLflow user created for a Descope identity
	ActionSetAdmin          Action = "set_admin"           // MLflow admin flag changed
	ActionAssignRole        Action = "assign_role"         // MLflow role granted
	ActionUnassignRole      Action = "unassign_role"       // MLflow role removed
	ActionCreateRole        Action = "create_role"         // MLflow role created from the mapping file
	ActionUpdateRole        Action = "update_role"         // MLflow role's description or grants changed to match the file
	ActionDeleteRole        Action = "delete_role"         // MLflow role removed: no longer in the file
	ActionCreateWorkspace   Action = "create_workspace"    // MLflow workspace created
	ActionSyncRun           Action = "sync_run"            // one run of the periodic role/user sync
	ActionConfig            Action = "config"              // gateway started with a configuration (hash only)
	ActionAuditPrune        Action = "audit_prune"         // written by the store itself when Prune deletes records
	ActionAssignUsername    Action = "assign_username"     // a Descope user's MLflow username decided (first sign-in, upgrade seed)
	ActionLoginIDChanged    Action = "login_id_changed"    // a user's login ID changed in Descope; the MLflow username was kept
	ActionAccessKeyCreate   Action = "access_key_create"   // a personal access key created (keys page, CLI or device sign-in)
	ActionAccessKeyRevoke   Action = "access_key_revoke"   // an access key deleted by its owner or an admin
	ActionCLILogin          Action = "cli_login"           // a sign-in from code through the browser (loopback): code issued or refused
	ActionDeviceApprove     Action = "device_approve"      // a device sign-in approved, denied or refused in the browser
)

// Actions lists every action the gateway writes, for filters and checks.
func Actions() []Action {
	return []Action{ActionSignIn, ActionRefresh, ActionSignOut, ActionAuthFailure,
		ActionAccessKeyExchange, ActionRequest, ActionProvisionUser, ActionSetAdmin,
		ActionAssignRole, ActionUnassignRole, ActionCreateRole, ActionUpdateRole, ActionDeleteRole,
		ActionCreateWorkspace, ActionSyncRun, ActionConfig, ActionAuditPrune,
		ActionAccessKeyCreate, ActionAccessKeyRevoke, ActionCLILogin, ActionDeviceApprove,
		ActionAssignUsername, ActionLoginIDChanged}
}

// Outcome is how an action ended.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success" // it happened
	OutcomeFailure Outcome = "failure" // the caller's credential or input was bad (401, 400)
	OutcomeDenied  Outcome = "denied"  // authenticated but not allowed (403)
	OutcomeError   Outcome = "error"   // the gateway or a dependency failed (5xx, Descope down)
)

// Method is how the actor authenticated.
type Method string

// Authentication methods. The empty Method means "not authenticated".
const (
	MethodCookie         Method = "cookie"           // browser session cookie
	MethodBearerJWT      Method = "bearer_jwt"       // Authorization: Bearer <session JWT>
	MethodAccessKey      Method = "access_key"       // Authorization: Bearer <access key>
	MethodBasicAccessKey Method = "basic_access_key" // access key as the Basic password
	MethodSystem         Method = "system"           // the gateway itself (sync, provisioning)
)

// Resource kinds used as keys of Resources.
const (
	ResourceExperiment   = "experiment_id"
	ResourceRun          = "run_id"
	ResourceModel        = "registered_model"
	ResourceModelVersion = "model_version"
	ResourceLoggedModel  = "logged_model_id"
	ResourceArtifactPath = "artifact_path"
	ResourceWorkspace    = "workspace"
	ResourceRole         = "role"
)

// Resources names what a request touched, by kind (see the Resource*
// constants): {"experiment_id": ["1", "7"], "artifact_path": ["model/MLmodel"]}.
// It is stored as JSON; empty lists are dropped.
type Resources map[string][]string

// Actor is who acted.
type Actor struct {
	UserID   string `json:"user_id,omitempty"`  // Descope user id
	Username string `json:"username,omitempty"` // MLflow username
	LoginID  string `json:"login_id,omitempty"` // Descope login id (e-mail, phone, ...)
	Method   Method `json:"method,omitempty"`
}

// Event is one audit record. The store assigns ID and Hash; Time is set to the
// store's (or Writer's) clock when zero and kept with microsecond precision.
type Event struct {
	ID           int64             `json:"id"`
	Time         time.Time         `json:"time"`
	Action       Action            `json:"action"`
	Outcome      Outcome           `json:"outcome"`
	Reason       string            `json:"reason,omitempty"` // short machine-friendly cause: "token_expired"
	Actor        Actor             `json:"actor"`
	ClientIP     string            `json:"client_ip,omitempty"`
	RequestID    string            `json:"request_id,omitempty"`
	Route        string            `json:"route,omitempty"` // route pattern, never the raw path
	RPC          string            `json:"rpc,omitempty"`   // MLflow RPC name, e.g. "CreateRun"
	Resources    Resources         `json:"resources,omitempty"`
	Status       int               `json:"status,omitempty"` // HTTP status returned to the client
	MLflowDenied bool              `json:"mlflow_denied,omitempty"`
	Latency      time.Duration     `json:"latency_ns,omitempty"`
	Details      map[string]string `json:"details,omitempty"`
	Hash         string            `json:"hash,omitempty"` // hex SHA-256 chain hash, set by the store
}

// Size limits applied by Append; longer values are truncated.
const (
	maxFieldLen  = 1024
	maxDetails   = 32
	maxResources = 256 // values across all kinds
)

// ErrInvalidEvent is returned (wrapped) by Validate and by Store.Append when
// an event cannot be stored. Retrying will not help.
var ErrInvalidEvent = errors.New("audit: invalid event")

// Validate reports whether e can be stored. It checks that Action is
// snake_case, Outcome and Method are known, and that no Details key names a
// secret (a key containing "token", "secret", "password", "cookie",
// "authorization" or "jwt" must end in "_hash" or "_id").
func (e *Event) Validate() error {
	if !isSnake(string(e.Action)) {
		return fmt.Errorf("%w: action %q is not snake_case", ErrInvalidEvent, e.Action)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeError:
	default:
		return fmt.Errorf("%w: unknown outcome %q", ErrInvalidEvent, e.Outcome)
	}
	switch e.Actor.Method {
	case "", MethodCookie, MethodBearerJWT, MethodAccessKey, MethodBasicAccessKey, MethodSystem:
	default:
		return fmt.Errorf("%w: unknown method %q", ErrInvalidEvent, e.Actor.Method)
	}
	if e.Status < 0 || e.Status > 999 {
		return fmt.Errorf("%w: status %d", ErrInvalidEvent, e.Status)
	}
	if e.Latency < 0 {
		return fmt.Errorf("%w: negative latency", ErrInvalidEvent)
	}
	if len(e.Details) > maxDetails {
		return fmt.Errorf("%w: %d details, at most %d", ErrInvalidEvent, len(e.Details), maxDetails)
	}
	for k := range e.Details {
		if !isSnake(k) {
			return fmt.Errorf("%w: details key %q is not snake_case", ErrInvalidEvent, k)
		}
		if namesSecret(k) {
			return fmt.Errorf("%w: details key %q names a secret; store a hash or id (suffix _hash or _id)", ErrInvalidEvent, k)
		}
	}
	n := 0
	for k, vs := range e.Resources {
		if !isSnake(k) {
			return fmt.Errorf("%w: resource kind %q is not snake_case", ErrInvalidEvent, k)
		}
		n += len(vs)
	}
	if n > maxResources {
		return fmt.Errorf("%w: %d resources, at most %d", ErrInvalidEvent, n, maxResources)
	}
	return nil
}

// namesSecret reports whether a Details key looks like it holds a secret. A
// hash or an id of a secret is fine.
func namesSecret(key string) bool {
	if strings.HasSuffix(key, "_hash") || strings.HasSuffix(key, "_id") {
		return false
	}
	for _, w := range [...]string{"token", "secret", "password", "cookie", "authorization", "jwt", "management_key"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

func isSnake(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// normalize returns the form of e that is stored and hashed: times in UTC at
// microsecond precision, long strings truncated, empty maps and lists nil.
// It never aliases e's maps.
func normalize(e Event, now time.Time) Event {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Hash = ""
	for _, p := range []*string{&e.Reason, &e.Actor.UserID, &e.Actor.Username, &e.Actor.LoginID,
		&e.ClientIP, &e.RequestID, &e.Route, &e.RPC} {
		*p = truncate(*p)
	}
	if len(e.Details) == 0 {
		e.Details = nil
	} else {
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			d[k] = truncate(v)
		}
		e.Details = d
	}
	var r Resources
	for k, vs := range e.Resources {
		if len(vs) == 0 {
			continue
		}
		if r == nil {
			r = make(Resources, len(e.Resources))
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = truncate(v)
		}
		r[k] = out
	}
	e.Resources = r
	return e
}

// truncate cuts s to at most maxFieldLen bytes on a rune boundary and
// replaces invalid UTF-8 and NUL (which PostgreSQL text cannot hold), so that
// every database stores the same string.
func truncate(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= maxFieldLen {
		return s
	}
	cut := maxFieldLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
