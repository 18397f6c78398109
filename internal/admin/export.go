package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
)

// csvHeader are the export's columns.
func csvHeader() []string {
	return []string{"id", "time", "action", "outcome", "reason", "user_id", "username", "login_id", "method",
		"client_ip", "request_id", "route", "rpc", "resources", "status", "mlflow_denied", "latency_ns", "details", "hash"}
}

func csvRow(e *audit.Event) []string {
	return []string{
		strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano), string(e.Action), string(e.Outcome), e.Reason,
		e.Actor.UserID, e.Actor.Username, e.Actor.LoginID, string(e.Actor.Method),
		e.ClientIP, e.RequestID, e.Route, e.RPC, resourcesText(e.Resources), strconv.Itoa(e.Status),
		strconv.FormatBool(e.MLflowDenied), strconv.FormatInt(int64(e.Latency), 10), detailsText(e.Details), e.Hash,
	}
}

func resourcesText(r audit.Resources) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range r[k] {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func detailsText(d map[string]string) string {
	if len(d) == 0 {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// neutralize keeps a spreadsheet from reading a value as a formula: user
// names and login IDs come from outside.
func neutralize(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// each calls fn for every event matching flt, newest first, at most limit
// events; it reports whether more matched.
func (h *handler) each(ctx context.Context, flt audit.Filter, limit int, fn func(*audit.Event) error) (bool, error) {
	flt.Limit = audit.MaxLimit
	flt.Cursor = ""
	n := 0
	for {
		pg, err := h.opts.Audit.Query(ctx, flt)
		if err != nil {
			return false, err
		}
		for i := range pg.Events {
			if n == limit {
				return true, nil
			}
			if err := fn(&pg.Events[i]); err != nil {
				return false, err
			}
			n++
		}
		if pg.NextCursor == "" {
			return false, nil
		}
		flt.Cursor = pg.NextCursor
	}
}

// startExport checks the filter and sets the download headers. The
// X-Export-Truncated trailer says whether the bound cut the export short.
func (h *handler) startExport(w http.ResponseWriter, r *http.Request, contentType, ext string) (audit.Filter, bool) {
	_, flt, err := parseForm(r.URL.Query())
	var bad errBadFilter
	if errors.As(err, &bad) {
		h.fail(w, r, http.StatusBadRequest, string(bad))
		return flt, false
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Disposition", `attachment; filename="audit-`+h.opts.Now().UTC().Format("20060102T150405Z")+`.`+ext+`"`)
	hd.Set("Trailer", "X-Export-Truncated")
	return flt, true
}

// abort ends a stream that failed half way: the client sees a broken
// response rather than a file that looks complete.
func (h *handler) abort(what string, err error) {
	h.log.Error("export failed", "format", what, "err", err)
	panic(http.ErrAbortHandler)
}

// exportCSV streams every matching event (up to ExportLimit) as CSV.
func (h *handler) exportCSV(w http.ResponseWriter, r *http.Request) {
	flt, ok := h.startExport(w, r, "text/csv; charset=utf-8", "csv")
	if !ok {
		return
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader())
	more, err := h.each(r.Context(), flt, h.opts.ExportLimit, func(e *audit.Event) error {
		row := csvRow(e)
		for i := range row {
			row[i] = neutralize(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		if e.ID%500 == 0 {
			cw.Flush()
		}
		return cw.Error()
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		h.abort("csv", err)
	}
	w.Header().Set("X-Export-Truncated", strconv.FormatBool(more))
}

// exportJSON streams every matching event (up to ExportLimit) as
// {"events": [...], "truncated": false}.
func (h *handler) exportJSON(w http.ResponseWriter, r *http.Request) {
	flt, ok := h.startExport(w, r, "application/json", "json")
	if !ok {
		return
	}
	if _, err := w.Write([]byte(`{"events":[`)); err != nil {
		return
	}
	first := true
	more, err := h.each(r.Context(), flt, h.opts.ExportLimit, func(e *audit.Event) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte{',', '\n'}, b...)
		}
		first = false
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		h.abort("json", err)
	}
	_, _ = w.Write([]byte("],\"truncated\":" + strconv.FormatBool(more) + "}\n"))
	w.Header().Set("X-Export-Truncated", strconv.FormatBool(more))
}
