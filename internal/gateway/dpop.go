package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// checkDPoP refuses a sender-constrained token (cnf.jkt, RFC 9449) unless the
// request comes with the DPoP scheme and a valid proof from the key the token
// is bound to: a copy of the token alone is worth nothing. Such a token can
// never be used from a session cookie or as a Bearer/Basic credential, and
// the DPoP scheme is refused for an unbound token.
func (h *handler) checkDPoP(r *http.Request, id *Identity) error {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	dpopScheme := strings.EqualFold(scheme, "DPoP")
	if id == nil || id.Token == nil || id.Token.JKT == "" {
		if dpopScheme {
			return h.failed(MethodBearerJWT, event.ReasonDPoPNotBound, errors.New("DPoP scheme with a token bound to no key"), errUnauthenticated("the DPoP scheme needs a DPoP-bound token"))
		}
		return nil
	}
	if !dpopScheme {
		return h.failed(id.Method, event.ReasonDPoPRequired, errors.New("DPoP-bound token without the DPoP scheme"),
			errUnauthenticated("this token is DPoP-bound (cnf.jkt): send it as 'Authorization: DPoP <token>' with a DPoP proof header"))
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return h.failed(id.Method, event.ReasonDPoPProofMissing, errors.New("no single DPoP header"),
			errUnauthenticated("this token is DPoP-bound (cnf.jkt): send exactly one DPoP proof header"))
	}
	if h.opts.DPoP == nil {
		return h.failed(id.Method, event.ReasonDPoPUnsupported, errors.New("no DPoP checker configured"), errUnauthenticated("DPoP-bound tokens are not accepted here"))
	}
	err := h.opts.DPoP.Check(r.Context(), proofs[0], dpop.Request{
		Method:      r.Method,
		URL:         h.originFor(r) + classify.RawPath(r),
		AccessToken: id.Token.Raw,
		JKT:         id.Token.JKT,
	})
	if errors.Is(err, dpop.ErrUnavailable) {
		// Replicas could not be asked whether they saw this proof: refused,
		// as "unavailable" so that the client retries with a new proof.
		return h.failed(id.Method, event.ReasonDPoPUnavailable, err, errUnavailable("the DPoP replay check is unavailable; retry with a new proof", time.Second))
	}
	if err != nil {
		reason := event.ReasonDPoPInvalid
		if errors.Is(err, dpop.ErrReplayed) {
			reason = event.ReasonDPoPReplayed
		}
		return h.failed(id.Method, reason, err, errUnauthenticated("the DPoP proof was not accepted"))
	}
	return nil
}
