package app

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// newSelfService builds the self-service keys and sign-in from code over
// the gateway's database (shared by replicas), the Descope client and the
// access-key authenticator (to forget revoked keys at once). It is mounted
// by the gateway, which hands it who a request is; its events go on the
// request (gateway.RecordEvent), so metrics and the audit trail get them.
// With MLFLOW_DESCOPE_SELF_SERVICE_KEYS=false it is built all the same: the
// pages and the CLI's endpoints say the feature is off, and the admin page
// still lists and revokes every key.
func (a *App) newSelfService(ctx context.Context, dc *descope.Client) (*selfservice.Service, error) {
	sb, ok := a.tel.store.(audit.SQLBacked)
	if !ok {
		return nil, errors.New("self-service keys: the gateway's database is not SQL")
	}
	db, dialect := sb.SQL()
	o := selfservice.Options{
		Prefix:         a.cfg.StaticPrefix,
		Disabled:       !a.cfg.SelfServiceKeys,
		MaxKeysPerUser: a.cfg.MaxKeysPerUser,
		MaxExpiry:      a.cfg.MaxKeyExpiry,
		Descope:        dc,
		DB:             db,
		Dialect:        dialect,
		CurrentUser:    selfServiceUser,
		UsernameOf:     a.usernameOf,
		ClientIP:       func(r *http.Request) netip.Addr { return gateway.ClientIPFrom(r.Context()) },
		Origin:         func(r *http.Request) string { return gateway.OriginFrom(r.Context()) },
		RequestID:      func(r *http.Request) string { return gateway.RequestIDFrom(r.Context()) },
		Evict:          a.keyAuth.Evict,
		LastUsed:       lastExchange(a.tel.store),
		Record:         gateway.RecordEvent,
		Logger:         a.log.With("component", "selfservice"),
	}
	if a.deps.SelfServiceOptions != nil {
		a.deps.SelfServiceOptions(&o)
	}
	return selfservice.New(ctx, o)
}

// selfServiceUser is the gateway's identity of a request, as the
// self-service pages see it.
func selfServiceUser(r *http.Request) (selfservice.User, bool) {
	id := gateway.IdentityFrom(r.Context())
	if id == nil {
		return selfservice.User{}, false
	}
	return selfservice.User{ID: id.UserID, Username: id.Username, LoginID: id.LoginID, Email: id.Email, Name: id.Name,
		Browser: id.Method == gateway.MethodCookie, KeyID: id.KeyID}, true
}

// lastExchange reads when a key was last exchanged from the audit log: the
// gateway exchanges a key about once per token lifetime (10 minutes by
// default) on each replica, so this is when it was last used, give or take
// that.
func lastExchange(q audit.Store) func(ctx context.Context, keyID string, since time.Time) (time.Time, bool) {
	return func(ctx context.Context, keyID string, since time.Time) (time.Time, bool) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		page, err := q.Query(ctx, audit.Filter{Action: audit.ActionAccessKeyExchange, Outcome: audit.OutcomeSuccess,
			UserContains: keyID, Since: since, Limit: 20})
		if err != nil {
			return time.Time{}, false
		}
		for _, e := range page.Events {
			if e.Actor.UserID == keyID {
				return e.Time, true
			}
		}
		return time.Time{}, false
	}
}

// usernameOf is a Descope user's MLflow username from the naming store, if
// they have one.
func (a *App) usernameOf(ctx context.Context, userID string) (string, bool) {
	if a.names == nil {
		return "", false
	}
	r, ok, err := a.names.Lookup(ctx, userID)
	if err != nil || !ok {
		return "", false
	}
	return r.Username, true
}
