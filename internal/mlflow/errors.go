package mlflow

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors for expected MLflow answers. Every error the Client returns
// for an MLflow error response is an *APIError that matches (errors.Is) the
// sentinel for its error code or status.
var (
	// ErrUnavailable: MLflow did not answer (connection refused or reset, a
	// timeout, a cut-off answer) or answered 5xx, 408 or 429. Retrying can
	// cure it; any other error is MLflow's (or our) final word.
	ErrUnavailable = errors.New("mlflow: unavailable")
	// ErrNotFound: RESOURCE_DOES_NOT_EXIST (HTTP 404).
	ErrNotFound = errors.New("mlflow: not found")
	// ErrAlreadyExists: RESOURCE_ALREADY_EXISTS (MLflow answers HTTP 400).
	ErrAlreadyExists = errors.New("mlflow: already exists")
	// ErrInvalidParameter: INVALID_PARAMETER_VALUE or BAD_REQUEST (HTTP 400).
	ErrInvalidParameter = errors.New("mlflow: invalid parameter")
	// ErrUnauthenticated: HTTP 401 (the assertion was refused).
	ErrUnauthenticated = errors.New("mlflow: unauthenticated")
	// ErrPermissionDenied: PERMISSION_DENIED or HTTP 403.
	ErrPermissionDenied = errors.New("mlflow: permission denied")
)

// MLflow error codes the Client maps to sentinels.
const (
	CodeResourceDoesNotExist  = "RESOURCE_DOES_NOT_EXIST"
	CodeResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS"
	CodeInvalidParameterValue = "INVALID_PARAMETER_VALUE"
	CodeBadRequest            = "BAD_REQUEST"
	CodePermissionDenied      = "PERMISSION_DENIED"
	CodeUnauthenticated       = "UNAUTHENTICATED"
)

// APIError is an error response from MLflow.
type APIError struct {
	Op         string // the Client method, e.g. "create user"
	StatusCode int
	Code       string // MLflow's error_code; empty when the body was not MLflow JSON
	Message    string // MLflow's message or the start of a non-JSON body
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("mlflow: %s: %d %s: %s", e.Op, e.StatusCode, code, e.Message)
}

// Is reports whether the response matches one of the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == CodeResourceDoesNotExist || (e.Code == "" && e.StatusCode == http.StatusNotFound)
	case ErrAlreadyExists:
		return e.Code == CodeResourceAlreadyExists
	case ErrInvalidParameter:
		return e.Code == CodeInvalidParameterValue || e.Code == CodeBadRequest ||
			(e.Code == "" && e.StatusCode == http.StatusBadRequest)
	case ErrUnauthenticated:
		return e.Code == CodeUnauthenticated || e.StatusCode == http.StatusUnauthorized
	case ErrPermissionDenied:
		return e.Code == CodePermissionDenied || e.StatusCode == http.StatusForbidden
	case ErrUnavailable:
		s := e.StatusCode
		return s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests
	}
	return false
}
