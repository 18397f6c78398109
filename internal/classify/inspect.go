package classify

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Route classifies a request by its method and raw path (the path as sent,
// without the query; see RawPath). It refuses non-canonical paths. A path or
// method MLflow does not serve is not an error: the Route has Known false and
// the family its prefix suggests, and the gateway decides (see IsAPI).
func (c *Classifier) Route(method, rawPath string) (Route, error) {
	p, rej := checkPath(rawPath)
	if rej != nil {
		return Route{}, rej
	}
	rt := Route{Method: method, Family: familyByPrefix(p)}
	m := methodBit(method)
	if method == http.MethodOptions {
		m = mGET | mPOST | mPUT | mPATCH | mDELETE
	}
	if m == 0 {
		return rt, nil
	}
	cm, vals, allowed := c.table.lookup(m, p)
	if cm == nil {
		return rt, nil
	}
	rt.Family = cm.spec.family
	rt.Pattern = cm.spec.pattern
	if !allowed {
		return rt, nil
	}
	rt.Known = true
	rt.spec = cm
	if method == http.MethodOptions { // CORS preflight: no RPC runs
		return rt, nil
	}
	rt.RPC = cm.spec.rpc
	rt.NeedsBody = cm.spec.body == bodyJSON && m != mGET
	for i, name := range cm.params {
		rt.path = append(rt.path, pathValue{name: name, kind: cm.paramIDs[i], value: vals[i]})
	}
	return rt, nil
}

// ReadBody reads r's body when rt.NeedsBody, refusing one longer than the
// configured limit with 413; otherwise it returns nil and leaves the body to
// stream. The caller forwards exactly the returned bytes.
func (c *Classifier) ReadBody(rt Route, r *http.Request) ([]byte, error) {
	if !rt.NeedsBody || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > c.maxBody {
		return nil, c.tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, c.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.maxBody {
		return nil, c.tooLarge()
	}
	return b, nil
}

func (c *Classifier) tooLarge() *Rejection {
	return &Rejection{
		Status:  http.StatusRequestEntityTooLarge,
		Code:    CodeLimitExceeded,
		Message: "request body is larger than " + strconv.FormatInt(c.maxBody, 10) + " bytes",
		Reason:  "body_too_large",
	}
}

// Inspect checks the query, headers and (for routes that need it) the buffered
// body of r, and returns the identifiers the request names. body must be what
// ReadBody returned.
func (c *Classifier) Inspect(rt Route, r *http.Request, body []byte) (Request, error) {
	chunked := len(r.TransferEncoding) > 0
	query := ""
	if r.URL != nil {
		query = r.URL.RawQuery
	}
	return c.inspect(rt, query, r.Header, r.ContentLength, chunked, body)
}

func (c *Classifier) inspect(rt Route, query string, h http.Header, length int64, chunked bool, body []byte) (Request, error) {
	req := Request{Route: rt}
	hasBody := length != 0 || chunked || len(body) > 0
	switch rt.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if hasBody {
			// MLflow reads a GET's parameters from the query when there is one and
			// from the body otherwise; its checks and handlers can disagree.
			return req, reject("body_on_get", "a %s request must not have a body", rt.Method)
		}
	}
	if !rt.Known || rt.spec == nil {
		return req, nil
	}
	var col collector
	for _, pv := range rt.path {
		if pv.kind != idNone {
			col.add(groupOf(jsonName(pv.name)), pv.kind, false, srcPath, pv.value)
		}
	}
	if rej := scanQuery(query, rt.spec, &col); rej != nil {
		return req, rej
	}
	if rt.NeedsBody && hasBody {
		if int64(len(body)) > c.maxBody {
			return req, c.tooLarge()
		}
		if body == nil || length >= 0 && !chunked && length != int64(len(body)) {
			return req, reject("body_not_buffered", "request body does not match its Content-Length")
		}
		if rej := checkJSONHeaders(h); rej != nil {
			return req, rej
		}
		if len(body) > 0 {
			if rej := scanBody(body, rt.spec, &col); rej != nil {
				return req, rej
			}
		}
	}
	if rej := col.check(); rej != nil {
		return req, rej
	}
	if rej := col.checkArtifactPaths(); rej != nil {
		return req, rej
	}
	req.IDs = col.identifiers()
	return req, nil
}

// checkJSONHeaders requires a body MLflow parses as JSON to say so: MLflow's
// handlers parse DELETE and PATCH bodies whatever their Content-Type, while
// its authorization reads them only when declared JSON. The check matches
// MLflow's own for POST: exactly "application/json", parameters allowed.
func checkJSONHeaders(h http.Header) *Rejection {
	ct := h.Values("Content-Type")
	if len(ct) != 1 {
		return reject("content_type_not_json", "a request body must have one Content-Type: application/json")
	}
	base, _, _ := strings.Cut(ct[0], ";")
	if base != "application/json" {
		return reject("content_type_not_json", "a request body must have Content-Type: application/json")
	}
	if _, _, err := mime.ParseMediaType(ct[0]); err != nil {
		return reject("content_type_not_json", "request has an invalid Content-Type")
	}
	if len(h.Values("Content-Encoding")) > 0 {
		return reject("content_encoding", "a JSON request body must not be encoded")
	}
	return nil
}

// AsRejection returns the *Rejection in err's chain, if any.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}
