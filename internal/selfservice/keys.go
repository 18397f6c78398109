package selfservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// descriptionPrefix marks the keys made here (Descope has no other field
// for it that works without setup in the console).
const descriptionPrefix = "mlflow-descope-auth self-service"

// Key is an access key as the pages show it.
type Key struct {
	ID           string
	Name         string
	Owner        string // the user the key is bound to ("" for a standalone key)
	Status       string // active, inactive or expired
	Created      time.Time
	Expires      time.Time // zero: never
	LastUsed     time.Time // zero: not known
	PermittedIPs []string
	// SelfService: made on these pages or by a sign-in from code.
	SelfService bool
}

func keyView(k *descope.AccessKey, now time.Time) Key {
	v := Key{ID: k.ID, Name: k.Name, Owner: k.BoundUserID, Status: k.Status, Created: k.CreatedTime,
		Expires: k.ExpireTime, PermittedIPs: k.PermittedIPs, SelfService: strings.HasPrefix(k.Description, descriptionPrefix)}
	if v.Status == "active" && !k.Active(now) {
		v.Status = "expired"
	}
	return v
}

// userKeys lists the keys bound to userID, newest first. The filter is
// applied here again: a search that ignored it must not show one user
// another's keys.
func (s *Service) userKeys(ctx context.Context, userID string) ([]Key, error) {
	all, err := s.opts.Descope.SearchAccessKeys(ctx, descope.AccessKeySearch{BoundUserID: userID})
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	var out []Key
	for i := range all {
		if all[i].BoundUserID == userID {
			out = append(out, keyView(&all[i], now))
		}
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(keys []Key) {
	slices.SortStableFunc(keys, func(a, b Key) int { return b.Created.Compare(a.Created) })
}

// AllKeys lists every access key of the project, for the admin page.
func (s *Service) AllKeys(ctx context.Context) ([]Key, error) {
	if p := s.manageable(); p != nil {
		return nil, p
	}
	all, err := s.opts.Descope.SearchAccessKeys(ctx, descope.AccessKeySearch{})
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	out := make([]Key, 0, len(all))
	for i := range all {
		out = append(out, keyView(&all[i], now))
	}
	sortKeys(out)
	return out, nil
}

// Unavailable says why keys cannot be listed or revoked ("" when they can),
// for the admin page. Turning self-service off does not take this from
// admins.
func (s *Service) Unavailable() string {
	if p := s.manageable(); p != nil {
		return p.msg
	}
	return ""
}

// errTooManyKeys: the user holds MaxKeysPerUser unexpired keys already.
var errTooManyKeys = errors.New("selfservice: too many keys")

// newKey is a key to make for a user.
type newKey struct {
	user    User
	name    string
	days    int
	ips     []string
	channel string // page, cli or device
	client  string // the machine, for a sign-in from code
}

// makeKey creates a Descope access key bound to the user. It loads the user
// first: a user disabled or deleted in Descope gets no key. It returns the
// key and the user's login ID.
func (s *Service) makeKey(ctx context.Context, r *http.Request, k newKey) (*descope.CreatedAccessKey, string, error) {
	created, err := s.makeKeyOnce(ctx, r, &k)
	return created, k.user.LoginID, err
}

func (s *Service) makeKeyOnce(ctx context.Context, r *http.Request, k *newKey) (*descope.CreatedAccessKey, error) {
	if p := s.available(); p != nil {
		return nil, p
	}
	if ok, wait := s.opts.Limits.CreatePerUser.Allow(k.user.ID); !ok {
		return nil, tooMany(wait)
	}
	u, err := s.opts.Descope.UserByID(ctx, k.user.ID)
	if err != nil {
		if errors.Is(err, descope.ErrRejected) {
			return nil, &problem{status: http.StatusForbidden, code: "PERMISSION_DENIED", msg: "your Descope user no longer exists", err: err}
		}
		return nil, err
	}
	if u.Status != "" && u.Status != "enabled" {
		return nil, &problem{status: http.StatusForbidden, code: "PERMISSION_DENIED", msg: "your Descope user is " + u.Status}
	}
	if k.user.LoginID == "" && len(u.LoginIDs) > 0 {
		k.user.LoginID = u.LoginIDs[0]
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	unlock, err := s.store.lockUser(ctx, k.user.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	have, err := s.userKeys(ctx, k.user.ID)
	if err != nil {
		return nil, err
	}
	live := 0
	for _, h := range have {
		if h.Status != "expired" {
			live++
		}
	}
	if live >= s.opts.MaxKeysPerUser {
		return nil, &problem{status: http.StatusConflict, code: "RESOURCE_LIMIT_EXCEEDED", err: errTooManyKeys,
			msg: fmt.Sprintf("You already have %d access keys, the most allowed here. Revoke one at %s/auth/keys first.", live, s.opts.Prefix)}
	}
	login := k.user.LoginID
	if login == "" {
		login = k.user.ID
	}
	desc := descriptionPrefix + " (" + k.channel + ") for " + login
	if k.client != "" {
		desc += " on " + k.client
	}
	expires := s.opts.Now().Add(time.Duration(k.days) * 24 * time.Hour)
	// No roles or tenants of its own: bound to the user, the key carries
	// the user's authorization as it is at each exchange, so a role taken
	// from the user is taken from the key too.
	created, err := s.opts.Descope.CreateAccessKey(ctx, descope.NewAccessKey{
		Name: k.name, Description: desc, UserID: k.user.ID, ExpireTime: expires, PermittedIPs: k.ips,
	})
	if err != nil {
		return nil, err
	}
	s.record(r, event.KeyCreated{Actor: k.user.actor(), KeyID: created.Key.ID, KeyName: k.name, Channel: k.channel,
		Expires: expires, Client: k.client, PermittedIPs: k.ips})
	return created, nil
}

// revoke deletes a key at Descope and makes every replica forget it: this
// one at once, the others within revocationInterval. owner is the user who
// must own the key, or "" for an admin.
func (s *Service) revoke(ctx context.Context, r *http.Request, by User, keyID, owner string) (*descope.AccessKey, error) {
	p := s.manageable()
	if owner != "" {
		p = s.available()
	}
	if p != nil {
		return nil, p
	}
	notFound := &problem{status: http.StatusNotFound, code: "RESOURCE_DOES_NOT_EXIST", msg: "There is no such access key."}
	if keyID == "" || len(keyID) > 128 {
		return nil, notFound
	}
	k, err := s.opts.Descope.AccessKey(ctx, keyID)
	if errors.Is(err, descope.ErrRejected) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if owner != "" && k.BoundUserID != owner {
		// Someone else's key looks exactly like no key at all.
		s.record(r, event.KeyRevoked{Actor: by.actor(), KeyID: keyID, Refused: event.ReasonNotOwner})
		return nil, notFound
	}
	if err := s.opts.Descope.DeleteAccessKey(ctx, keyID); err != nil && !errors.Is(err, descope.ErrRejected) {
		return nil, err
	}
	if s.opts.Evict != nil {
		s.opts.Evict(keyID)
	}
	if err := s.store.revokeKey(ctx, keyID, s.opts.Now()); err != nil {
		// Refused here already; the other replicas stop it when their
		// cached record expires (5 minutes).
		s.log.Warn("revocation not shared with other replicas", "err", err, "key_id", keyID)
	}
	s.record(r, event.KeyRevoked{Actor: by.actor(), KeyID: keyID, KeyName: k.Name, OwnerID: k.BoundUserID, ByAdmin: owner == ""})
	return k, nil
}

// AdminRevoke deletes any key, for the admin page; by is the admin.
func (s *Service) AdminRevoke(r *http.Request, by User, keyID string) error {
	_, err := s.revoke(r.Context(), r, by, keyID, "")
	return err
}

// keysData is what keys.html shows.
type keysData struct {
	Unavailable string
	Origin      string // the gateway's URL, for the sign-in command
	Keys        []Key
	Choices     []int
	Default     int
	Max         int
	Revoked     bool
	Error       string
	Form        struct{ Name, IPs string }
}

// showKeys lists the user's keys and offers to make one.
func (s *Service) showKeys(w http.ResponseWriter, r *http.Request) {
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	d := keysData{Choices: s.expiryChoices(), Default: s.defaultExpiry(), Max: s.opts.MaxKeysPerUser}
	d.Revoked = r.URL.Query().Get("revoked") == "1"
	s.showKeysPage(w, r, u, http.StatusOK, d)
}

func (s *Service) showKeysPage(w http.ResponseWriter, r *http.Request, u User, status int, d keysData) {
	d.Origin = s.opts.Origin(r) + s.opts.Prefix
	if p := s.available(); p != nil {
		d.Unavailable = p.msg
		s.render(w, r, status, "keys.html", page{Title: "My access keys", User: u, Data: d})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	keys, err := s.userKeys(ctx, u.ID)
	if err != nil {
		s.showProblem(w, r, u, err)
		return
	}
	if s.opts.LastUsed != nil {
		// A convenience: bounded as a whole, so a slow audit log delays the
		// page by a few seconds at most ("not known" then).
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		for i := range keys {
			if t, ok := s.opts.LastUsed(lctx, keys[i].ID, keys[i].Created); ok {
				keys[i].LastUsed = t
			}
		}
		lcancel()
	}
	d.Keys = keys
	s.render(w, r, status, "keys.html", page{Title: "My access keys", User: u, Data: d})
}

// createKey makes a key from the page's form and shows its secret once.
func (s *Service) createKey(w http.ResponseWriter, r *http.Request) {
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	d := keysData{Choices: s.expiryChoices(), Default: s.defaultExpiry(), Max: s.opts.MaxKeysPerUser}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.showProblem(w, r, u, badRequest("The form could not be read."))
		return
	}
	d.Form.Name, d.Form.IPs = r.PostForm.Get("name"), r.PostForm.Get("permitted_ips")
	name, ok := keyName(d.Form.Name)
	if !ok {
		d.Error = "Give the key a name of 1 to 64 letters, digits, spaces or . _ - @ : ( ) ' /."
		s.showKeysPage(w, r, u, http.StatusBadRequest, d)
		return
	}
	days, err := strconv.Atoi(r.PostForm.Get("expires_days"))
	if err != nil || !s.validExpiry(days) {
		d.Error = "Choose one of the offered expiry times."
		s.showKeysPage(w, r, u, http.StatusBadRequest, d)
		return
	}
	ips, err := permittedIPs(d.Form.IPs)
	if err != nil {
		d.Error = "Permitted IPs: " + err.Error() + "."
		s.showKeysPage(w, r, u, http.StatusBadRequest, d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	created, _, err := s.makeKey(ctx, r, newKey{user: u, name: name, days: days, ips: ips, channel: "page"})
	if err != nil {
		var p *problem
		if errors.As(err, &p) && p.status < 500 {
			d.Error = p.msg
			s.showKeysPage(w, r, u, p.status, d)
			return
		}
		s.showProblem(w, r, u, err)
		return
	}
	s.render(w, r, http.StatusOK, "created.html", page{Title: "Access key created", User: u, Data: map[string]any{
		"Key": keyView(created.Key, s.opts.Now()), "Secret": created.Cleartext.Reveal(), "Origin": s.opts.Origin(r),
	}})
}

// revokeKey deletes one of the user's own keys.
func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) {
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if _, err := s.revoke(ctx, r, u, r.PathValue("id"), u.ID); err != nil {
		s.showProblem(w, r, u, err)
		return
	}
	// The page says so without naming the key: a link with ?revoked= is
	// easy to make, and must not put words on the page.
	http.Redirect(w, r, s.opts.Prefix+"/auth/keys?revoked=1", http.StatusSeeOther)
}

// cliLogout revokes the access key that authenticates the request, for
// `python -m mlflow_descope_auth logout`: a machine given up leaves no live
// key behind. A key may revoke only itself, which takes nothing from anyone
// else; other keys are revoked from a browser session on /auth/keys.
func (s *Service) cliLogout(w http.ResponseWriter, r *http.Request) {
	u, ok := s.opts.CurrentUser(r)
	if !ok {
		s.fail(w, r, &problem{status: http.StatusUnauthorized, code: "UNAUTHENTICATED",
			msg: "send the access key to revoke as the password (Basic) or as a bearer token"})
		return
	}
	if u.KeyID == "" {
		s.fail(w, r, badRequest("this revokes the access key the request is authenticated with; "+
			"a session revokes keys on "+s.opts.Prefix+"/auth/keys"))
		return
	}
	// A JSON body, as the CLI sends: an HTML form cannot send one across
	// sites, so a page cannot make a browser that holds the key as Basic
	// credentials revoke it.
	var body struct{}
	if p := readJSON(r, &body); p != nil {
		s.fail(w, r, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	k, err := s.revoke(ctx, r, u, u.KeyID, u.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": map[string]string{"id": k.ID, "name": k.Name}})
}
