package descope

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// User is a Descope user as /v1/auth/me and the management API return it.
type User struct {
	UserID           string         `json:"userId"`
	LoginIDs         []string       `json:"loginIds"`
	Email            string         `json:"email"`
	VerifiedEmail    bool           `json:"verifiedEmail"`
	Phone            string         `json:"phone"`
	Name             string         `json:"name"`
	GivenName        string         `json:"givenName"`
	FamilyName       string         `json:"familyName"`
	RoleNames        []string       `json:"roleNames"`
	UserTenants      []UserTenant   `json:"userTenants"`
	Status           string         `json:"status"` // enabled, disabled, invited, expired
	Test             bool           `json:"test"`
	CreatedTime      int64          `json:"createdTime"` // Unix seconds
	CustomAttributes map[string]any `json:"customAttributes"`
}

// UserTenant is a user's membership of one tenant.
type UserTenant struct {
	TenantID   string   `json:"tenantId"`
	TenantName string   `json:"tenantName"`
	RoleNames  []string `json:"roleNames"`
}

// RefreshResult is what Refresh returns. Its tokens are not
// verified here: pass SessionJWT to Verifier.Verify before trusting it.
type RefreshResult struct {
	SessionJWT string
	// RefreshJWT is the refresh token to keep from now on: the rotated one
	// if Descope rotated it (Rotated is then true), else the one presented.
	RefreshJWT        string
	Rotated           bool
	SessionExpiration time.Time
}

// LogValue keeps the tokens out of logs.
func (r RefreshResult) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("rotated", r.Rotated),
		slog.Time("session_expiration", r.SessionExpiration),
	)
}

func (r RefreshResult) String() string {
	return fmt.Sprintf("descope.RefreshResult{rotated:%t session_expiration:%s}", r.Rotated, r.SessionExpiration.Format(time.RFC3339))
}

// jwtResponse is the part of refresh's answer the gateway uses (it also
// carries cookie settings and the user, which it does not).
type jwtResponse struct {
	SessionJWT        string `json:"sessionJwt"`
	RefreshJWT        string `json:"refreshJwt"`
	SessionExpiration int64  `json:"sessionExpiration"`
}

// Refresh exchanges a refresh token for a new session token
// (POST /v1/auth/refresh). A project that manages tokens in cookies answers
// with Set-Cookie (the client's CookieNames) instead of the body fields;
// both are read, the body first, as Descope's Go SDK does. Errors match
// ErrRejected (any 4xx but 429: the session is over) or ErrUnavailable
// (keep the tokens and try later).
func (c *Client) Refresh(ctx context.Context, refreshJWT string) (*RefreshResult, error) {
	return c.sessionCall(ctx, "refresh", "/v1/auth/refresh", refreshJWT, nil)
}

func (c *Client) sessionCall(ctx context.Context, op, path, refreshJWT string, body any) (*RefreshResult, error) {
	if refreshJWT == "" {
		return nil, fmt.Errorf("descope: %s: empty refresh token", op)
	}
	var out jwtResponse
	var cookieSession, cookieRefresh string
	err := c.do(ctx, call{
		op: op, method: http.MethodPost, path: path, secret: refreshJWT, body: body, out: &out,
		onResponse: func(resp *http.Response) {
			cookieSession, cookieRefresh = c.cookies.FromResponse(resp)
		},
	})
	if err != nil {
		return nil, err
	}
	if out.SessionJWT == "" {
		out.SessionJWT = cookieSession
	}
	if out.SessionJWT == "" {
		return nil, unavailable(op, fmt.Errorf("answer has no session token, neither in the body nor in a %s cookie", c.cookies.Session))
	}
	res := &RefreshResult{
		SessionJWT:        out.SessionJWT,
		RefreshJWT:        refreshJWT,
		SessionExpiration: unixTime(out.SessionExpiration),
	}
	rotated := out.RefreshJWT
	if rotated == "" {
		rotated = cookieRefresh
	}
	if rotated != "" {
		res.Rotated = rotated != refreshJWT
		res.RefreshJWT = rotated
	}
	return res, nil
}

// Logout revokes the refresh token (POST /v1/auth/logout).
func (c *Client) Logout(ctx context.Context, refreshJWT string) error {
	return c.logout(ctx, "logout", "/v1/auth/logout", refreshJWT)
}

func (c *Client) logout(ctx context.Context, op, path, refreshJWT string) error {
	if refreshJWT == "" {
		return fmt.Errorf("descope: %s: empty refresh token", op)
	}
	return c.do(ctx, call{op: op, method: http.MethodPost, path: path, secret: refreshJWT})
}

// Me returns the refresh token's user (GET /v1/auth/me). Errors as for
// Refresh.
func (c *Client) Me(ctx context.Context, refreshJWT string) (*User, error) {
	if refreshJWT == "" {
		return nil, errors.New("descope: me: empty refresh token")
	}
	var u User
	if err := c.do(ctx, call{op: "me", method: http.MethodGet, path: "/v1/auth/me", secret: refreshJWT, out: &u}); err != nil {
		return nil, err
	}
	if u.UserID == "" {
		return nil, unavailable("me", errors.New("answer has no user id"))
	}
	return &u, nil
}

// AccessKeyLoginOptions are optional exchange parameters. Custom claims
// land under nsec in the issued token, never at top level.
type AccessKeyLoginOptions struct {
	CustomClaims   map[string]any `json:"customClaims,omitempty"`
	SelectedTenant string         `json:"selectedTenant,omitempty"`
}

// Exchange is the session token an access key was exchanged for. There is
// no refresh token: exchange again once Expiration passes.
type Exchange struct {
	KeyID      string
	SessionJWT string
	Expiration time.Time
}

// LogValue keeps the token out of logs.
func (e Exchange) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key_id", e.KeyID), slog.Time("expiration", e.Expiration))
}

func (e Exchange) String() string {
	return fmt.Sprintf("descope.Exchange{key_id:%s expiration:%s}", e.KeyID, e.Expiration.Format(time.RFC3339))
}

// ExchangeAccessKey trades an access key for a session JWT
// (POST /v1/auth/accesskey/exchange). opts may be nil. A 4xx (bad, expired
// or deactivated key) matches ErrRejected; transient failures ErrUnavailable.
func (c *Client) ExchangeAccessKey(ctx context.Context, accessKey string, opts *AccessKeyLoginOptions) (*Exchange, error) {
	if accessKey == "" {
		return nil, errors.New("descope: exchange access key: empty key")
	}
	lo := AccessKeyLoginOptions{}
	if opts != nil {
		lo = *opts
	}
	var out struct {
		KeyID      string `json:"keyId"`
		SessionJWT string `json:"sessionJwt"`
		Expiration int64  `json:"expiration"`
	}
	err := c.do(ctx, call{
		op: "exchange_access_key", method: http.MethodPost, path: "/v1/auth/accesskey/exchange",
		secret: accessKey, body: map[string]any{"loginOptions": lo}, out: &out,
	})
	if err != nil {
		return nil, err
	}
	if out.SessionJWT == "" {
		return nil, unavailable("exchange_access_key", errors.New("answer has no session token"))
	}
	return &Exchange{KeyID: out.KeyID, SessionJWT: out.SessionJWT, Expiration: unixTime(out.Expiration)}, nil
}

// fetchKeys returns the raw JWKS document (GET /v2/keys/{projectId}).
func (c *Client) fetchKeys(ctx context.Context) ([]byte, error) {
	var raw rawBody
	err := c.do(ctx, call{op: "keys", method: http.MethodGet, path: "/v2/keys/" + c.projectID, out: &raw})
	return raw, err
}

// rawBody keeps a JSON answer undecoded.
type rawBody []byte

func (r *rawBody) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
