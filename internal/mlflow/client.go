package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// maxResponseBytes bounds how much of a response the Client reads.
const maxResponseBytes = 16 << 20

// SignFunc returns an identity assertion naming username. An *assertion.Signer
// becomes one with SignerFunc.
type SignFunc func(username string) (string, error)

// SignerFunc adapts an *assertion.Signer to a SignFunc.
func SignerFunc(s *assertion.Signer) SignFunc {
	return func(username string) (string, error) { return s.Sign(username, "") }
}

// Client calls MLflow's admin REST API (users, roles, workspaces) as MLflow's
// bootstrap admin, authenticated by an assertion naming that admin. It is safe
// for concurrent use.
type Client struct {
	base  *url.URL
	admin string
	sign  SignFunc
	hc    *http.Client
}

// NewClient returns a Client for the MLflow server at baseURL (scheme, host,
// port, and the --static-prefix as path if MLflow runs with one). hc nil means
// http.DefaultClient; give it a Timeout or pass deadlines in the contexts.
func NewClient(baseURL, adminUsername string, sign SignFunc, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("mlflow: client: parse base url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("mlflow: client: base url %q must be http(s)://host[:port][/prefix]", baseURL)
	}
	if adminUsername == "" {
		return nil, errors.New("mlflow: client: empty admin username")
	}
	if sign == nil {
		return nil, errors.New("mlflow: client: nil sign func")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return &Client{base: u, admin: adminUsername, sign: sign, hc: hc}, nil
}

// AdminUsername is the MLflow user the Client acts as.
func (c *Client) AdminUsername() string { return c.admin }

// call sends one request. For GET, query carries the parameters; for other
// methods body (JSON) does. A 2xx response is decoded into out when out is
// non-nil; anything else becomes an *APIError. No answer, or a cut-off one,
// wraps ErrUnavailable.
func (c *Client) call(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("mlflow: %s: encode request: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("mlflow: %s: %w", op, err)
	}
	token, err := c.sign(c.admin)
	if err != nil {
		return fmt.Errorf("mlflow: %s: sign assertion: %w", op, err)
	}
	req.Header.Set(assertion.Header, token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		// MLflow's DELETE handlers read a JSON body only with this content type.
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow: %s: %w: %w", op, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("mlflow: %s: read response: %w: %w", op, ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(op, resp.StatusCode, raw)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("mlflow: %s: decode response: %w", op, err)
	}
	return nil
}

func apiError(op string, status int, raw []byte) *APIError {
	e := &APIError{Op: op, StatusCode: status}
	var body struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.ErrorCode != "" {
		e.Code, e.Message = body.ErrorCode, body.Message
		return e
	}
	e.Message = snippet(raw)
	return e
}

// snippet is the start of a non-JSON error body, safe to put in an error.
func snippet(raw []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(raw))
	if len(s) > limit {
		s = s[:limit]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
