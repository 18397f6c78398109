package gateway

import (
	"context"
	"net/netip"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

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
}

// requestState is the per-request data the middleware chain shares. One
// pointer lives in the context; handlers fill it in as they learn things.
type requestState struct {
	id       string
	start    time.Time
	clientIP netip.Addr
	route    string // route pattern or family, never the raw path
	identity *Identity
	reason   string // why authentication failed, if it did
	rpc      string
	proxied  bool // the request reached MLflow
	mlRoute  classify.Route
	ids      classify.Identifiers
}

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
