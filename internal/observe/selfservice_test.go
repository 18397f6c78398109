package observe

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// TestSelfServiceEvents: the self-service pages' events become the audit
// actions docs/audit.md lists, with their outcomes, reasons and details,
// and each is an event the store accepts.
func TestSelfServiceEvents(t *testing.T) {
	t.Parallel()
	alice := event.Actor{UserID: "U2alice", Username: "U2alice", LoginID: "alice@example.com", Method: event.MethodCookie}
	aliceAudit := audit.Actor{UserID: "U2alice", Username: "U2alice", LoginID: "alice@example.com", Method: audit.MethodCookie}
	expires := time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 7200))
	tests := []struct {
		name string
		in   event.Event
		want audit.Event
	}{
		{"key created", event.KeyCreated{Actor: alice, KeyID: "K2a", KeyName: "laptop", Channel: "cli", Expires: expires,
			Client: "box", PermittedIPs: []string{"10.0.0.0/8", "127.0.0.1"}},
			audit.Event{Action: audit.ActionAccessKeyCreate, Outcome: audit.OutcomeSuccess, Actor: aliceAudit,
				Details: map[string]string{"key_id": "K2a", "key_name": "laptop", "channel": "cli", "expires": "2026-06-01T10:00:00Z",
					"client_name": "box", "permitted_ips": "10.0.0.0/8,127.0.0.1"}}},
		{"revoked by owner", event.KeyRevoked{Actor: alice, KeyID: "K2a", KeyName: "laptop", OwnerID: "U2alice"},
			audit.Event{Action: audit.ActionAccessKeyRevoke, Outcome: audit.OutcomeSuccess, Reason: "owner", Actor: aliceAudit,
				Details: map[string]string{"key_id": "K2a", "key_name": "laptop", "owner_id": "U2alice"}}},
		{"revoked by admin", event.KeyRevoked{Actor: alice, KeyID: "K2b", OwnerID: "U2bob", ByAdmin: true},
			audit.Event{Action: audit.ActionAccessKeyRevoke, Outcome: audit.OutcomeSuccess, Reason: "admin", Actor: aliceAudit,
				Details: map[string]string{"key_id": "K2b", "key_name": "", "owner_id": "U2bob"}}},
		{"revoke refused", event.KeyRevoked{Actor: alice, KeyID: "K2b", Refused: event.ReasonNotOwner},
			audit.Event{Action: audit.ActionAccessKeyRevoke, Outcome: audit.OutcomeDenied, Reason: "not_owner", Actor: aliceAudit,
				Details: map[string]string{"key_id": "K2b"}}},
		{"loopback code issued", event.CodeSignIn{Actor: alice, Client: "box", Origin: "http://127.0.0.1:8400"},
			audit.Event{Action: audit.ActionCLILogin, Outcome: audit.OutcomeSuccess, Reason: "code_issued", Actor: aliceAudit,
				Details: map[string]string{"client_name": "box", "redirect_origin": "http://127.0.0.1:8400"}}},
		{"loopback declined", event.CodeSignIn{Actor: alice, Client: "box", Origin: "http://127.0.0.1:8400", Declined: true},
			audit.Event{Action: audit.ActionCLILogin, Outcome: audit.OutcomeDenied, Reason: "user_declined", Actor: aliceAudit,
				Details: map[string]string{"client_name": "box", "redirect_origin": "http://127.0.0.1:8400"}}},
		{"loopback code refused", event.CodeSignIn{Actor: event.Actor{UserID: "U2alice", Username: "U2alice"}, Refused: event.ReasonPKCEMismatch},
			audit.Event{Action: audit.ActionCLILogin, Outcome: audit.OutcomeFailure, Reason: "pkce_mismatch",
				Actor: audit.Actor{UserID: "U2alice", Username: "U2alice"}, Details: map[string]string{}}},
		{"device approved", event.CodeSignIn{Actor: alice, Device: true, Client: "gpu-7", DeviceIP: "192.0.2.7"},
			audit.Event{Action: audit.ActionDeviceApprove, Outcome: audit.OutcomeSuccess, Reason: "approved", Actor: aliceAudit,
				Details: map[string]string{"client_name": "gpu-7", "device_ip": "192.0.2.7"}}},
		{"device declined", event.CodeSignIn{Actor: alice, Device: true, Client: "gpu-7", DeviceIP: "192.0.2.7", Declined: true},
			audit.Event{Action: audit.ActionDeviceApprove, Outcome: audit.OutcomeDenied, Reason: "denied", Actor: aliceAudit,
				Details: map[string]string{"client_name": "gpu-7", "device_ip": "192.0.2.7"}}},
		{"device code refused", event.CodeSignIn{Actor: alice, Device: true, Refused: event.ReasonUnknownCode},
			audit.Event{Action: audit.ActionDeviceApprove, Outcome: audit.OutcomeFailure, Reason: "unknown_code", Actor: aliceAudit,
				Details: map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := (&Audit{}).eventOf(tt.in)
			if !ok {
				t.Fatal("not an audit event")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
			got.Time = time.Now()
			if err := got.Validate(); err != nil {
				t.Errorf("the store would refuse it: %v", err)
			}
		})
	}
}
