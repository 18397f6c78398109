package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// serveMLflow authenticates a request, makes sure its user exists in MLflow,
// and forwards it with a fresh assertion.
func (h *handler) serveMLflow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := stateOf(ctx)
	s.route = "mlflow"
	id, err := h.authenticate(w, r)
	if err != nil {
		h.authFailed(w, r, err)
		return
	}
	s.identity = id
	if id.Username == "" || id.Username == h.opts.AdminUsername {
		h.authFailed(w, r, h.failed(id.Method, event.ReasonReservedUsername, errors.New("identity maps to no usable MLflow user"), errForbidden("this identity cannot be used with MLflow")))
		return
	}
	if !h.opts.Policy.WorkspaceAllowed(id.Token, workspaceHeader(r.Header)) {
		s.reason = event.ReasonWorkspaceDenied
		s.record(event.AuthFailure{Method: id.Method, Reason: event.ReasonWorkspaceDenied})
		writeJSONError(w, errForbidden("you are not a member of this workspace"))
		return
	}
	if id.Method == MethodCookie && !safeMethod(r.Method) && !h.sameOrigin(r) {
		h.authFailed(w, r, h.failed(id.Method, event.ReasonCrossSite, errors.New("cross-site state change"), errForbidden("cross-site request refused")))
		return
	}
	if !h.inspect(w, r, id) {
		return
	}
	if s.rpc == rpcListUsers && h.opts.RestrictUserList && !id.Admin {
		// Every username (with readable names, everyone's login ID) and
		// admin flag: a directory for admins only. Sharing with someone
		// works by typing their username.
		s.reason = event.ReasonUserDirectory
		writeJSONError(w, errForbidden("the list of MLflow users is available to administrators only; type the username of the person you want to share with"))
		return
	}
	if err := h.opts.Policy.Ensure(ctx, id.Username, id.Token); err != nil {
		h.log.Error("provision", "err", err, "user_id", id.UserID, "request_id", s.id)
		writeJSONError(w, errUnavailable("could not prepare your MLflow account; try again shortly", 2*time.Second))
		return
	}
	if name := h.uiFile(r); name != "" && h.opts.UI.Serve(w, r, name) {
		return
	}
	a, err := h.opts.Signer.Sign(id.Username, s.id)
	if err != nil {
		h.log.Error("sign assertion", "err", err, "request_id", s.id)
		writeJSONError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
		return
	}
	s.proxied = true
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, assertionKey{}, a)))
}

// uiFile names the file of MLflow's UI build a request asks for when the
// gateway serves them: the page at MLflow's root, anything under
// /static-files/ (MLflow's own routes for them); "" otherwise.
func (h *handler) uiFile(r *http.Request) string {
	if h.opts.UI == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return ""
	}
	p := strings.TrimPrefix(r.URL.Path, h.opts.StaticPrefix)
	if p == "/" {
		return "index.html"
	}
	name, _ := strings.CutPrefix(p, "/static-files/")
	if name == p {
		return ""
	}
	return name
}

// rpcListUsers is MLflow's users/list (both REST twins): every username
// and admin flag.
const rpcListUsers = "ListUsers"

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// inspect applies the classifier to an authenticated request: unknown API
// routes are refused for non-admins, and a JSON body is read, checked, and put
// back so MLflow receives exactly the bytes that were checked. It reports
// whether the request may go on.
func (h *handler) inspect(w http.ResponseWriter, r *http.Request, id *Identity) bool {
	s := stateOf(r.Context())
	rt := s.mlRoute
	s.route = string(rt.Family)
	s.rpc = rt.RPC
	if !rt.Known && !id.Admin && !h.opts.AllowUnknownRoutes && classify.IsAPI(strings.TrimPrefix(classify.RawPath(r), h.opts.StaticPrefix)) {
		s.reason = event.ReasonUnknownRoute
		writeJSONError(w, &apiError{status: http.StatusForbidden, code: codePermissionDenied, message: "this API route is not known to the gateway"})
		return false
	}
	if !id.Admin && h.opts.AdminOnly != nil {
		if why := h.opts.AdminOnly(rt, strings.TrimPrefix(classify.RawPath(r), h.opts.StaticPrefix)); why != "" {
			s.reason = why
			writeJSONError(w, &apiError{status: http.StatusForbidden, code: codePermissionDenied, message: "this MLflow route is reserved to administrators"})
			return false
		}
	}
	if rt.Family == classify.FamilyGraphQL && r.Method != http.MethodPost {
		// MLflow reads GraphQL only from a POST body; anything else ends in
		// its 500 page, which the MLflow client would retry.
		s.reason = event.ReasonGraphQLNotPost
		writeJSONError(w, errBadRequest("GraphQL queries are sent with POST and a JSON body"))
		return false
	}
	body, err := h.classes.ReadBody(rt, r)
	if err != nil {
		h.refuse(w, r, err)
		return false
	}
	req, err := h.classes.Inspect(rt, r, body)
	if err != nil {
		h.refuse(w, r, err)
		return false
	}
	s.ids = req.IDs
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		// Replayable: a request that reaches an MLflow worker which has
		// just died is sent to another (internal/upstream.Balancer).
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return true
}

// workspaceHeader returns the workspace a request names. Several values, or
// the header in two spellings, name no single workspace: "\x00" never matches
// a workspace, so the request is refused.
func workspaceHeader(h http.Header) string {
	var vals []string
	for k, v := range h {
		if normalizeHeaderName(k) == "x-mlflow-workspace" {
			vals = append(vals, v...)
		}
	}
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return strings.TrimSpace(vals[0])
	default:
		return "\x00"
	}
}
