package observe_test

import (
	"slices"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// TestProvisionActionsAreAuditActions: ProvisionChange stores provisioning's
// action names as they are, so each must be one the audit trail documents
// and the admin page offers as a filter.
func TestProvisionActionsAreAuditActions(t *testing.T) {
	for _, a := range provision.Actions {
		if !slices.Contains(audit.Actions(), audit.Action(a)) {
			t.Errorf("provision action %q is not in audit.Actions()", a)
		}
		e := audit.Event{Action: audit.Action(a), Outcome: audit.OutcomeSuccess}
		if err := e.Validate(); err != nil {
			t.Errorf("provision action %q: %v", a, err)
		}
	}
}
