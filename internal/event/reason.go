package event

// Reason is a stable snake_case label for why something was refused or
// failed, for logs, metrics and audit. Besides the constants below, a
// Reason can be a classifier rejection (classify.Rejection.Reason, e.g.
// duplicate_json_key), a credential failure as descope.Reason labels it
// (expired, signature, rejected…), or "refresh_" + such a label for a
// refresh token refused at sign-in.
type Reason string

// Reasons the gateway gives.
const (
	ReasonNone Reason = ""

	// No credential at all: the caller is sent to sign in.
	ReasonNoSession Reason = "no_session"
	// Descope (its API or its signing keys) did not answer.
	ReasonDescopeUnavailable Reason = "descope_unavailable"
	// A per-IP or per-user abuse limit refused the attempt.
	ReasonRateLimited Reason = "rate_limited"
	// The user was disabled or deleted in Descope (the sync blocked them).
	ReasonUserDisabled Reason = "user_disabled"
	// Descope refused the refresh token: the session is over.
	ReasonSessionEnded Reason = "session_ended"
	// A token of a signed-out session was presented.
	ReasonSignedOut Reason = "signed_out"

	ReasonAmbiguousAuthorization Reason = "ambiguous_authorization"
	ReasonCredentialTooLarge     Reason = "credential_too_large"
	ReasonMalformedBasic         Reason = "malformed_basic"
	ReasonUnsupportedScheme      Reason = "unsupported_scheme"
	ReasonAccessKeysDisabled     Reason = "access_keys_disabled"
	ReasonEmptyCredential        Reason = "empty_credential"
	// The session and refresh JWTs posted at sign-in name different users.
	ReasonTokenMismatch Reason = "token_mismatch"
	// A sign-in that brought no session token, or no refresh token (the
	// project keeps them in cookies that do not reach the gateway).
	ReasonNoSessionToken Reason = "no_session_token"
	ReasonNoRefreshToken Reason = "no_refresh_token"
	// Descope refused the refresh token posted at sign-in.
	ReasonRefreshRejected Reason = "refresh_rejected"
	// DPoP (RFC 9449): a bound token (cnf.jkt) at sign-in, where it cannot
	// become a cookie; the DPoP scheme with an unbound token; a bound token
	// without the scheme, without one proof, with no checker configured,
	// with a proof that fails, with a proof seen before, or when the replicas'
	// shared replay cache could not be asked.
	ReasonDPoPBound        Reason = "dpop_bound"
	ReasonDPoPNotBound     Reason = "dpop_not_bound"
	ReasonDPoPRequired     Reason = "dpop_required"
	ReasonDPoPProofMissing Reason = "dpop_proof_missing"
	ReasonDPoPUnsupported  Reason = "dpop_unsupported"
	ReasonDPoPInvalid      Reason = "dpop_invalid"
	ReasonDPoPReplayed     Reason = "dpop_replayed"
	ReasonDPoPUnavailable  Reason = "dpop_unavailable"
	// The identity maps to the gateway's own MLflow admin, or to no user.
	ReasonReservedUsername Reason = "reserved_username"
	// The user has no MLflow username yet and nothing tells what it should
	// be made of (no sign-in through the browser, no management key).
	ReasonNoUsername Reason = "no_username"
	// The username store (the gateway's database, or MLflow or Descope it
	// asks for a new user) did not answer.
	ReasonUsernameUnavailable Reason = "username_unavailable"
	// A caller who is not an admin asked for the list of every MLflow user
	// (MLFLOW_DESCOPE_USER_DIRECTORY=admins).
	ReasonUserDirectory Reason = "user_directory"

	// Cross-site checks: a sign-in or sign-out post from another origin,
	// and a cookie-authenticated state change from another site.
	ReasonCrossOrigin Reason = "cross_origin"
	ReasonCrossSite   Reason = "cross_site"

	// The admin pages: not a gateway admin, or no multi-factor sign-in.
	ReasonNotAdmin       Reason = "not_admin"
	ReasonStepUpRequired Reason = "step_up_required"

	// The request names a workspace of a tenant the caller is not in.
	ReasonWorkspaceDenied Reason = "workspace_denied"
	// A route reserved to admins beyond MLflow's RBAC (internal/routepolicy):
	// the assistant's setup.
	ReasonAssistantSetup Reason = "assistant_setup"
	// An API route the classifier does not know, from a non-admin.
	ReasonUnknownRoute Reason = "unknown_route"
	// A GraphQL query not sent with POST.
	ReasonGraphQLNotPost Reason = "graphql_not_post"
	// A Connection header naming a header the checks read.
	ReasonConnectionNamesHeader Reason = "connection_names_header"
	// The client went away before MLflow answered.
	ReasonClientGone Reason = "client_gone"
	// Anything the gateway could not classify further.
	ReasonInternal Reason = "internal"

	// MLflow itself refused a forwarded request.
	ReasonMLflowPermissionDenied Reason = "mlflow_permission_denied"
	ReasonMLflowUnauthenticated  Reason = "mlflow_unauthenticated"
	// A run of the user sync failed for a reason Descope did not label.
	ReasonSyncFailed Reason = "sync_failed"

	// Self-service keys and sign-in from code: a key that is not the
	// caller's; a one-time code that is not of the expected form, matches
	// nothing, has expired or was used; a loopback code redeemed with
	// another redirect URI or a verifier that does not match its challenge.
	ReasonNotOwner         Reason = "not_owner"
	ReasonMalformedCode    Reason = "malformed_code"
	ReasonUnknownCode      Reason = "unknown_code"
	ReasonExpiredCode      Reason = "expired_code"
	ReasonReusedCode       Reason = "reused_code"
	ReasonRedirectMismatch Reason = "redirect_mismatch"
	ReasonPKCEMismatch     Reason = "pkce_mismatch"
)
