package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
)

// MLflow error codes the gateway answers with. The MLflow client retries
// 408/429/5xx, so a refused credential is 401 or 403 (retrying cannot help);
// only what waiting cures is 429 (a client over an abuse limit: sign-ins,
// failed authentications, exchanges of unknown access keys) or 503 (Descope
// or MLflow unavailable), each with Retry-After.
const (
	codeUnauthenticated  = "UNAUTHENTICATED"
	codePermissionDenied = "PERMISSION_DENIED"
	codeInvalidParameter = "INVALID_PARAMETER_VALUE"
	codeUnavailable      = "TEMPORARILY_UNAVAILABLE"
	codeNotFound         = "ENDPOINT_NOT_FOUND"
	codeInternal         = "INTERNAL_ERROR"
	codeLimitExceeded    = "REQUEST_LIMIT_EXCEEDED"
)

// apiError is an error with a status, an MLflow error code and a message that
// is safe to show the client. Anything else is a 500 with a generic message.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errUnauthenticated(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeUnauthenticated, message: msg}
}

func errForbidden(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: codePermissionDenied, message: msg}
}

func errBadRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidParameter, message: msg}
}

func errUnavailable(msg string, retryAfter time.Duration) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: msg, retryAfter: retryAfter}
}

// errTooMany answers a client over an abuse limit. It is the one 429 the
// gateway sends: the MLflow client backs off and retries, which is what a
// flood should do.
func errTooMany(retryAfter time.Duration) *apiError {
	if retryAfter < time.Second {
		retryAfter = time.Second
	}
	return &apiError{status: http.StatusTooManyRequests, code: codeLimitExceeded, message: "too many attempts; slow down", retryAfter: retryAfter}
}

// writeJSONError writes an MLflow-shaped error body.
func writeJSONError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.status == http.StatusServiceUnavailable && e.retryAfter <= 0 {
		e.retryAfter = 5 * time.Second
	}
	if e.retryAfter > 0 {
		secs := int((e.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": e.code, "message": e.message})
}

// wantsJSON reports whether a client should get JSON errors rather than
// redirects and pages: API paths, non-browser Accept headers, and anything
// that sent credentials in a header.
func wantsJSON(r *http.Request, prefix string) bool {
	if classify.IsAPI(strings.TrimPrefix(classify.RawPath(r), prefix)) {
		return true
	}
	if r.Header.Get("Authorization") != "" {
		return true
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	return !strings.Contains(r.Header.Get("Accept"), "text/html")
}
