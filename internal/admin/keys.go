package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// KeyManager lists and revokes every access key of the Descope project;
// *selfservice.Service implements it.
type KeyManager interface {
	AllKeys(ctx context.Context) ([]selfservice.Key, error)
	AdminRevoke(r *http.Request, by selfservice.User, keyID string) error
	// Unavailable says why keys cannot be managed ("" when they can).
	Unavailable() string
}

// showKeys lists every access key, with a revoke button each.
func (h *handler) showKeys(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Configured": h.opts.Keys != nil, "Revoked": r.URL.Query().Get("revoked") == "1"}
	if h.opts.Keys == nil {
		h.render(w, r, http.StatusOK, "keys.html", h.page(r, "Access keys", data))
		return
	}
	if msg := h.opts.Keys.Unavailable(); msg != "" {
		data["Problem"] = msg
		h.render(w, r, http.StatusOK, "keys.html", h.page(r, "Access keys", data))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	keys, err := h.opts.Keys.AllKeys(ctx)
	if err != nil {
		h.log.Error("list access keys", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "The access keys could not be loaded from Descope.")
		return
	}
	data["Keys"] = keys
	h.render(w, r, http.StatusOK, "keys.html", h.page(r, "Access keys", data))
}

// revokeKey deletes any key. The gateway has checked the request is a
// same-origin one from an admin.
func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	if h.opts.Keys == nil {
		h.notFound(w, r)
		return
	}
	id := gateway.IdentityFrom(r.Context())
	by := selfservice.User{ID: id.UserID, LoginID: id.LoginID, Email: id.Email, Name: id.Name, Browser: id.Method == gateway.MethodCookie}
	if err := h.opts.Keys.AdminRevoke(r, by, r.PathValue("id")); err != nil {
		h.log.Warn("revoke access key", "err", err)
		status, msg := http.StatusServiceUnavailable, "The key could not be revoked; try again."
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) && sc.StatusCode() == http.StatusNotFound {
			status, msg = http.StatusNotFound, "There is no such access key (any more)."
		}
		h.fail(w, r, status, msg)
		return
	}
	http.Redirect(w, r, h.base+"keys?revoked=1", http.StatusSeeOther)
}
