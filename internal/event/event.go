// Package event is the gateway's one path for reporting what happened. The
// gateway's handlers record typed events on the request they serve; when the
// request completes, the access-log middleware hands one Record (the request
// and its events) to a Sink. Provisioning, access-key exchanges and the user
// sync send their events to the same Sink, in Records without a request.
// Metrics (internal/metrics) and the audit trail (internal/observe) are
// Sinks.
//
// Adding an event type: declare it here (a struct with an isEvent method),
// record it where it happens, and handle it in the Sinks that care.
package event

import (
	"net/netip"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
)

// Sink receives Records. Handle must not block: it runs on the request path.
// It must not keep r past the call.
type Sink interface {
	Handle(r *Record)
}

// Record is what a Sink receives: one per completed request (Request set,
// with the events its handlers recorded, in order), or events of the
// gateway's own work that belong to no request (Request nil).
type Record struct {
	Request *Request
	Events  []Event
}

// Tee is a Sink that hands every Record to each of its Sinks in turn.
type Tee []Sink

// Handle implements Sink.
func (t Tee) Handle(r *Record) {
	for _, s := range t {
		if s != nil {
			s.Handle(r)
		}
	}
}

// Send hands s a Record of events that belong to no request. A nil Sink
// drops them.
func Send(s Sink, evs ...Event) {
	if s == nil || len(evs) == 0 {
		return
	}
	s.Handle(&Record{Events: evs})
}

// Method names how a request authenticated; stable values for logs, metrics
// and audit.
type Method string

const (
	MethodNone      Method = ""
	MethodCookie    Method = "cookie"
	MethodBearerJWT Method = "bearer_jwt"
	MethodAccessKey Method = "access_key"
	MethodBasicKey  Method = "basic_access_key"
)

// Actor is who an event is about: the authenticated identity, or, for an
// authentication failure, only the method that was tried.
type Actor struct {
	UserID   string // Descope user ID (or access-key ID for a standalone key)
	Username string // MLflow username
	LoginID  string
	Email    string
	KeyID    string // the access key used, if one was
	Method   Method
}

// Request describes a completed request.
type Request struct {
	ID      string // request ID
	Method  string // HTTP method
	Route   string // route family, or the gateway's own route name
	Pattern string // MLflow's route pattern, e.g. /api/2.0/mlflow/runs/log-batch
	RPC     string
	Status  int
	Elapsed time.Duration
	// ClientIP is the client's address (behind trusted proxies).
	ClientIP netip.Addr
	// Actor is the authenticated identity; nil for an anonymous request.
	Actor *Actor
	// Reason is why the gateway refused the request, if it did.
	Reason Reason
	// Proxied: the request reached MLflow.
	Proxied bool
	// MLflowDenied: MLflow itself refused it (401/403 from upstream).
	MLflowDenied bool
	IDs          classify.Identifiers
}

// Event is one thing that happened. The types below are all there are.
type Event interface{ isEvent() }

// SignIn: a browser session was created at /auth/session.
type SignIn struct{ Actor Actor }

// SignOut: a browser signed out. Actor is zero when it had no valid session.
type SignOut struct{ Actor Actor }

// Refresh: an expired session JWT was refreshed server-side.
type Refresh struct{ Actor Actor }

// AuthFailure: a presented credential was refused, or an identified caller
// was refused something it needs an identity for (admin pages, workspaces).
type AuthFailure struct {
	Method Method
	Reason Reason
}

// KeyExchange: an access key was exchanged at Descope (a cache miss). KeyID
// is "" when Descope never named the key. The key itself is never carried.
type KeyExchange struct {
	KeyID string
	Err   error
}

// ProvisionChange: provisioning changed something in MLflow.
type ProvisionChange struct {
	Action    string // one of provision.Actions
	Username  string // empty for role and workspace changes
	Role      string
	Workspace string
	Detail    string // what changed and the rule that made it
}

// SyncRun: one run of the periodic user and role sync ended.
type SyncRun struct {
	Started, Finished time.Time
	// Counts are small named totals: descope_users, reconciled, disabled…
	Counts map[string]int
	Err    error
	// Replica names the gateway replica that ran it (the sync lease's
	// holder name), "" when the sync runs without a lease.
	Replica string
}

// UsernameAssigned: a Descope user was given their MLflow username (at
// first use, or seeded from MLflow's users on upgrade). Reason says why the
// name is not simply what MLFLOW_DESCOPE_USERNAME gives, when it is not
// (the login ID belongs to another user, is reserved, ...).
type UsernameAssigned struct {
	UserID, Username string
	LoginID, Email   string
	Source, Reason   string
}

// LoginIDChanged: a user's login ID changed in Descope; their MLflow
// username did not.
type LoginIDChanged struct {
	UserID, Username string
	From, To         string
}

// Started: the gateway started. Details carry the version and a hash of
// the effective configuration (never its secrets).
type Started struct{ Details map[string]string }

// KeyCreated: a personal access key was made for Actor (on the keys page,
// or by a sign-in from code). The key's secret is never carried.
type KeyCreated struct {
	Actor        Actor
	KeyID        string
	KeyName      string
	Channel      string // page, cli or device
	Expires      time.Time
	Client       string // the machine's name, for a sign-in from code
	PermittedIPs []string
}

// KeyRevoked: Actor deleted an access key, its own or (ByAdmin) anyone's;
// or, with Refused set, was refused deleting it (ReasonNotOwner).
type KeyRevoked struct {
	Actor   Actor
	KeyID   string
	KeyName string
	OwnerID string // the user the key was bound to
	ByAdmin bool
	Refused Reason
}

// CodeSignIn: one step of a sign-in from code. Loopback (RFC 8252): the
// user approved the program in the browser (a code was issued), declined
// it, or the program's code was refused at redemption (Refused). Device
// (RFC 8628, Device set): the user approved or declined the device, or the
// user code they entered was refused (Refused).
type CodeSignIn struct {
	Actor    Actor
	Device   bool
	Client   string // the program's machine, as it named itself
	Origin   string // loopback: the redirect's origin; device: ""
	DeviceIP string // device: the address that asked for the code
	Declined bool
	Refused  Reason
}

func (SignIn) isEvent()           {}
func (SignOut) isEvent()          {}
func (Refresh) isEvent()          {}
func (AuthFailure) isEvent()      {}
func (KeyExchange) isEvent()      {}
func (ProvisionChange) isEvent()  {}
func (SyncRun) isEvent()          {}
func (Started) isEvent()          {}
func (KeyCreated) isEvent()       {}
func (KeyRevoked) isEvent()       {}
func (CodeSignIn) isEvent()       {}
func (UsernameAssigned) isEvent() {}
func (LoginIDChanged) isEvent()   {}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(r *Record)

// Handle implements Sink.
func (f SinkFunc) Handle(r *Record) { f(r) }
