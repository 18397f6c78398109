// Package routepolicy holds the gateway's own rules about who may call an
// MLflow route, on top of MLflow's RBAC. MLflow decides access to data
// (experiments, runs, models, traces…); a few FastAPI-native routes change
// the MLflow server itself instead, and MLflow 3.17 guards them only by
// "signed in" plus "the request looks local". Those are reserved to gateway
// admins here. docs/security.md ("FastAPI-native routes") says, route family
// by route family, who may call what and why.
package routepolicy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Who may call the assistant's setup routes.
const (
	// AssistantSetupAdmins reserves them to gateway (MLflow) admins: the default.
	AssistantSetupAdmins = "admins"
	// AssistantSetupUsers lets every signed-in user reach them; MLflow's own
	// checks still apply (it refuses them to any request that is not local,
	// and the gateway never makes a request look local).
	AssistantSetupUsers = "users"
)

// assistantPrefix is where MLflow 3.17's assistant API lives.
const assistantPrefix = "/ajax-api/3.0/mlflow/assistant/"

// assistantChat are the assistant routes that only use it (a conversation
// and its session): the rest of the family that can change something is
// setup. A route MLflow adds later is setup until listed here, so an upgrade
// fails closed.
var assistantChat = map[string]bool{
	"POST /ajax-api/3.0/mlflow/assistant/message":                           true,
	"PATCH /ajax-api/3.0/mlflow/assistant/sessions/{session_id}":            true,
	"POST /ajax-api/3.0/mlflow/assistant/sessions/{session_id}/permission":  true,
	"POST /ajax-api/3.0/mlflow/assistant/sessions/{session_id}/tool-result": true,
}

// Options configure a Policy.
type Options struct {
	// AssistantSetup is AssistantSetupAdmins (default when empty) or
	// AssistantSetupUsers.
	AssistantSetup string
}

// Policy answers which routes are reserved to admins. It is immutable and
// safe for concurrent use.
type Policy struct {
	assistantSetupOpen bool
}

// New validates opts and returns a Policy.
func New(opts Options) (*Policy, error) {
	switch opts.AssistantSetup {
	case "", AssistantSetupAdmins:
		return &Policy{}, nil
	case AssistantSetupUsers:
		return &Policy{assistantSetupOpen: true}, nil
	}
	return nil, fmt.Errorf("routepolicy: assistant setup %q: want %q or %q", opts.AssistantSetup, AssistantSetupAdmins, AssistantSetupUsers)
}

// AdminOnly returns a stable snake_case reason when a request is reserved
// to admins, and "" when MLflow's RBAC alone decides. rt is the request's
// classified route and path its raw path without the gateway's static
// prefix (classify.Route has already refused non-canonical spellings). A
// path no route matches is judged by its prefix, so an assistant route the
// table does not know yet is setup too.
func (p *Policy) AdminOnly(rt classify.Route, path string) event.Reason {
	if p.assistantSetupOpen || !strings.HasPrefix(rt.Pattern, assistantPrefix) && !strings.HasPrefix(path, assistantPrefix) {
		return ""
	}
	switch rt.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		// Reading the configuration and providers: MLflow redacts keys and
		// project locations for requests that are not local.
		return ""
	}
	if assistantChat[rt.Method+" "+rt.Pattern] {
		return ""
	}
	return event.ReasonAssistantSetup
}
