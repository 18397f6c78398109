package descopesim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// The real @descope/web-component runs a flow in two parts: static files
// (config.json, the theme, one HTML fragment per screen) fetched from its
// base-static-url, and the flow API (/v1/flow/start, /v1/flow/next) on its
// base-url. This file simulates one flow with one screen: a login ID field
// and a Continue button. The component starts the flow, renders the screen
// from the simulator's HTML with the real UI library, posts the login ID
// with /v1/flow/next, and fires its real success event with the authInfo
// the simulator completes the flow with (tokens delivered as the current
// TokenDelivery says). shared/docs/descope-web-component.md describes what
// the component requests.

// LoginScreenID names the simulated flow's only screen.
const LoginScreenID = "login"

// loginScreen is the screen fragment, as Descope's flow editor would export
// it (reduced): the component reads every named element as an input, and
// the id of the clicked descope-button is the interaction ID.
const loginScreen = `<descope-container direction="column" st-horizontal-padding="1rem" st-vertical-padding="1rem" st-gap="1rem">
<descope-text id="title" variant="h3" mode="primary">Sign in</descope-text>
<descope-text-field id="loginIdInput" name="loginId" label="Email" type="email" required="true" full-width="true" bordered="true" size="md"></descope-text-field>
<descope-button id="submitterId" data-type="button" variant="contained" mode="primary" size="md" full-width="true">Continue</descope-button>
</descope-container>`

// loginInteraction is the button's id, so the interaction ID of a click.
const loginInteraction = "submitterId"

// maxExecutions bounds flows started and never finished.
const maxExecutions = 10000

type execution struct {
	flowID string
	tenant string
}

// showFlowFile serves GET /pages/{projectId}/v2-beta/{file}: config.json,
// theme.json (or any {style}.json) and {screen}.html. No credentials are
// involved, so any origin may read them.
func (s *Server) showFlowFile(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "no-store")
	if r.PathValue("projectId") != s.projectID {
		writeError(w, http.StatusNotFound, codeNotFound, "Not found", "unknown project")
		return
	}
	file := r.PathValue("file")
	switch {
	case file == "config.json":
		// No flows entry: without a startScreenId the component calls
		// /v1/flow/start at once, for whatever flow ID the page names.
		writeJSON(w, http.StatusOK, map[string]any{
			"componentsVersion": s.uiVersion,
			"flows":             map[string]any{},
		})
	case strings.HasSuffix(file, ".json"):
		// A theme the UI library accepts; its own defaults style the rest.
		empty := map[string]any{"globals": "", "components": map[string]any{}}
		writeJSON(w, http.StatusOK, map[string]any{"light": empty, "dark": empty})
	case file == LoginScreenID+".html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(loginScreen))
	default:
		writeError(w, http.StatusNotFound, codeNotFound, "Not found", "no such flow file in descope-sim")
	}
}

// flowAPIPreflight answers the CORS preflight of /v1/flow/*: the component
// calls with credentials, JSON and its own headers from the page's origin.
func (s *Server) flowAPIPreflight(w http.ResponseWriter, r *http.Request) {
	s.flowPreflight(w, r)
}

type flowRequest struct {
	FlowID        string          `json:"flowId"`
	ExecutionID   string          `json:"executionId"`
	StepID        string          `json:"stepId"`
	InteractionID string          `json:"interactionId"`
	Input         map[string]any  `json:"input"`
	Options       json.RawMessage `json:"options"`
}

type flowOptions struct {
	Tenant string `json:"tenant"`
}

// flowStart serves POST /v1/flow/start: a new execution showing the login
// screen. (A start that already carries the screen's interaction, as the
// component sends when config.json names a start screen, is completed.)
func (s *Server) flowStart(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	if !s.originApproved(w, r) || !s.flowProject(w, r) {
		return
	}
	var req flowRequest
	if !readFlowJSON(w, r, &req) {
		return
	}
	if req.FlowID == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "flowId is required")
		return
	}
	var opts flowOptions
	if len(req.Options) > 0 {
		_ = json.Unmarshal(req.Options, &opts)
	}
	ex := &execution{flowID: req.FlowID, tenant: opts.Tenant}
	if req.InteractionID == loginInteraction {
		s.completeFlow(w, r, "", ex, req)
		return
	}
	id := randomID()
	s.mu.Lock()
	if len(s.executions) >= maxExecutions {
		clear(s.executions)
	}
	s.executions[id] = ex
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"executionId": id,
		"stepId":      "1",
		"stepName":    "Sign in",
		"status":      "running",
		"action":      "screen",
		"screen":      map[string]any{"id": LoginScreenID, "state": map[string]any{}},
	})
}

// flowNext serves POST /v1/flow/next: the login screen's submission
// completes the flow.
func (s *Server) flowNext(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	if !s.originApproved(w, r) || !s.flowProject(w, r) {
		return
	}
	var req flowRequest
	if !readFlowJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	ex := s.executions[req.ExecutionID]
	s.mu.Unlock()
	if ex == nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "unknown executionId")
		return
	}
	if req.InteractionID != loginInteraction {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "unknown interactionId")
		return
	}
	s.completeFlow(w, r, req.ExecutionID, ex, req)
}

func (s *Server) completeFlow(w http.ResponseWriter, r *http.Request, executionID string, ex *execution, req flowRequest) {
	loginID, _ := req.Input["loginId"].(string)
	loginID = strings.TrimSpace(loginID)
	if loginID == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "login id is required")
		return
	}
	auth, ok := s.signInLoginID(w, loginID, ex.tenant)
	if !ok {
		return
	}
	if executionID != "" {
		s.mu.Lock()
		delete(s.executions, executionID)
		s.mu.Unlock()
	} else {
		executionID = randomID()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"executionId": executionID,
		"stepId":      "2",
		"status":      "completed",
		"action":      "none",
		"authInfo":    s.deliverTokens(w, r, auth),
	})
}

// flowProject checks the component's Authorization: Bearer <projectId>
// (optionally :<refresh token>).
func (s *Server) flowProject(w http.ResponseWriter, r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	pid, _, _ := strings.Cut(v, ":")
	if !ok || pid != s.projectID {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "unknown project id")
		return false
	}
	return true
}

// readFlowJSON decodes a flow call, ignoring the many fields the component
// sends that the simulator does not use.
func readFlowJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "malformed JSON")
		return false
	}
	return true
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
