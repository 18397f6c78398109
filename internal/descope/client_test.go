package descope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testRefresh = "refresh.jwt.secret-value"
	testMgmtKey = "mgmt-key-secret-value"
	testAccess  = "access-key-secret-value"
)

// request is what the stub server saw.
type request struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   map[string]any
}

// reply is what the stub server answers.
type reply struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration
}

// apiStub is an httptest server that records one request and answers rp.
type apiStub struct {
	*httptest.Server
	mu  sync.Mutex
	got request
}

func newAPIStub(tb testing.TB, rp reply) *apiStub {
	tb.Helper()
	s := &apiStub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		got := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &got.Body); err != nil {
				got.Body = map[string]any{"undecodable": string(data)}
			}
		}
		s.mu.Lock()
		s.got = got
		s.mu.Unlock()
		if rp.delay > 0 {
			select {
			case <-time.After(rp.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		status := rp.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rp.body)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *apiStub) request() request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func newTestClient(tb testing.TB, base string, edit func(*Options)) *Client {
	tb.Helper()
	o := Options{BaseURL: base, ProjectID: testProject, ManagementKey: testMgmtKey, Now: fixedNow}
	if edit != nil {
		edit(&o)
	}
	c, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestClientEndpoints(t *testing.T) {
	t.Parallel()
	const userJSON = `{"userId":"U1","loginIds":["ada@example.com"],"email":"ada@example.com","name":"Ada",
		"roleNames":["admin"],"userTenants":[{"tenantId":"T1","tenantName":"Acme","roleNames":["editor"]}],"status":"enabled"}`
	wantUser := &User{UserID: "U1", LoginIDs: []string{"ada@example.com"}, Email: "ada@example.com", Name: "Ada",
		RoleNames: []string{"admin"}, UserTenants: []UserTenant{{TenantID: "T1", TenantName: "Acme", RoleNames: []string{"editor"}}},
		Status: "enabled"}
	authRefresh := "Bearer " + testProject + ":" + testRefresh
	authMgmt := "Bearer " + testProject + ":" + testMgmtKey
	empty := map[string]any{}

	tests := []struct {
		name  string
		reply reply
		call  func(context.Context, *Client) (any, error)
		want  any
		req   request
	}{
		{
			name: "refresh rotated in body",
			reply: reply{body: `{"sessionJwt":"s2","refreshJwt":"r2","sessionExpiration":1777640400,"cookieMaxAge":2419200,
				"cookieExpiration":1780000000,"cookiePath":"/","cookieDomain":"example.com","user":` + userJSON + `,"firstSeen":false}`},
			call: func(ctx context.Context, c *Client) (any, error) { return c.Refresh(ctx, testRefresh) },
			want: &RefreshResult{SessionJWT: "s2", RefreshJWT: "r2", Rotated: true,
				SessionExpiration: time.Unix(1777640400, 0).UTC()},
			req: request{Method: "POST", Path: "/v1/auth/refresh", Auth: authRefresh, ContentType: "application/json", Body: empty},
		},
		{
			name:  "refresh not rotated",
			reply: reply{body: `{"sessionJwt":"s2","firstSeen":true}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.Refresh(ctx, testRefresh) },
			want:  &RefreshResult{SessionJWT: "s2", RefreshJWT: testRefresh},
			req:   request{Method: "POST", Path: "/v1/auth/refresh", Auth: authRefresh, ContentType: "application/json", Body: empty},
		},
		{
			name:  "refresh rotated in cookie",
			reply: reply{body: `{"sessionJwt":"s2"}`, header: map[string]string{"Set-Cookie": "DSR=r3; Path=/; HttpOnly"}},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.Refresh(ctx, testRefresh) },
			want:  &RefreshResult{SessionJWT: "s2", RefreshJWT: "r3", Rotated: true},
			req:   request{Method: "POST", Path: "/v1/auth/refresh", Auth: authRefresh, ContentType: "application/json", Body: empty},
		},
		{
			name:  "logout",
			reply: reply{body: `{"sessionJwt":"","refreshJwt":""}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return nil, c.Logout(ctx, testRefresh) },
			req:   request{Method: "POST", Path: "/v1/auth/logout", Auth: authRefresh, ContentType: "application/json", Body: empty},
		},
		{
			name:  "me",
			reply: reply{body: userJSON},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.Me(ctx, testRefresh) },
			want:  wantUser,
			req:   request{Method: "GET", Path: "/v1/auth/me", Auth: authRefresh},
		},
		{
			name:  "exchange access key",
			reply: reply{body: `{"keyId":"K1","sessionJwt":"s4","expiration":1777640400}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.ExchangeAccessKey(ctx, testAccess, nil) },
			want:  &Exchange{KeyID: "K1", SessionJWT: "s4", Expiration: time.Unix(1777640400, 0).UTC()},
			req: request{Method: "POST", Path: "/v1/auth/accesskey/exchange", Auth: "Bearer " + testProject + ":" + testAccess,
				ContentType: "application/json", Body: map[string]any{"loginOptions": empty}},
		},
		{
			name:  "exchange access key with options",
			reply: reply{body: `{"keyId":"K1","sessionJwt":"s4","expiration":1777640400}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ExchangeAccessKey(ctx, testAccess, &AccessKeyLoginOptions{SelectedTenant: "T1", CustomClaims: map[string]any{"job": "ci"}})
			},
			want: &Exchange{KeyID: "K1", SessionJWT: "s4", Expiration: time.Unix(1777640400, 0).UTC()},
			req: request{Method: "POST", Path: "/v1/auth/accesskey/exchange", Auth: "Bearer " + testProject + ":" + testAccess,
				ContentType: "application/json", Body: map[string]any{"loginOptions": map[string]any{
					"selectedTenant": "T1", "customClaims": map[string]any{"job": "ci"}}}},
		},
		{
			name: "access key",
			reply: reply{body: `{"key":{"id":"K1","name":"ci","roleNames":["runner"],"keyTenants":[{"tenantId":"T1","roleNames":["x"]}],
				"status":"active","createdTime":1700000000,"expireTime":0,"boundUserId":"U1","permittedIps":["10.0.0.0/8"]}}`},
			call: func(ctx context.Context, c *Client) (any, error) { return c.AccessKey(ctx, "K1") },
			want: &AccessKey{ID: "K1", Name: "ci", RoleNames: []string{"runner"},
				KeyTenants: []KeyTenant{{TenantID: "T1", RoleNames: []string{"x"}}}, Status: "active",
				CreatedTime: time.Unix(1700000000, 0).UTC(), BoundUserID: "U1", PermittedIPs: []string{"10.0.0.0/8"}},
			req: request{Method: "GET", Path: "/v1/mgmt/accesskey", Query: "id=K1", Auth: authMgmt},
		},
		{
			name:  "search users",
			reply: reply{body: `{"users":[` + userJSON + `],"total":1}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SearchUsers(ctx, UserSearch{Page: 2, RoleNames: []string{"admin"}, TenantIDs: []string{"T1"},
					Statuses: []string{"enabled"}, FromModifiedTime: testNow})
			},
			want: &UserPage{Users: []User{*wantUser}, Total: 1},
			req: request{Method: "POST", Path: "/v2/mgmt/user/search", Auth: authMgmt, ContentType: "application/json",
				Body: map[string]any{"limit": 100.0, "page": 2.0, "roleNames": []any{"admin"}, "tenantIds": []any{"T1"},
					"statuses": []any{"enabled"}, "fromModifiedTime": float64(testNow.UnixMilli())}},
		},
		{
			name:  "user by login id",
			reply: reply{body: `{"user":` + userJSON + `}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.UserByLoginID(ctx, "ada@example.com") },
			want:  wantUser,
			req:   request{Method: "GET", Path: "/v1/mgmt/user", Query: "loginId=ada%40example.com", Auth: authMgmt},
		},
		{
			name:  "user by id",
			reply: reply{body: `{"user":` + userJSON + `}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.UserByID(ctx, "U1") },
			want:  wantUser,
			req:   request{Method: "GET", Path: "/v1/mgmt/user", Query: "userId=U1", Auth: authMgmt},
		},
		{
			name:  "roles",
			reply: reply{body: `{"roles":[{"name":"admin","description":"all","permissionNames":["p"]},{"name":"t","tenantId":"T1"}]}`},
			call:  func(ctx context.Context, c *Client) (any, error) { return c.Roles(ctx) },
			want:  []Role{{Name: "admin", Description: "all", PermissionNames: []string{"p"}}, {Name: "t", TenantID: "T1"}},
			req:   request{Method: "GET", Path: "/v1/mgmt/role/all", Auth: authMgmt},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAPIStub(t, tt.reply)
			c := newTestClient(t, srv.URL, nil)
			got, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.req, srv.request()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	big := `{"sessionJwt":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	tests := []struct {
		name       string
		reply      reply
		closed     bool // server closed before the call
		wantErr    error
		wantRetry  time.Duration
		wantCode   string
		wantReason string
	}{
		{name: "401", reply: reply{status: 401, body: `{"errorCode":"E061005","errorDescription":"Invalid token","errorMessage":"expired"}`},
			wantErr: ErrRejected, wantCode: "E061005", wantReason: "rejected"},
		{name: "400 not json", reply: reply{status: 400, body: `bad`}, wantErr: ErrRejected, wantReason: "rejected"},
		{name: "403", reply: reply{status: 403}, wantErr: ErrRejected, wantReason: "rejected"},
		{name: "429 retry-after", reply: reply{status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"errorCode":"E130429","errorDescription":"Too many requests"}`},
			wantErr: ErrUnavailable, wantRetry: 7 * time.Second, wantCode: "E130429", wantReason: "rate_limited"},
		{name: "503 retry-after", reply: reply{status: 503, header: map[string]string{"Retry-After": "3"}},
			wantErr: ErrUnavailable, wantRetry: 3 * time.Second, wantReason: "unavailable"},
		{name: "500", reply: reply{status: 500}, wantErr: ErrUnavailable, wantReason: "unavailable"},
		{name: "302", reply: reply{status: 302, header: map[string]string{"Location": "https://elsewhere.example/"}},
			wantErr: ErrUnavailable, wantReason: "unavailable"},
		{name: "200 not json", reply: reply{body: `<html>`}, wantErr: ErrUnavailable, wantReason: "unavailable"},
		{name: "200 too large", reply: reply{body: big}, wantErr: ErrUnavailable, wantReason: "unavailable"},
		{name: "200 without session", reply: reply{body: `{}`}, wantErr: ErrUnavailable, wantReason: "unavailable"},
		{name: "timeout", reply: reply{delay: 2 * time.Second, body: `{}`}, wantErr: context.DeadlineExceeded, wantReason: "unavailable"},
		{name: "connection refused", closed: true, wantErr: ErrUnavailable, wantReason: "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAPIStub(t, tt.reply)
			var logs bytes.Buffer
			c := newTestClient(t, srv.URL, func(o *Options) {
				o.Timeout = 100 * time.Millisecond
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			if tt.closed {
				srv.Close()
			}
			calls := map[string]func() error{
				"refresh": func() error { _, err := c.Refresh(t.Context(), testRefresh); return err },
				"me":      func() error { _, err := c.Me(t.Context(), testRefresh); return err },
				"user":    func() error { _, err := c.UserByLoginID(t.Context(), "ada@example.com"); return err },
			}
			for name, call := range calls {
				err := call()
				if name != "refresh" && tt.name == "200 without session" {
					continue // only refresh requires a session token
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s: got %v; want %v", name, err, tt.wantErr)
				}
				if tt.wantErr == ErrRejected && errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: rejected error also matches ErrUnavailable", name)
				}
				if tt.wantErr != ErrRejected && !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: got %v; want it to match ErrUnavailable", name, err)
				}
				if got := RetryAfter(err); got != tt.wantRetry {
					t.Errorf("%s: RetryAfter got %v; want %v", name, got, tt.wantRetry)
				}
				var ae *APIError
				if errors.As(err, &ae) && ae.Code != tt.wantCode {
					t.Errorf("%s: Code got %q; want %q", name, ae.Code, tt.wantCode)
				}
				if got := Reason(err); got != tt.wantReason {
					t.Errorf("%s: Reason got %q; want %q", name, got, tt.wantReason)
				}
				for _, secret := range []string{testRefresh, testMgmtKey, "ada@example.com"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: error %q contains a secret", name, err)
					}
				}
			}
			for _, secret := range []string{testRefresh, testMgmtKey} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("logs contain a secret: %s", logs.String())
				}
			}
		})
	}
}

func TestClientArguments(t *testing.T) {
	t.Parallel()
	srv := newAPIStub(t, reply{body: `{}`})
	noKey := newTestClient(t, srv.URL, func(o *Options) { o.ManagementKey = "" })
	ctx := t.Context()
	if _, err := noKey.Roles(ctx); !errors.Is(err, ErrNoManagementKey) {
		t.Errorf("Roles without management key: got %v; want ErrNoManagementKey", err)
	}
	if _, err := noKey.SearchUsers(ctx, UserSearch{}); !errors.Is(err, ErrNoManagementKey) {
		t.Errorf("SearchUsers without management key: got %v; want ErrNoManagementKey", err)
	}
	c := newTestClient(t, srv.URL, nil)
	for name, err := range map[string]error{
		"refresh":    func() error { _, err := c.Refresh(ctx, ""); return err }(),
		"logout":     c.Logout(ctx, ""),
		"me":         func() error { _, err := c.Me(ctx, ""); return err }(),
		"exchange":   func() error { _, err := c.ExchangeAccessKey(ctx, "", nil); return err }(),
		"access key": func() error { _, err := c.AccessKey(ctx, ""); return err }(),
		"user":       func() error { _, err := c.UserByID(ctx, ""); return err }(),
		"search":     func() error { _, err := c.SearchUsers(ctx, UserSearch{Page: -1}); return err }(),
	} {
		if err == nil {
			t.Errorf("%s with empty argument: got nil error", name)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{ProjectID: testProject}, true},
		{"loopback override", Options{ProjectID: testProject, BaseURL: "http://127.0.0.1:9999/"}, true},
		{"no project", Options{}, false},
		{"project with colon", Options{ProjectID: "P2:x"}, false},
		{"project with slash", Options{ProjectID: "P2/../x"}, false},
		{"relative base", Options{ProjectID: testProject, BaseURL: "api.descope.com"}, false},
		{"ftp base", Options{ProjectID: testProject, BaseURL: "ftp://x"}, false},
		{"base with query", Options{ProjectID: testProject, BaseURL: "https://x/?a=b"}, false},
		{"base with credentials", Options{ProjectID: testProject, BaseURL: "https://u:p@x/"}, false},
		{"management key with newline", Options{ProjectID: testProject, ManagementKey: "a\nb"}, false},
	} {
		_, err := New(tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("New(%s): got err %v; want ok=%t", tt.name, err, tt.ok)
		}
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	region := "Puse1" + strings.Repeat("x", 27) // 32 characters
	for _, tt := range []struct{ project, override, want string }{
		{"P2short", "", "https://api.descope.com"},
		{region, "", "https://api.use1.descope.com"},
		{region[:31], "", "https://api.descope.com"},
		{region, "https://auth.example.com/", "https://auth.example.com"},
		{"P2short", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
	} {
		if got := BaseURL(tt.project, tt.override); got != tt.want {
			t.Errorf("BaseURL(%q, %q): got %q; want %q", tt.project, tt.override, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"12", 12 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"99999999", 24 * time.Hour},
		{testNow.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{testNow.Add(-30 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tt.in, testNow); got != tt.want {
			t.Errorf("parseRetryAfter(%q): got %v; want %v", tt.in, got, tt.want)
		}
	}
}
