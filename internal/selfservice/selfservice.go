// Package selfservice lets people get machine access on their own: a page
// where a signed-in user creates, lists and revokes personal Descope access
// keys (/auth/keys), and sign-in from code through the browser they are
// already signed in to: the loopback redirect of RFC 8252 with PKCE for a
// local CLI or notebook (/auth/cli/…), and the device-code flow of RFC 8628
// for headless machines (/auth/device…).
//
// Every key is a real Descope access key made with the management API and
// bound to the user, so it carries the user's own roles and tenants at each
// exchange, shows in the Descope console, and is served by the gateway's
// ordinary access-key path.
//
// The gateway mounts Handler under its prefix and hands over who the
// request is (Options.CurrentUser) after authenticating it. The mount point
// enforces the gateway's cross-site rule on cookie-authenticated writes;
// this package does not repeat it. Anonymous requests reach only the
// endpoints a CLI calls, each of which carries its own one-time credential.
package selfservice

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ratelimit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Lifetimes and polling (RFC 8628 §3.2 and §3.5).
const (
	loopbackCodeTTL     = 60 * time.Second // the CLI redeems it at once
	deviceCodeTTL       = 10 * time.Minute
	devicePollInterval  = 5 * time.Second
	slowDownStep        = 5 * time.Second
	maxPollInterval     = 60 * time.Second
	revocationInterval  = 2 * time.Second // how often other replicas' revocations are read
	revocationOverlap   = 30 * time.Second
	revocationRetention = 10 * time.Minute // longer than any cache the gateway keeps of a key record
)

// User is the person a request comes from, as the gateway authenticated
// them.
type User struct {
	ID string // Descope user ID
	// Username is their MLflow username (the gateway's mapping); empty
	// means not known to the caller, and the user ID stands in.
	Username string
	LoginID  string
	Email    string
	Name     string
	// Browser: authenticated by the browser session (cookie), not by a
	// bearer token or an access key. Keys are only managed from a browser
	// session: an access key must not mint more access keys.
	Browser bool
	// KeyID is the access key that authenticated the request, if one did:
	// the only key such a request may revoke (POST /auth/cli/logout).
	KeyID string
}

// Display is how the pages name the user.
func (u User) Display() string {
	for _, s := range []string{u.Name, u.Email, u.LoginID} {
		if s != "" {
			return s
		}
	}
	return u.ID
}

// Descope is the part of Descope's management API the keys need;
// *descope.Client implements it.
type Descope interface {
	HasManagementKey() bool
	UserByID(ctx context.Context, userID string) (*descope.User, error)
	CreateAccessKey(ctx context.Context, k descope.NewAccessKey) (*descope.CreatedAccessKey, error)
	SearchAccessKeys(ctx context.Context, s descope.AccessKeySearch) ([]descope.AccessKey, error)
	AccessKey(ctx context.Context, id string) (*descope.AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
}

// Limiter allows an event for a key or says how long to wait;
// *ratelimit.Limiter implements it.
type Limiter interface {
	Allow(key string) (bool, time.Duration)
}

// Limits bound what one client or user can make this package do. Nil
// fields get DefaultLimits.
type Limits struct {
	// RedeemPerIP: code redemptions and device polls per client address.
	RedeemPerIP Limiter
	// DeviceCodesPerIP: device sign-ins started per client address.
	DeviceCodesPerIP Limiter
	// CodeEntryPerUser: device codes looked up or approved per user.
	CodeEntryPerUser Limiter
	// CreatePerUser: keys created per user (each is a Descope call).
	CreatePerUser Limiter
}

// DefaultLimits: 60 redemptions or polls per address, then 5 a second (a
// device login polls every 5 s, so 25 at once behind one NAT); 10 device
// sign-ins per address, then one every 30 s; 10 code entries per user,
// then one every 6 s; 5 keys per user, then one every 10 s. now may be nil.
func DefaultLimits(now func() time.Time) Limits {
	return Limits{
		RedeemPerIP:      ratelimit.New(60, 200*time.Millisecond, 100000, now),
		DeviceCodesPerIP: ratelimit.New(10, 30*time.Second, 100000, now),
		CodeEntryPerUser: ratelimit.New(10, 6*time.Second, 100000, now),
		CreatePerUser:    ratelimit.New(5, 10*time.Second, 100000, now),
	}
}

// Options configures a Service.
type Options struct {
	// Prefix is the gateway's static prefix ("" or "/mlflow").
	Prefix string
	// Disabled turns the feature off: the pages say so and the CLI's
	// endpoints answer 501 FEATURE_DISABLED.
	Disabled bool
	// MaxKeysPerUser bounds the unexpired keys bound to one user (default 10).
	MaxKeysPerUser int
	// MaxExpiry bounds a key's lifetime (default 90 days, at least a day).
	MaxExpiry time.Duration
	// Descope makes and deletes the keys. Without a management key the
	// pages say so.
	Descope Descope
	// DB and Dialect ("sqlite" or "postgres") hold the one-time codes and
	// the revocations, shared by every replica using the same database.
	DB      *sql.DB
	Dialect string
	// CurrentUser returns the authenticated user of a request, if any.
	CurrentUser func(r *http.Request) (User, bool)
	// UsernameOf returns the MLflow username of a Descope user, for the
	// answer of a sign-in from code (the key acts as that user); may be nil,
	// and a user without a name yet is named by their user ID.
	UsernameOf func(ctx context.Context, userID string) (string, bool)
	// ClientIP is the request's client address as the gateway determined
	// it (trusted proxies applied).
	ClientIP func(r *http.Request) netip.Addr
	// Origin is the gateway's origin as the browser sees it (for the device
	// flow's verification URL).
	Origin func(r *http.Request) string
	// RequestID is the gateway's request ID, for log lines; may be nil.
	RequestID func(r *http.Request) string
	// Evict makes this replica forget a key at once (the access-key
	// authenticator's caches); may be nil.
	Evict func(keyID string)
	// LastUsed reports when a key was last exchanged, if known (the audit
	// log); may be nil.
	LastUsed func(ctx context.Context, keyID string, since time.Time) (time.Time, bool)
	// Record takes an event for every key created or revoked and every step
	// of a sign-in from code, on the request it happened in (the gateway's
	// RecordEvent: it reaches metrics and the audit trail with the
	// request); may be nil.
	Record func(ctx context.Context, e event.Event)
	Limits Limits
	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the self-service keys feature.
type Service struct {
	opts    Options
	store   *store
	log     *slog.Logger
	pages   *template.Template
	handler http.Handler
	// createMu serializes counting and creating keys on this replica, so
	// that two quick clicks cannot both pass the per-user limit (and
	// store.lockUser across replicas on PostgreSQL).
	createMu sync.Mutex
}

// New validates opts, creates the tables it needs and returns a Service.
func New(ctx context.Context, opts Options) (*Service, error) {
	switch {
	case opts.Descope == nil:
		return nil, errors.New("selfservice: descope client is required")
	case opts.CurrentUser == nil || opts.ClientIP == nil || opts.Origin == nil:
		return nil, errors.New("selfservice: CurrentUser, ClientIP and Origin are required")
	}
	if opts.MaxKeysPerUser <= 0 {
		opts.MaxKeysPerUser = 10
	}
	if opts.MaxExpiry == 0 {
		opts.MaxExpiry = 90 * 24 * time.Hour
	}
	if opts.MaxExpiry < 24*time.Hour {
		return nil, fmt.Errorf("selfservice: max expiry %s is under a day", opts.MaxExpiry)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestID == nil {
		opts.RequestID = func(*http.Request) string { return "" }
	}
	def := DefaultLimits(opts.Now)
	for _, l := range []struct {
		dst *Limiter
		def Limiter
	}{
		{&opts.Limits.RedeemPerIP, def.RedeemPerIP},
		{&opts.Limits.DeviceCodesPerIP, def.DeviceCodesPerIP},
		{&opts.Limits.CodeEntryPerUser, def.CodeEntryPerUser},
		{&opts.Limits.CreatePerUser, def.CreatePerUser},
	} {
		if *l.dst == nil {
			*l.dst = l.def
		}
	}
	st, err := newStore(ctx, opts.DB, opts.Dialect)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("selfservice: parse templates: %w", err)
	}
	s := &Service{opts: opts, store: st, log: opts.Logger, pages: pages}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the pages and the CLI's endpoints under the prefix.
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) routes() http.Handler {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // embedded at build time
	}
	p := s.opts.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/auth/keys", s.showKeys)
	mux.HandleFunc("POST "+p+"/auth/keys", s.createKey)
	mux.HandleFunc("POST "+p+"/auth/keys/{id}/revoke", s.revokeKey)
	mux.Handle("GET "+p+"/auth/keys/static/", http.StripPrefix(p+"/auth/keys/static/", staticHeaders(http.FileServerFS(static))))
	mux.HandleFunc("GET "+p+"/auth/cli/authorize", s.showAuthorize)
	mux.HandleFunc("POST "+p+"/auth/cli/authorize", s.authorize)
	mux.HandleFunc("POST "+p+"/auth/cli/token", s.redeemLoopback)
	mux.HandleFunc("POST "+p+"/auth/cli/logout", s.cliLogout)
	mux.HandleFunc("POST "+p+"/auth/device/code", s.startDevice)
	mux.HandleFunc("POST "+p+"/auth/device/token", s.pollDevice)
	mux.HandleFunc("GET "+p+"/auth/device", s.showDevice)
	mux.HandleFunc("POST "+p+"/auth/device", s.decideDevice)
	mux.HandleFunc("/", s.notFound)
	return mux
}

// Run shares revocations between replicas: every revocationInterval it
// reads the keys other replicas revoked and evicts them here, and now and
// then deletes expired codes. It returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(revocationInterval)
	defer t.Stop()
	since := s.opts.Now()
	var lastPrune time.Time
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := s.opts.Now()
		err := s.applyRevocations(ctx, since.Add(-revocationOverlap))
		if err == nil {
			since = now
			if now.Sub(lastPrune) > time.Minute {
				err = s.store.prune(ctx, now.Add(-time.Hour), now.Add(-revocationRetention))
				lastPrune = now
			}
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.log.Warn("reading revocations failed; keys revoked on other replicas stop at their cache expiry", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("reading revocations works again")
			failing = false
		}
	}
}

func (s *Service) applyRevocations(ctx context.Context, since time.Time) error {
	ids, err := s.store.revokedSince(ctx, since)
	if err != nil {
		return err
	}
	if s.opts.Evict != nil {
		for _, id := range ids {
			s.opts.Evict(id)
		}
	}
	return nil
}

// available says why keys cannot be made right now, or nil.
func (s *Service) available() *problem {
	if s.opts.Disabled {
		return &problem{status: http.StatusNotImplemented, code: "FEATURE_DISABLED",
			msg: "Self-service access keys are turned off on this MLflow gateway (MLFLOW_DESCOPE_SELF_SERVICE_KEYS). Ask your MLflow administrator for a key."}
	}
	return s.manageable()
}

// manageable says why keys cannot be listed or deleted at all (the admin
// page needs only this), or nil.
func (s *Service) manageable() *problem {
	if !s.opts.Descope.HasManagementKey() {
		return &problem{status: http.StatusNotImplemented, code: "FEATURE_DISABLED",
			msg: "Personal access keys need a Descope management key on the MLflow gateway (DESCOPE_MANAGEMENT_KEY), and none is configured. Ask your MLflow administrator."}
	}
	return nil
}

// expiryChoices are the lifetimes offered, in days, up to MaxExpiry (which
// is offered too when it is not one of them).
func (s *Service) expiryChoices() []int {
	maxDays := int(s.opts.MaxExpiry / (24 * time.Hour))
	var out []int
	for _, d := range []int{1, 7, 30, 90, 180, 365} {
		if d <= maxDays {
			out = append(out, d)
		}
	}
	if out[len(out)-1] != maxDays && maxDays < 365 {
		out = append(out, maxDays)
	}
	return out
}

// defaultExpiry is 30 days, or the longest choice under it.
func (s *Service) defaultExpiry() int {
	best := 0
	for _, d := range s.expiryChoices() {
		if d <= 30 {
			best = d
		}
	}
	return best
}

func (s *Service) validExpiry(days int) bool {
	for _, d := range s.expiryChoices() {
		if d == days {
			return true
		}
	}
	return false
}

// record hands e to Options.Record, on r's request.
func (s *Service) record(r *http.Request, e event.Event) {
	if s.opts.Record != nil {
		s.opts.Record(r.Context(), e)
	}
}

// actor is who u is, for events.
func (u User) actor() event.Actor {
	a := event.Actor{UserID: u.ID, Username: u.Username, LoginID: u.LoginID, Email: u.Email}
	if a.Username == "" {
		a.Username = u.ID
	}
	if u.Browser {
		a.Method = event.MethodCookie
	}
	return a
}

// usernameOf is the MLflow username of Descope user userID as far as the
// gateway knows it, else the user ID.
func (s *Service) usernameOf(ctx context.Context, userID string) string {
	if s.opts.UsernameOf != nil && userID != "" {
		if name, ok := s.opts.UsernameOf(ctx, userID); ok {
			return name
		}
	}
	return userID
}
