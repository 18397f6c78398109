package descopesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Error codes the simulator answers with. Only E130429 is Descope's
// documented rate-limit code; the others are stand-ins, and clients should
// act on the HTTP status.
const (
	codeBadRequest   = "E011001"
	codeUnauthorized = "E061001"
	codeNotFound     = "E062108"
	// codeMgmtUserNotFound is what Descope's management API answers for a
	// missing user (go-sdk ErrManagementUserNotFound); the auth API uses
	// codeNotFound.
	codeMgmtUserNotFound = "E112102"
	codeRateLimited      = "E130429"
	codeInternal         = "E000500"
)

// handler builds the middleware chain around the mux.
func (s *Server) handler() http.Handler {
	return s.recoverPanics(s.logRequests(s.countAndFault(s.routes())))
}

// routes registers every route of the simulator.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()

	// Descope API.
	mux.HandleFunc("GET /v2/keys/{projectId}", s.showKeys)
	mux.HandleFunc("POST /v1/auth/refresh", s.refreshSession)
	mux.HandleFunc("POST /v1/auth/logout", s.logout(false))
	mux.HandleFunc("POST /v1/auth/logoutall", s.logout(true))
	mux.HandleFunc("GET /v1/auth/me", s.showMe)
	mux.HandleFunc("POST /v1/auth/tenant/select", s.selectTenant)
	mux.HandleFunc("POST /v1/auth/accesskey/exchange", s.exchangeKey)
	mux.HandleFunc("GET /v1/mgmt/license", s.requireMgmt(s.showLicense))
	mux.HandleFunc("POST /v2/mgmt/user/search", s.requireMgmt(s.searchUsers))
	mux.HandleFunc("GET /v1/mgmt/user", s.requireMgmt(s.loadUser))
	mux.HandleFunc("GET /v1/mgmt/role/all", s.requireMgmt(s.listRoles))
	mux.HandleFunc("GET /v1/mgmt/tenant/all", s.requireMgmt(s.listTenants))
	mux.HandleFunc("GET /v1/mgmt/accesskey", s.requireMgmt(s.loadKey))
	mux.HandleFunc("POST /v1/mgmt/accesskey/create", s.requireMgmt(s.mgmtCreateKey))
	mux.HandleFunc("POST /v1/mgmt/accesskey/search", s.requireMgmt(s.searchKeys))
	mux.HandleFunc("POST /v1/mgmt/accesskey/update", s.requireMgmt(s.updateKey))
	mux.HandleFunc("POST /v1/mgmt/accesskey/activate", s.requireMgmt(s.keyStatusHandler(KeyActive)))
	mux.HandleFunc("POST /v1/mgmt/accesskey/deactivate", s.requireMgmt(s.keyStatusHandler(KeyInactive)))
	mux.HandleFunc("POST /v1/mgmt/accesskey/delete", s.requireMgmt(s.mgmtDeleteKey))
	mux.HandleFunc("POST /v1/mgmt/accesskey/rotate", s.requireMgmt(s.rotateKey))

	// Web component stand-in and its flow endpoint.
	mux.HandleFunc("GET /sim/web-component.js", s.showWebComponent)
	mux.HandleFunc("GET /npm/@descope/{pkg}/dist/index.js", s.showWebComponent)
	mux.HandleFunc("POST /sim/flow/sign-in", s.flowSignIn)
	mux.HandleFunc("OPTIONS /sim/flow/", s.flowPreflight)

	// The real web component's flow: static files and the flow API.
	mux.HandleFunc("GET /pages/{projectId}/v2-beta/{file}", s.showFlowFile)
	mux.HandleFunc("OPTIONS /v1/flow/", s.flowAPIPreflight)
	mux.HandleFunc("POST /v1/flow/start", s.flowStart)
	mux.HandleFunc("POST /v1/flow/next", s.flowNext)

	// Test control API.
	mux.HandleFunc("GET /sim/healthz", s.showHealth)
	mux.HandleFunc("GET /sim/users", s.simListUsers)
	mux.HandleFunc("POST /sim/users", s.simCreateUser)
	mux.HandleFunc("PUT /sim/users/{id}", s.simUpdateUser)
	mux.HandleFunc("DELETE /sim/users/{id}", s.simDeleteUser)
	mux.HandleFunc("POST /sim/users/{id}/status", s.simSetStatus)
	mux.HandleFunc("POST /sim/roles", s.simCreateRole)
	mux.HandleFunc("POST /sim/tenants", s.simCreateTenant)
	mux.HandleFunc("POST /sim/tokens", s.simMint)
	mux.HandleFunc("POST /sim/tokens/raw", s.simSignRaw)
	mux.HandleFunc("POST /sim/access-keys", s.simCreateKey)
	mux.HandleFunc("POST /sim/access-keys/{id}/deactivate", s.simKeyStatus(KeyInactive))
	mux.HandleFunc("POST /sim/access-keys/{id}/activate", s.simKeyStatus(KeyActive))
	mux.HandleFunc("DELETE /sim/access-keys/{id}", s.simDeleteKey)
	mux.HandleFunc("POST /sim/keys/rotate", s.simRotateKeys)
	mux.HandleFunc("POST /sim/faults", s.simInjectFault)
	mux.HandleFunc("DELETE /sim/faults", s.simClearFaults)
	mux.HandleFunc("PUT /sim/refresh-rotation", s.simSetRotation)
	mux.HandleFunc("PUT /sim/token-delivery", s.simSetDelivery)
	mux.HandleFunc("PUT /sim/access-key-subject", s.simSetKeySubject)
	mux.HandleFunc("PUT /sim/approved-origins", s.simSetApprovedOrigins)
	mux.HandleFunc("GET /sim/counts", s.simShowCounts)
	mux.HandleFunc("DELETE /sim/counts", s.simResetCounts)
	mux.HandleFunc("POST /sim/clock/advance", s.simAdvance)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "Not found", "no such endpoint in descope-sim: "+r.URL.Path)
	})
	return mux
}

// recoverPanics turns a handler panic into a 500 instead of a dropped
// connection; http.ErrAbortHandler is passed on.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, codeInternal, "Internal error", "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// logRequests writes one debug line per request. Tokens are never logged.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status_code", sw.status, "duration", time.Since(start))
	})
}

// errorBody is Descope's error response.
type errorBody struct {
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
	ErrorMessage     string `json:"errorMessage"`
}

func writeError(w http.ResponseWriter, status int, code, desc, msg string) {
	writeJSON(w, status, errorBody{ErrorCode: code, ErrorDescription: desc, ErrorMessage: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errorCode":"` + codeInternal + `","errorDescription":"Internal error","errorMessage":""}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readJSON decodes an optional JSON body into v. An empty body is fine.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil && len(strings.TrimSpace(string(body))) > 0 {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "malformed JSON body")
		return false
	}
	return true
}

// bearerParts splits "Bearer {projectId}:{secret}[:{key}]".
func bearerParts(r *http.Request) []string {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil
	}
	return strings.Split(h[len(prefix):], ":")
}

// authSecret returns the secret of an auth call (refresh JWT or access key),
// or writes a 401 and returns false.
func (s *Server) authSecret(w http.ResponseWriter, r *http.Request) (string, bool) {
	parts := bearerParts(r)
	if len(parts) < 2 || parts[0] != s.projectID || parts[1] == "" {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "missing or malformed Authorization header")
		return "", false
	}
	return parts[1], true
}

// requireMgmt checks "Bearer {projectId}:{managementKey}".
func (s *Server) requireMgmt(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		parts := bearerParts(r)
		if len(parts) != 2 || parts[0] != s.projectID || parts[1] != s.mgmtKey {
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized", "invalid management key")
			return
		}
		next(w, r)
	}
}

// writeSimError maps a Server method error to a control API response.
func writeSimError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "Not found", err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, codeBadRequest, "Conflict", err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, codeInternal, "Internal error", err.Error())
	}
}
