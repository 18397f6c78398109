package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// newSelfService builds the self-service keys and sign-in from code over
// the gateway's database (shared by replicas), the Descope client, the
// access-key authenticator (to forget revoked keys at once) and the audit
// trail.
func newSelfService(ctx context.Context, cfg *config.Config, dc *descope.Client, keys gateway.KeyAuthenticator, t *telemetry, log *slog.Logger) (*selfservice.Service, error) {
	sb, ok := t.store.(audit.SQLBacked)
	if !ok {
		return nil, errors.New("self-service keys: the gateway's database is not SQL")
	}
	db, dialect := sb.SQL()
	var evict func(string)
	if k, ok := keys.(interface{ Evict(keyID string) }); ok {
		evict = k.Evict
	}
	return selfservice.New(ctx, selfservice.Options{
		Prefix:         cfg.StaticPrefix,
		Disabled:       !cfg.SelfServiceKeys,
		MaxKeysPerUser: cfg.MaxKeysPerUser,
		MaxExpiry:      cfg.MaxKeyExpiry,
		Descope:        dc,
		DB:             db,
		Dialect:        dialect,
		CurrentUser:    selfServiceUser,
		ClientIP:       func(r *http.Request) netip.Addr { return gateway.ClientIPFrom(r.Context()) },
		Origin:         func(r *http.Request) string { return gateway.OriginFrom(r.Context()) },
		RequestID:      func(r *http.Request) string { return gateway.RequestIDFrom(r.Context()) },
		Evict:          evict,
		LastUsed:       lastExchange(t.store),
		Audit:          t.writer,
		Logger:         log.With("component", "selfservice"),
	})
}

// selfServiceUser is the gateway's identity of a request, as the
// self-service pages see it.
func selfServiceUser(r *http.Request) (selfservice.User, bool) {
	id := gateway.IdentityFrom(r.Context())
	if id == nil {
		return selfservice.User{}, false
	}
	return selfservice.User{ID: id.UserID, LoginID: id.LoginID, Email: id.Email, Name: id.Name,
		Browser: id.Method == gateway.MethodCookie}, true
}

// lastExchange reads when a key was last exchanged from the audit log: the
// gateway exchanges a key about once per token lifetime (10 minutes by
// default) on each replica, so this is when it was last used, give or take
// that.
func lastExchange(q interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}) func(ctx context.Context, keyID string, since time.Time) (time.Time, bool) {
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
