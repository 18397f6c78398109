package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

// maxExplain bounds the explain output kept in memory.
const maxExplain = 1 << 20

// limitedBuffer refuses to grow past its bound.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

var errTooLong = errors.New("admin: explain output too long")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errTooLong
	}
	return b.Buffer.Write(p)
}

// showUser explains a user's MLflow identity and roles, and lists their
// recent audit events.
func (h *handler) showUser(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	data := map[string]any{"ID": id, "Configured": h.opts.Explain != nil}
	if id == "" {
		h.render(w, r, http.StatusOK, "user.html", h.page(r, "User", data))
		return
	}
	if len(id) > 256 {
		h.fail(w, r, http.StatusBadRequest, "That ID is too long.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if h.opts.Explain != nil {
		buf := &limitedBuffer{max: maxExplain}
		if err := h.opts.Explain(ctx, id, buf); err != nil {
			h.log.Warn("explain failed", "err", err)
			data["Problem"] = explainProblem(err)
		} else {
			data["Explanation"] = buf.String()
		}
	}
	// The user's events are found by user ID once the name is known: the
	// login ID in older events may be another (a changed or reassigned
	// login ID).
	needle := id
	if h.opts.Names != nil {
		recs, err := h.opts.Names(ctx, id)
		if err != nil {
			h.log.Warn("find mlflow usernames", "err", err)
			data["NamesProblem"] = "The MLflow usernames could not be read; the gateway log has the details."
		}
		data["Names"] = recs
		if len(recs) > 0 {
			needle = recs[0].UserID
		}
	}
	evs, err := h.opts.Audit.Query(ctx, audit.Filter{UserContains: needle, Limit: 25})
	if err != nil {
		h.log.Error("query user events", "err", err)
	}
	data["Events"] = evs.Events
	h.render(w, r, http.StatusOK, "user.html", h.page(r, "User "+id, data))
}

// explainProblem is what an admin is told when explaining failed; the
// detail goes to the log.
func explainProblem(err error) string {
	switch {
	case errors.Is(err, descope.ErrNoManagementKey):
		return "Explaining a user needs DESCOPE_MANAGEMENT_KEY."
	case errors.Is(err, descope.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "Descope or MLflow did not answer; try again shortly."
	case errors.Is(err, descope.ErrRejected):
		return "Descope has no user with that login ID or user ID."
	case errors.Is(err, errTooLong):
		return "The explanation is too long to show."
	default:
		return "The user could not be explained; the gateway log has the details."
	}
}

// showSync renders the sync status as JSON.
func (h *handler) showSync(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Configured": h.opts.SyncStatus != nil}
	if h.opts.SyncStatus != nil {
		b, err := json.MarshalIndent(h.opts.SyncStatus(), "", "  ")
		if err != nil {
			h.log.Error("sync status", "err", err)
			h.fail(w, r, http.StatusInternalServerError, "The sync status could not be shown.")
			return
		}
		data["Status"] = string(b)
	}
	h.render(w, r, http.StatusOK, "sync.html", h.page(r, "Sync status", data))
}
