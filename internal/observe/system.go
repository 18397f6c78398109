package observe

import (
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// system is the actor of what the gateway does on its own.
func system() audit.Actor { return audit.Actor{Method: audit.MethodSystem} }

// keyExchange is the audit event of an access key's exchange at Descope.
// keyID is "" when Descope never named the key. The key itself is never
// recorded.
func keyExchange(x event.KeyExchange) audit.Event {
	keyID, err := x.KeyID, x.Err
	e := audit.Event{Action: audit.ActionAccessKeyExchange, Outcome: audit.OutcomeSuccess,
		Actor: audit.Actor{UserID: keyID, Method: audit.MethodAccessKey}}
	if keyID != "" {
		e.Details = map[string]string{"key_id": keyID}
	}
	if err != nil {
		e.Outcome = audit.OutcomeFailure
		if errors.Is(err, descope.ErrUnavailable) || errors.Is(err, descope.ErrKeysUnavailable) {
			e.Outcome = audit.OutcomeError
		}
		e.Reason = descope.Reason(err)
	}
	return e
}

// provisionChange is the audit event of a change provisioning made in
// MLflow. The user it concerns is a resource (mlflow_user); the actor is the
// gateway.
func provisionChange(pe event.ProvisionChange) audit.Event {
	e := audit.Event{Action: audit.Action(pe.Action), Outcome: audit.OutcomeSuccess, Actor: system()}
	r := audit.Resources{}
	if pe.Username != "" {
		r["mlflow_user"] = []string{pe.Username}
	}
	if pe.Role != "" {
		r[audit.ResourceRole] = []string{pe.Role}
	}
	if pe.Workspace != "" {
		r[audit.ResourceWorkspace] = []string{pe.Workspace}
	}
	if len(r) > 0 {
		e.Resources = r
	}
	if pe.Detail != "" {
		e.Details = map[string]string{"detail": pe.Detail}
	}
	return e
}

// syncRun is the audit event of one run of the user and role sync.
func syncRun(run event.SyncRun) audit.Event {
	e := audit.Event{Action: audit.ActionSyncRun, Outcome: audit.OutcomeSuccess, Actor: system(),
		Time: run.Finished, Details: map[string]string{}}
	if !run.Started.IsZero() && !run.Finished.IsZero() && run.Finished.After(run.Started) {
		e.Latency = run.Finished.Sub(run.Started)
	}
	for _, k := range slices.Sorted(maps.Keys(run.Counts)) {
		if len(e.Details) < 24 {
			e.Details[k] = strconv.Itoa(run.Counts[k])
		}
	}
	if run.Replica != "" {
		e.Details["replica"] = run.Replica
	}
	if run.Err != nil {
		e.Outcome = audit.OutcomeError
		e.Reason = descope.Reason(run.Err)
		if e.Reason == "error" {
			e.Reason = string(event.ReasonSyncFailed)
		}
	}
	return e
}
