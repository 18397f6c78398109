package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// serveSelfService hands the self-service pages and the sign-in-from-code
// endpoints (Options.SelfService) the authenticated identity, as serveAdmin
// does for the admin pages. A request without any credential goes through
// anonymously: the CLI's endpoints carry their own one-time codes, and the
// pages send such a visitor to sign in. A credential that fails is answered
// here, as everywhere, and cookie-authenticated writes must pass the
// gateway's cross-site rule.
func (h *handler) serveSelfService(w http.ResponseWriter, r *http.Request) {
	s := stateOf(r.Context())
	id, err := h.authenticate(w, r)
	if err != nil {
		var ae *authError
		if !errors.As(err, &ae) || ae.reason != event.ReasonNoSession {
			h.authFailed(w, r, err)
			return
		}
		id = nil
	}
	s.identity = id
	if id != nil && id.Method == MethodCookie && !safeMethod(r.Method) && !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(id.Method, event.ReasonCrossSite, errors.New("cross-site self-service request"), errForbidden("cross-site request refused")))
		return
	}
	ctx := context.WithValue(r.Context(), originKey{}, h.originFor(r))
	h.opts.SelfService.ServeHTTP(w, r.WithContext(ctx))
}

type originKey struct{}

// OriginFrom returns the gateway's origin as the client sees it (its
// public URL, or the local origin the request named), for handlers mounted
// by the gateway that must write absolute URLs.
func OriginFrom(ctx context.Context) string {
	o, _ := ctx.Value(originKey{}).(string)
	return o
}

// ClientIPFrom returns the client address of a request handled by the
// gateway, with trusted proxies applied.
func ClientIPFrom(ctx context.Context) netip.Addr { return stateOf(ctx).clientIP }

// RequestIDFrom returns the gateway's ID of a request it handles.
func RequestIDFrom(ctx context.Context) string { return stateOf(ctx).id }

// RecordEvent notes that e happened while serving a request, for the
// handlers the gateway mounts (the admin pages, self-service): like the
// gateway's own events, it reaches Options.Events with the request's record
// when the request completes. Outside a request the gateway serves, e is
// dropped.
func RecordEvent(ctx context.Context, e event.Event) { stateOf(ctx).record(e) }
