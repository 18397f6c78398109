package observe

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// system is the actor of what the gateway does on its own.
func system() audit.Actor { return audit.Actor{Method: audit.MethodSystem} }

// AccessKeyExchange records an exchange of an access key at Descope
// (accesskey.Options.OnExchange). keyID is "" when Descope never named the
// key. The key itself is never recorded.
func (a *Audit) AccessKeyExchange(keyID string, err error) {
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
	a.record(e)
}

// ProvisionChange records a change provisioning made in MLflow
// (provision.Options.OnChange). The user it concerns is a resource
// (mlflow_user); the actor is the gateway.
func (a *Audit) ProvisionChange(pe provision.Event) {
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
	a.record(e)
}

// SyncRun is what one run of the periodic user and role sync did.
type SyncRun struct {
	Started, Finished time.Time
	// Counts are small named totals: descope_users, reconciled, disabled…
	Counts map[string]int
	Err    error
}

// SyncRun records one run of the user and role sync.
func (a *Audit) SyncRun(run SyncRun) {
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
	if run.Err != nil {
		e.Outcome = audit.OutcomeError
		e.Reason = descope.Reason(run.Err)
		if e.Reason == "error" {
			e.Reason = "sync_failed"
		}
	}
	a.record(e)
}

// Started records that the gateway started, with details such as the
// version and a hash of the effective configuration (never its secrets).
func (a *Audit) Started(details map[string]string) {
	a.record(audit.Event{Action: audit.ActionConfig, Outcome: audit.OutcomeSuccess, Actor: system(), Details: details})
}
