package descope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/redact"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/strictjson"
)

// DefaultBaseURL is Descope's API when the project ID names no region.
const DefaultBaseURL = "https://api.descope.com"

// Defaults for Options.
const (
	DefaultTimeout = 10 * time.Second
	maxBodyBytes   = 1 << 20  // ordinary answers
	maxPageBytes   = 16 << 20 // a page of user search results
	maxErrorBytes  = 64 << 10 // error bodies
)

// BaseURL returns the Descope API base URL for a project: override when set
// (DESCOPE_BASE_URI), else https://api.<region>.descope.com when the project
// ID has 32 or more characters (characters 1..4 name the region), else
// DefaultBaseURL. The result has no trailing slash.
func BaseURL(projectID, override string) string {
	if override != "" {
		return strings.TrimRight(override, "/")
	}
	if len(projectID) >= 32 {
		return "https://api." + projectID[1:5] + ".descope.com"
	}
	return DefaultBaseURL
}

// Secret is a credential that never prints itself.
type Secret = redact.Secret

// Options configures a Client.
type Options struct {
	// BaseURL of the API; empty means BaseURL(ProjectID, "").
	BaseURL string
	// ProjectID is required.
	ProjectID string
	// ManagementKey enables the management calls; may be empty.
	ManagementKey Secret
	// HTTPClient sends the calls. Default: a client with its own clone of
	// http.DefaultTransport that does not follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each call (default DefaultTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives one debug line per call (op, status, duration); default
	// discards.
	Logger *slog.Logger
	// CookieNames are the names of Descope's session and refresh cookies
	// (default DS and DSR): in cookie mode, refresh answers with them in
	// Set-Cookie instead of body fields.
	CookieNames CookieNames
}

// Client calls Descope's HTTP API. It is safe for concurrent use. It makes
// no retries: callers decide, since a refresh with rotation must not be
// replayed blindly.
type Client struct {
	base      string
	projectID string
	mgmtKey   Secret
	hc        *http.Client
	timeout   time.Duration
	now       func() time.Time
	log       *slog.Logger
	cookies   CookieNames
}

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	if err := validProjectID(opts.ProjectID); err != nil {
		return nil, err
	}
	base := BaseURL(opts.ProjectID, opts.BaseURL)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("descope: base url must be an absolute http(s) url without query, fragment or credentials")
	}
	if err := opts.CookieNames.Validate(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.ManagementKey.Reveal(), " \t\r\n") {
		return nil, errors.New("descope: management key contains whitespace")
	}
	c := &Client{
		base:      base,
		projectID: opts.ProjectID,
		mgmtKey:   opts.ManagementKey,
		hc:        opts.HTTPClient,
		timeout:   opts.Timeout,
		now:       opts.Now,
		log:       opts.Logger,
		cookies:   opts.CookieNames.withDefaults(),
	}
	if c.hc == nil {
		c.hc = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ProjectID returns the project the client talks for.
func (c *Client) ProjectID() string { return c.projectID }

// HasManagementKey reports whether management calls are possible.
func (c *Client) HasManagementKey() bool { return c.mgmtKey != "" }

func validProjectID(id string) error {
	if id == "" {
		return errors.New("descope: project id is required")
	}
	if len(id) > 128 {
		return errors.New("descope: project id is too long")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errors.New("descope: project id may hold only letters, digits, '-' and '_'")
		}
	}
	return nil
}

// call describes one API request.
type call struct {
	op     string     // short name for errors and logs: "refresh"
	method string     // GET or POST
	path   string     // starts with "/"
	query  url.Values // optional
	secret string     // bearer secret after "{projectId}:"; "" sends the project ID alone
	body   any        // JSON body for POST; nil sends "{}"
	limit  int64      // response size limit; 0 means maxBodyBytes
	out    any        // decoded from a 2xx JSON body when non-nil
	// onResponse sees the 2xx response headers (for a rotated DSR cookie).
	onResponse func(*http.Response)
}

// do sends r and decodes its answer. Errors match ErrRejected or
// ErrUnavailable (see APIError and unavailable).
func (c *Client) do(ctx context.Context, r call) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.method == http.MethodPost {
		payload := []byte("{}")
		if r.body != nil {
			var err error
			if payload, err = json.Marshal(r.body); err != nil {
				return fmt.Errorf("descope: %s: encode request: %w", r.op, err)
			}
		}
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return fmt.Errorf("descope: %s: build request: %w", r.op, err)
	}
	bearer := c.projectID
	if r.secret != "" {
		bearer += ":" + r.secret
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-descope-project-id", c.projectID)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "descope call failed",
			slog.String("op", r.op), slog.Duration("duration", c.now().Sub(start)))
		return unavailable(r.op, scrubURLError(err))
	}
	defer resp.Body.Close()
	c.log.LogAttrs(ctx, slog.LevelDebug, "descope call",
		slog.String("op", r.op), slog.Int("status_code", resp.StatusCode),
		slog.Duration("duration", c.now().Sub(start)))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("descope: %s: %w", r.op, c.apiError(resp))
	}
	limit := r.limit
	if limit <= 0 {
		limit = maxBodyBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return unavailable(r.op, fmt.Errorf("read response: %w", err))
	}
	if int64(len(data)) > limit {
		return unavailable(r.op, fmt.Errorf("response larger than %d bytes", limit))
	}
	if r.out != nil {
		// An answer the gateway acts on must mean one thing: a repeated
		// member (or a case variant, which encoding/json folds into one
		// struct field) is refused like an unreadable answer, never decoded
		// with whichever copy a parser happens to keep.
		if err := strictjson.Check(data, answerRules()); err != nil {
			return unavailable(r.op, fmt.Errorf("ambiguous response: %w", err))
		}
		if err := json.Unmarshal(data, r.out); err != nil {
			return unavailable(r.op, fmt.Errorf("decode response: %w", err))
		}
	}
	if r.onResponse != nil {
		r.onResponse(resp)
	}
	return nil
}

// answerRules are strictjson's rules for Descope's answers. Custom
// attributes and claims are free-form maps whose keys are taken exactly, so
// case variants there are distinct keys, not repeats.
func answerRules() strictjson.Options {
	return strictjson.Options{FoldCase: true, Opaque: []string{"customAttributes", "customClaims"}}
}

// apiError builds an *APIError from a non-2xx response.
func (c *Client) apiError(resp *http.Response) *APIError {
	ae := &APIError{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		ae.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	var eb struct {
		Code        string `json:"errorCode"`
		Description string `json:"errorDescription"`
		Message     string `json:"errorMessage"`
	}
	if json.Unmarshal(data, &eb) == nil {
		ae.Code = truncate(eb.Code, 64)
		ae.Description = truncate(eb.Description, 512)
		ae.Message = truncate(eb.Message, 512)
	}
	return ae
}

// scrubURLError drops the query string from a *url.Error so identifiers
// passed as parameters do not travel into logs with the error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
			return &url.Error{Op: ue.Op, URL: ue.URL[:i], Err: ue.Err}
		}
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// unixTime converts Unix seconds to a time; 0 is the zero time.
func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
