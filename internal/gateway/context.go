package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
)

// Method names how a request authenticated (event.Method).
type Method = event.Method

const (
	MethodNone      = event.MethodNone
	MethodCookie    = event.MethodCookie
	MethodBearerJWT = event.MethodBearerJWT
	MethodAccessKey = event.MethodAccessKey
	MethodBasicKey  = event.MethodBasicKey
)

// Identity is who a request is, once authenticated.
type Identity struct {
	UserID   string // Descope user ID (or access-key ID for a standalone key)
	Username string // MLflow username
	LoginID  string
	Email    string
	Name     string
	KeyID    string // access key, when one was used
	Method   Method
	Admin    bool
	Token    *descope.Token
	// known is what Descope told the gateway of the person (/me at
	// sign-in, a bound key's user record): the login ID and email a new
	// user's MLflow username is made of.
	known naming.Profile
}

// requestState is the per-request data the middleware chain shares. One
// pointer lives in the context; handlers fill it in as they learn things.
type requestState struct {
	id       string
	start    time.Time
	clientIP netip.Addr
	route    string // route pattern or family, never the raw path
	identity *Identity
	reason   event.Reason // why the gateway refused the request, if it did
	rpc      string
	proxied  bool // the request reached MLflow
	mlRoute  classify.Route
	ids      classify.Identifiers
	events   []event.Event // what happened, in order; handed on by logAccess
}

// record notes that e happened while serving the request.
func (s *requestState) record(e event.Event) { s.events = append(s.events, e) }

type stateKey struct{}

func withState(ctx context.Context, s *requestState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

// stateOf returns the request's state; never nil inside the chain.
func stateOf(ctx context.Context) *requestState {
	if s, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return s
	}
	return &requestState{}
}

// IdentityFrom returns the authenticated identity of a request handled by the
// gateway (nil before authentication).
func IdentityFrom(ctx context.Context) *Identity {
	return stateOf(ctx).identity
}

// actor is who an identity is, for events. nil: nobody.
func (id *Identity) actor() event.Actor {
	if id == nil {
		return event.Actor{}
	}
	return event.Actor{UserID: id.UserID, Username: id.Username, LoginID: id.LoginID, Email: id.Email, KeyID: id.KeyID, Method: id.Method}
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// withRequestState starts the per-request state: an ID (a well-formed one
// from a trusted proxy is kept, so traces join up), the start time and the
// client address.
func (h *handler) withRequestState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &requestState{start: h.now(), clientIP: h.ips.of(r)}
		if id := r.Header.Get("X-Request-Id"); id != "" && requestIDPattern.MatchString(id) && h.ips.isTrusted(remoteAddr(r)) {
			s.id = id
		} else {
			s.id = newRequestID()
		}
		w.Header().Set("X-Request-Id", s.id)
		next.ServeHTTP(w, r.WithContext(withState(r.Context(), s)))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
