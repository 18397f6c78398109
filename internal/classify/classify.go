// Package classify knows every HTTP route of the MLflow tracking server and
// refuses requests whose meaning is ambiguous before MLflow sees them.
//
// The gateway calls it in two steps so that uploads and downloads keep
// streaming: [Classifier.Route] looks only at the method and the raw path and
// says whether the body must be buffered; [Classifier.ReadBody] buffers it
// (JSON RPC routes only, up to a limit); [Classifier.Inspect] checks the
// query, headers and body and names the resources the request touches.
// [Classifier.Classify] does all three for callers that already hold the body.
//
// Every refusal is a *[Rejection] carrying an HTTP status and an MLflow-shaped
// error body. The route table is generated from the installed MLflow; see
// docs/request-classification.md.
package classify

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Family groups routes by what they serve.
type Family string

// Route families.
const (
	FamilyAPI       Family = "api"        // /api/<v>/mlflow/... REST RPCs
	FamilyAjaxAPI   Family = "ajax_api"   // the /ajax-api/<v>/mlflow/... twins the UI calls
	FamilyArtifacts Family = "artifacts"  // artifact proxy, get-artifact, upload-artifact and friends
	FamilyGraphQL   Family = "graphql"    // /graphql
	FamilyFastAPI   Family = "fastapi"    // FastAPI-native routes: /gateway, /v1/traces, jobs, assistant, MCP, skills
	FamilyStatic    Family = "static"     // /static-files/..., /build/..., /favicon.ico
	FamilyUI        Family = "ui"         // the single-page app at /
	FamilyHealth    Family = "health"     // /health, /version, /metrics
	FamilyAuthAdmin Family = "auth_admin" // basic-auth users, roles and permissions, /signup
	FamilyUnknown   Family = "unknown"    // no route of the table matches
)

// DefaultMaxJSONBody is the JSON body limit used when Options leaves it zero.
const DefaultMaxJSONBody = 8 << 20

// Options configures a Classifier.
type Options struct {
	// MaxJSONBody is the largest JSON body accepted on JSON RPC routes, in
	// bytes. Zero means DefaultMaxJSONBody. Streaming routes have no limit here.
	MaxJSONBody int64
}

// Classifier classifies requests bound for MLflow. It is safe for concurrent use.
type Classifier struct {
	maxBody int64
	table   *table
}

// New returns a Classifier. It fails only on invalid options.
func New(opts Options) (*Classifier, error) {
	if opts.MaxJSONBody < 0 {
		return nil, fmt.Errorf("classify: negative max json body %d", opts.MaxJSONBody)
	}
	if opts.MaxJSONBody == 0 {
		opts.MaxJSONBody = DefaultMaxJSONBody
	}
	t, err := loadTable()
	if err != nil {
		return nil, err
	}
	return &Classifier{maxBody: opts.MaxJSONBody, table: t}, nil
}

// MaxJSONBody reports the JSON body limit in bytes.
func (c *Classifier) MaxJSONBody() int64 { return c.maxBody }

// Identifiers are the resource identifiers a request names, from its path,
// query string and (top-level) JSON body. Values are deduplicated and keep the
// order of first appearance.
type Identifiers struct {
	ExperimentIDs  []string
	RunIDs         []string
	ModelNames     []string // registered model names
	Versions       []string // registered model versions
	TraceIDs       []string // trace_id and the older request_id
	ArtifactPaths  []string
	LoggedModelIDs []string
}

// Empty reports whether no identifier was found.
func (ids Identifiers) Empty() bool {
	return len(ids.ExperimentIDs)+len(ids.RunIDs)+len(ids.ModelNames)+len(ids.Versions)+
		len(ids.TraceIDs)+len(ids.ArtifactPaths)+len(ids.LoggedModelIDs) == 0
}

// Route is the result of [Classifier.Route]: what the method and path alone say.
type Route struct {
	Method  string
	Family  Family
	RPC     string // e.g. "CreateExperiment"; empty for static files and unknown routes
	Pattern string // MLflow's route pattern, e.g. "/api/3.0/mlflow/traces/<trace_id>"
	// Known is false when no route of MLflow's table has this path and method.
	Known bool
	// NeedsBody is true when the gateway must buffer the body (JSON RPC routes,
	// methods other than GET, HEAD and OPTIONS) and pass it to Inspect. Other
	// bodies stream to MLflow unread.
	NeedsBody bool

	spec *compiled
	path []pathValue // decoded path parameter values named by spec
}

// Request is the result of [Classifier.Inspect].
type Request struct {
	Route
	IDs Identifiers
}

// Rejection is a refusal. Status is the HTTP status, Code the MLflow error_code,
// Message a client-safe explanation and Reason a stable snake_case label for
// metrics and audit.
type Rejection struct {
	Status  int
	Code    string
	Message string
	Reason  string
}

func (r *Rejection) Error() string { return "classify: " + r.Reason + ": " + r.Message }

// Body returns the MLflow-shaped JSON error body {"error_code", "message"}.
func (r *Rejection) Body() []byte {
	b, err := json.Marshal(struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}{r.Code, r.Message})
	if err != nil { // cannot happen for two strings
		return []byte(`{"error_code":"INTERNAL_ERROR","message":"error"}`)
	}
	return b
}

// Write writes the rejection as an HTTP response.
func (r *Rejection) Write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body())
}

// MLflow error codes used in rejections.
const (
	CodeInvalidParameter = "INVALID_PARAMETER_VALUE"
	CodeLimitExceeded    = "RESOURCE_LIMIT_EXCEEDED"
)

func reject(reason, format string, args ...any) *Rejection {
	return &Rejection{
		Status:  http.StatusBadRequest,
		Code:    CodeInvalidParameter,
		Message: fmt.Sprintf(format, args...),
		Reason:  reason,
	}
}
