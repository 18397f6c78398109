package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// health says the process is alive.
func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
}

// ready says the gateway can serve: Descope's keys are loaded, MLflow
// answers, and the role mapping is in place there.
func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"descope_keys": "ok", "mlflow": "ok", "role_mapping": "ok"}
	status := http.StatusOK
	if !h.opts.KeysReady() {
		checks["descope_keys"] = "not loaded"
		status = http.StatusServiceUnavailable
	}
	if !h.opts.MappingReady() {
		checks["role_mapping"] = "not applied yet"
		status = http.StatusServiceUnavailable
	}
	if err := h.opts.Ready(ctx); err != nil {
		checks["mlflow"] = "unreachable"
		status = http.StatusServiceUnavailable
	}
	body := map[string]any{"status": "ready", "checks": checks}
	if status != http.StatusOK {
		body["status"] = "not ready"
	}
	writeStatus(w, status, body)
}

func writeStatus(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
