package selfservice

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Sign-in for machines without a browser (RFC 8628):
//
//  1. the CLI posts to /auth/device/code and gets a device code (its secret)
//     and a short user code, which it shows with the URL /auth/device;
//  2. the user opens the URL in any browser, signs in, enters the code and
//     sees which machine asked (its name and address, so a code sent by a
//     phisher shows someone else's machine) before approving;
//  3. the CLI polls /auth/device/token with the device code, no faster than
//     the interval, and gets a new key bound to the approving user.
//
// Codes live deviceCodeTTL and are redeemed once.

// startDevice issues a device code and a user code.
func (s *Service) startDevice(w http.ResponseWriter, r *http.Request) {
	if p := s.available(); p != nil {
		s.fail(w, r, p)
		return
	}
	ip := s.opts.ClientIP(r).String()
	if ok, wait := s.opts.Limits.DeviceCodesPerIP.Allow(ip); !ok {
		s.fail(w, r, tooMany(wait))
		return
	}
	var req struct {
		ClientName  string `json:"client_name"`
		ExpiresDays int    `json:"expires_days"`
	}
	if p := readJSON(r, &req); p != nil {
		s.fail(w, r, p)
		return
	}
	days := s.defaultExpiry()
	if req.ExpiresDays != 0 {
		if !s.validExpiry(req.ExpiresDays) {
			s.fail(w, r, badRequest("expires_days must be one of the lifetimes this gateway offers"))
			return
		}
		days = req.ExpiresDays
	}
	now := s.opts.Now()
	g := grant{Kind: kindDevice, ClientName: clientName(req.ClientName), ClientIP: ip, Status: statusPending,
		ExpiresDays: days, Created: now, Expires: now.Add(deviceCodeTTL), PollInterval: devicePollInterval}
	device := newSecretCode()
	var user string
	var err error
	// A user code already taken (by a live or not yet pruned grant) fails
	// the insert; another draw all but surely succeeds.
	for range 3 {
		user = newUserCode()
		if err = s.store.insert(r.Context(), hashCode(device), hashCode(user), g); err == nil {
			break
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	verify := s.opts.Origin(r) + s.opts.Prefix + "/auth/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               device,
		"user_code":                 user,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?" + url.Values{"code": {user}}.Encode(),
		"expires_in":                int(deviceCodeTTL / time.Second),
		"interval":                  int(devicePollInterval / time.Second),
	})
}

// pollDevice answers a CLI waiting for the user: pending, slow down,
// denied, expired, or the key.
func (s *Service) pollDevice(w http.ResponseWriter, r *http.Request) {
	if !s.redeemAllowed(w, r) {
		return
	}
	var req struct {
		DeviceCode string `json:"device_code"`
	}
	if p := readJSON(r, &req); p != nil {
		s.fail(w, r, p)
		return
	}
	if req.DeviceCode == "" || len(req.DeviceCode) > 128 {
		s.fail(w, r, badRequest("device_code is required"))
		return
	}
	ctx := r.Context()
	hash := hashCode(req.DeviceCode)
	g, err := s.store.get(ctx, hash)
	switch {
	case errors.Is(err, errNoGrant), err == nil && g.Kind != kindDevice:
		s.fail(w, r, invalidGrant("unknown device code; run the login again"))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	if !now.Before(g.Expires) {
		s.fail(w, r, &problem{status: http.StatusBadRequest, code: "EXPIRED_TOKEN", msg: "the code has expired; run the login again"})
		return
	}
	ok, err := s.store.poll(ctx, hash, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		interval := g.PollInterval + slowDownStep
		if interval > maxPollInterval {
			interval = maxPollInterval
		}
		s.fail(w, r, &problem{status: http.StatusTooManyRequests, code: "SLOW_DOWN",
			msg: "polling too fast; wait the interval between polls", retryAfter: interval})
		return
	}
	switch g.Status {
	case statusPending:
		s.fail(w, r, &problem{status: http.StatusBadRequest, code: "AUTHORIZATION_PENDING", msg: "waiting for the user to approve"})
		return
	case statusDenied:
		s.fail(w, r, &problem{status: http.StatusForbidden, code: "ACCESS_DENIED", msg: "the sign-in was declined in the browser"})
		return
	case statusUsed:
		s.fail(w, r, invalidGrant("the code was already used; run the login again"))
		return
	}
	claimed, err := s.store.claim(ctx, hash, kindDevice, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !claimed {
		s.fail(w, r, invalidGrant("the code was already used; run the login again"))
		return
	}
	s.deliverKey(w, r, hash, g, "device")
}

// deviceView is what the confirmation page shows of a device grant.
type deviceView struct {
	UserCode  string
	Client    string
	ClientIP  string
	Requested time.Time
	Expires   time.Time
	KeyName   string
	Days      int
}

// showDevice asks for the code, or, given one, shows the machine that asked
// and offers to approve it.
func (s *Service) showDevice(w http.ResponseWriter, r *http.Request) {
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	if p := s.available(); p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	raw := r.URL.Query().Get("code")
	if raw == "" {
		s.render(w, r, http.StatusOK, "device.html", page{Title: "Sign in a device", User: u})
		return
	}
	v, _, p := s.lookupDevice(r, u, raw)
	if p != nil {
		s.render(w, r, p.status, "device.html", page{Title: "Sign in a device", User: u, Data: map[string]string{"Error": p.msg}})
		return
	}
	s.render(w, r, http.StatusOK, "device-confirm.html", page{Title: "Approve this sign-in?", User: u, Data: v})
}

// lookupDevice finds the pending grant a user code names, charging the
// user's code-entry limit. The messages are for the page.
func (s *Service) lookupDevice(r *http.Request, u User, raw string) (deviceView, string, *problem) {
	if ok, wait := s.opts.Limits.CodeEntryPerUser.Allow(u.ID); !ok {
		p := tooMany(wait)
		p.msg = "Too many codes tried; wait a minute and try again."
		return deviceView{}, "", p
	}
	code, ok := normalizeUserCode(raw)
	if !ok {
		s.refuseDevice(r, u, event.ReasonMalformedCode, grant{})
		return deviceView{}, "", badRequest("That is not a code of the form ABCD-EFGH. Check the code your terminal shows.")
	}
	hash, g, err := s.store.byUserCode(r.Context(), hashCode(code))
	if errors.Is(err, errNoGrant) {
		s.refuseDevice(r, u, event.ReasonUnknownCode, grant{})
		return deviceView{}, "", &problem{status: http.StatusNotFound, code: "RESOURCE_DOES_NOT_EXIST",
			msg: "No sign-in is waiting for this code. Check the code your terminal shows, or start the login again."}
	}
	if err != nil {
		return deviceView{}, "", problemFor(err)
	}
	now := s.opts.Now()
	switch {
	case !now.Before(g.Expires):
		s.refuseDevice(r, u, event.ReasonExpiredCode, g)
		return deviceView{}, "", badRequest("This code has expired. Start the login again on your machine.")
	case g.Status != statusPending:
		s.refuseDevice(r, u, event.ReasonReusedCode, g)
		return deviceView{}, "", badRequest("This code was already used. Start the login again on your machine.")
	}
	return deviceView{UserCode: code, Client: g.ClientName, ClientIP: g.ClientIP, Requested: g.Created, Expires: g.Expires,
		KeyName: s.cliKeyName(g.ClientName), Days: g.ExpiresDays}, hash, nil
}

// decideDevice approves or denies the grant a user code names.
func (s *Service) decideDevice(w http.ResponseWriter, r *http.Request) {
	u, ok := s.browserUser(w, r)
	if !ok {
		return
	}
	if p := s.available(); p != nil {
		s.showProblem(w, r, u, p)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.showProblem(w, r, u, badRequest("The form could not be read."))
		return
	}
	v, hash, p := s.lookupDevice(r, u, r.PostForm.Get("user_code"))
	if p != nil {
		s.render(w, r, p.status, "device.html", page{Title: "Sign in a device", User: u, Data: map[string]string{"Error": p.msg}})
		return
	}
	status, declined, heading, msg := statusDenied, true, "Sign-in declined",
		"The machine "+v.Client+" gets no key. If you did not start this sign-in, someone may have sent you the code: tell your administrator."
	if r.PostForm.Get("decision") == "approve" {
		status, declined, heading, msg = statusApproved, false, "Sign-in approved",
			"The machine "+v.Client+" receives a new access key in a few seconds. You can close this page."
	}
	ok, err := s.store.decide(r.Context(), hash, u.ID, status, s.opts.Now())
	if err != nil {
		s.showProblem(w, r, u, err)
		return
	}
	if !ok {
		s.render(w, r, http.StatusConflict, "device.html", page{Title: "Sign in a device", User: u, Data: map[string]string{
			"Error": "This code is no longer waiting (it expired or was used meanwhile). Start the login again on your machine."}})
		return
	}
	s.record(r, event.CodeSignIn{Actor: u.actor(), Device: true, Client: v.Client, DeviceIP: v.ClientIP, Declined: declined})
	s.render(w, r, http.StatusOK, "message.html", page{Title: heading, User: u, Data: map[string]string{
		"Heading": heading, "Message": msg, "Kind": "ok"}})
}

// refuseDevice records a user code refused in the browser, naming the
// machine when the code found one.
func (s *Service) refuseDevice(r *http.Request, u User, reason event.Reason, g grant) {
	s.record(r, event.CodeSignIn{Actor: u.actor(), Device: true, Client: g.ClientName, DeviceIP: g.ClientIP, Refused: reason})
}
