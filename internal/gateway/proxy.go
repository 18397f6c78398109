package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/upstream"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

// strippedHeaders are removed from every request before it reaches MLflow,
// compared after lower-casing and turning "_" into "-": WSGI and ASGI servers
// map both spellings to the same variable, so X_Mlflow_Descope_Assertion would
// otherwise arrive as the real thing.
var strippedHeaders = map[string]bool{
	"authorization":                  true,
	"proxy-authorization":            true,
	"cookie":                         true,
	"forwarded":                      true,
	"x-real-ip":                      true,
	"x-client-ip":                    true,
	"true-client-ip":                 true,
	"x-original-url":                 true,
	"x-rewrite-url":                  true,
	"remote-user":                    true,
	"x-remote-user":                  true,
	"x-user":                         true,
	"x-email":                        true,
	"x-request-id":                   true,
	"origin":                         true, // checked by the gateway; MLflow would check it against its own list
	"x-forwarded-user":               true,
	"x-forwarded-email":              true,
	"x-forwarded-groups":             true,
	"x-forwarded-preferred-username": true,
	"x-forwarded-access-token":       true,
	// MLflow trusts these before any authorization function runs.
	"x-mlflow-authorization":        true,
	"x-mlflow-assistant-delegation": true,
}

// strippedPrefixes covers header families no client may set.
var strippedPrefixes = []string{"x-forwarded-", "x-auth-request-", "x-mlflow-descope-", "x-descope-"}

func normalizeHeaderName(k string) string {
	return strings.ToLower(strings.ReplaceAll(k, "_", "-"))
}

// stripIdentityHeaders deletes every client-sent header that could carry or
// claim an identity, in any spelling.
func stripIdentityHeaders(h http.Header) {
	for k := range h {
		n := normalizeHeaderName(k)
		if strippedHeaders[n] {
			delete(h, k)
			continue
		}
		for _, p := range strippedPrefixes {
			if strings.HasPrefix(n, p) {
				delete(h, k)
				break
			}
		}
	}
}

func (h *handler) newProxy() *httputil.ReverseProxy {
	transport := h.opts.UpstreamTransport
	if transport == nil {
		transport = upstream.NewTransport()
	}
	return &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      transport,
		FlushInterval:  100 * time.Millisecond,
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.proxyError,
		ErrorLog:       nil,
		BufferPool:     &copyBuffers{},
	}
}

// copyBuffers lends ReverseProxy its 32 KiB copy buffers; without a pool it
// allocates one for every proxied response (60% of the bytes a proxied
// request allocated, see docs/performance.md).
type copyBuffers struct{ p sync.Pool }

func (c *copyBuffers) Get() []byte {
	if b, ok := c.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (c *copyBuffers) Put(b []byte) { c.p.Put(&b) }

type assertionKey struct{}

// rewrite builds the upstream request. ReverseProxy has already removed
// hop-by-hop headers and the client's X-Forwarded-*; everything set here comes
// from data the gateway trusts.
func (h *handler) rewrite(pr *httputil.ProxyRequest) {
	s := stateOf(pr.In.Context())
	pr.SetURL(h.opts.Upstream)
	pr.Out.Host = h.opts.Upstream.Host
	stripIdentityHeaders(pr.Out.Header)
	if a, ok := pr.In.Context().Value(assertionKey{}).(string); ok {
		pr.Out.Header.Set(assertion.Header, a)
	}
	pr.Out.Header.Set("X-Forwarded-For", forwardedFor(s.clientIP))
	if u, err := url.Parse(h.originFor(pr.In)); err == nil {
		pr.Out.Header.Set("X-Forwarded-Proto", u.Scheme)
		pr.Out.Header.Set("X-Forwarded-Host", u.Host)
	}
	pr.Out.Header.Set("X-Request-Id", s.id)
	if h.isUIRoot(pr.In) {
		// The banner is injected into this page; ask for it uncompressed.
		pr.Out.Header.Set("Accept-Encoding", "identity")
	}
}

func (h *handler) isUIRoot(r *http.Request) bool {
	p := strings.TrimPrefix(r.URL.Path, h.opts.StaticPrefix)
	return r.Method == http.MethodGet && (p == "/" || p == "" || p == "/index.html")
}

// maxInjectedPage bounds the UI page read into memory for the banner.
const maxInjectedPage = 4 << 20

func (h *handler) modifyResponse(resp *http.Response) error {
	// MLflow's basic-auth answers unknown users with a Basic challenge, which
	// would pop up a browser password prompt for a credential nobody has.
	resp.Header.Del("Www-Authenticate")
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return h.jsonDenial(resp)
	}
	if !h.isUIRoot(resp.Request) || resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInjectedPage+1))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("gateway: read ui page: %w", err)
	}
	if len(body) <= maxInjectedPage {
		body = web.InjectBanner(body, h.opts.StaticPrefix)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Set("Cache-Control", "no-store")
	return nil
}

// maxDenialBody bounds what is read of an MLflow denial to rewrite it.
const maxDenialBody = 64 << 10

// jsonDenial gives MLflow's own refusals the MLflow error shape: its RBAC
// answers 403 with the text "Permission denied", which the MLflow client and
// scripts cannot read as an error code.
func (h *handler) jsonDenial(resp *http.Response) error {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDenialBody))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("gateway: read mlflow denial: %w", err)
	}
	code, msg := codePermissionDenied, "permission denied"
	if resp.StatusCode == http.StatusUnauthorized {
		code, msg = codeUnauthenticated, "not authenticated"
	}
	if text := strings.TrimSpace(string(body)); text != "" && len(text) < 500 && !strings.ContainsAny(text, "<>") {
		msg = text
	}
	out, err := json.Marshal(map[string]string{"error_code": code, "message": msg})
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Set("Content-Type", "application/json")
	return nil
}

// proxyError answers when MLflow cannot be reached or the exchange breaks.
func (h *handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	s := stateOf(r.Context())
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		s.reason = event.ReasonClientGone
		return
	}
	h.log.Error("upstream", "err", err, "request_id", s.id)
	resp := &apiError{status: http.StatusBadGateway, code: codeUnavailable, message: "MLflow did not answer"}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		resp = errUnavailable("MLflow is not available right now; try again shortly", 2*time.Second)
	}
	if wantsJSON(r, h.opts.StaticPrefix) {
		writeJSONError(w, resp)
		return
	}
	if resp.retryAfter > 0 {
		w.Header().Set("Retry-After", "2")
	}
	h.render(w, r, resp.status, "error.html", map[string]any{
		"Prefix": h.opts.StaticPrefix, "Title": "MLflow is unavailable",
		"Message": "The tracking server did not answer. It may be restarting; try again in a moment.", "RequestID": s.id,
	})
}
