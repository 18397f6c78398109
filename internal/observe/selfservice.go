package observe

import (
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// keyCreated is the audit event of a personal access key made on the keys
// page or by a sign-in from code. The key's secret is never recorded.
func keyCreated(k event.KeyCreated) audit.Event {
	return audit.Event{Action: audit.ActionAccessKeyCreate, Outcome: audit.OutcomeSuccess, Actor: actor(k.Actor),
		Details: map[string]string{"key_id": k.KeyID, "key_name": k.KeyName, "channel": k.Channel,
			"expires": k.Expires.UTC().Format(time.RFC3339), "client_name": k.Client,
			"permitted_ips": strings.Join(k.PermittedIPs, ",")}}
}

// keyRevoked is the audit event of an access key deleted by its owner
// (reason owner) or an admin (reason admin), or of a refused attempt
// (denied, with the refusal's reason).
func keyRevoked(k event.KeyRevoked) audit.Event {
	if k.Refused != "" {
		return audit.Event{Action: audit.ActionAccessKeyRevoke, Outcome: audit.OutcomeDenied, Reason: string(k.Refused),
			Actor: actor(k.Actor), Details: map[string]string{"key_id": k.KeyID}}
	}
	reason := "owner"
	if k.ByAdmin {
		reason = "admin"
	}
	return audit.Event{Action: audit.ActionAccessKeyRevoke, Outcome: audit.OutcomeSuccess, Reason: reason, Actor: actor(k.Actor),
		Details: map[string]string{"key_id": k.KeyID, "key_name": k.KeyName, "owner_id": k.OwnerID}}
}

// codeSignIn is the audit event of a step of a sign-in from code:
// cli_login for the loopback redirect (code_issued, user_declined, or the
// reason a code was refused at redemption), device_approve for the device
// flow (approved, denied, or the reason an entered code was refused).
func codeSignIn(c event.CodeSignIn) audit.Event {
	e := audit.Event{Action: audit.ActionCLILogin, Outcome: audit.OutcomeSuccess, Reason: "code_issued",
		Actor: actor(c.Actor), Details: map[string]string{}}
	declined := "user_declined"
	if c.Device {
		e.Action, e.Reason, declined = audit.ActionDeviceApprove, "approved", "denied"
	}
	switch {
	case c.Refused != "":
		e.Outcome, e.Reason = audit.OutcomeFailure, string(c.Refused)
	case c.Declined:
		e.Outcome, e.Reason = audit.OutcomeDenied, declined
	}
	if c.Client != "" {
		e.Details["client_name"] = c.Client
	}
	if c.Origin != "" {
		e.Details["redirect_origin"] = c.Origin
	}
	if c.DeviceIP != "" {
		e.Details["device_ip"] = c.DeviceIP
	}
	return e
}
