package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
)

// form is the audit log's filter form, as submitted.
type form struct {
	User, Action, Outcome, Resource, Since, Until string
	Limit                                         int
	Cursor                                        string
}

// Actions offered in the filter's list.
func actions() []audit.Action { return audit.Actions() }

func outcomes() []audit.Outcome {
	return []audit.Outcome{audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeDenied, audit.OutcomeError}
}

// errBadFilter is a filter the user can fix; its text is safe to show.
type errBadFilter string

func (e errBadFilter) Error() string { return string(e) }

// parseTime reads since/until: what <input type=datetime-local> sends (read
// as UTC), or RFC 3339.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, l := range [...]string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadFilter(name + ": use YYYY-MM-DDTHH:MM (UTC) or RFC 3339")
}

// parseForm reads the filter from the query string.
func parseForm(q url.Values) (form, audit.Filter, error) {
	f := form{
		User: strings.TrimSpace(q.Get("user")), Action: q.Get("action"), Outcome: q.Get("outcome"),
		Resource: strings.TrimSpace(q.Get("resource")), Since: q.Get("since"), Until: q.Get("until"),
		Cursor: q.Get("cursor"), Limit: 50,
	}
	var flt audit.Filter
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return f, flt, errBadFilter("page size: a number from 1 to 1000")
		}
		f.Limit = n
	}
	if f.Action != "" && !validAction(f.Action) {
		return f, flt, errBadFilter("action: not a known action")
	}
	if f.Outcome != "" && !validOutcome(f.Outcome) {
		return f, flt, errBadFilter("outcome: success, failure, denied or error")
	}
	since, err := parseTime("from", f.Since)
	if err != nil {
		return f, flt, err
	}
	until, err := parseTime("to", f.Until)
	if err != nil {
		return f, flt, err
	}
	if len(f.User) > 256 || len(f.Resource) > 1024 {
		return f, flt, errBadFilter("user or resource: too long")
	}
	flt = audit.Filter{UserContains: f.User, Action: audit.Action(f.Action), Outcome: audit.Outcome(f.Outcome),
		Resource: f.Resource, Since: since, Until: until, Limit: f.Limit, Cursor: f.Cursor}
	return f, flt, nil
}

func validAction(a string) bool {
	if len(a) > 64 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return a != ""
}

func validOutcome(o string) bool {
	for _, v := range outcomes() {
		if string(v) == o {
			return true
		}
	}
	return false
}

// query returns the filter's values without the cursor, for links.
func (f form) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"user": f.User, "action": f.Action, "outcome": f.Outcome,
		"resource": f.Resource, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit != 50 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// showAudit renders one page of the audit log.
func (h *handler) showAudit(w http.ResponseWriter, r *http.Request) {
	f, flt, err := parseForm(r.URL.Query())
	var bad errBadFilter
	if errors.As(err, &bad) {
		h.renderAudit(w, r, http.StatusBadRequest, f, audit.Page{}, string(bad))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	pg, err := h.opts.Audit.Query(ctx, flt)
	switch {
	case errors.Is(err, audit.ErrBadCursor):
		h.renderAudit(w, r, http.StatusBadRequest, f, audit.Page{}, "That page link is no longer valid; start from the newest events.")
		return
	case err != nil:
		h.log.Error("query audit log", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "The audit log could not be read.")
		return
	}
	h.renderAudit(w, r, http.StatusOK, f, pg, "")
}

func (h *handler) renderAudit(w http.ResponseWriter, r *http.Request, status int, f form, pg audit.Page, problem string) {
	q := f.query()
	data := map[string]any{
		"Form": f, "Events": pg.Events, "Problem": problem,
		"Actions": actions(), "Outcomes": outcomes(), "Limits": []int{25, 50, 100, 500, 1000},
		"CSV": h.base + "audit.csv?" + q.Encode(), "JSON": h.base + "audit.json?" + q.Encode(),
		"First": h.base + "audit?" + q.Encode(), "Paged": f.Cursor != "",
	}
	if pg.NextCursor != "" {
		q.Set("cursor", pg.NextCursor)
		data["Next"] = h.base + "audit?" + q.Encode()
	}
	h.render(w, r, status, "audit.html", h.page(r, "Audit log", data))
}
