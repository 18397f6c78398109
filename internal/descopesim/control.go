package descopesim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"
)

// This file is the /sim/ test-control API: JSON mirrors of the Server
// methods, for tests in other languages, browsers and `make demo`. It has no
// authentication; the simulator only listens on loopback.

// keyRequest is an access key in the control API and seed files.
type keyRequest struct {
	AccessKeyOptions
	// ExpireTime is Unix seconds; 0 means never.
	ExpireTime int64 `json:"expireTime,omitempty"`
	// TTLSeconds is the lifetime of exchanged JWTs.
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
}

func (k keyRequest) options() AccessKeyOptions {
	o := k.AccessKeyOptions
	if k.ExpireTime > 0 {
		o.ExpireTime = time.Unix(k.ExpireTime, 0)
	}
	o.TTL = time.Duration(k.TTLSeconds) * time.Second
	return o
}

// seedFile is the content of a seed file: what the simulator starts with.
type seedFile struct {
	Roles      []Role       `json:"roles"`
	Tenants    []Tenant     `json:"tenants"`
	Users      []User       `json:"users"`
	AccessKeys []keyRequest `json:"accessKeys"`
}

// LoadSeed reads a JSON seed ({"roles","tenants","users","accessKeys"}) and
// creates everything in it.
func (s *Server) LoadSeed(r io.Reader) error {
	var seed seedFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return fmt.Errorf("descopesim: seed: %w", err)
	}
	for _, ro := range seed.Roles {
		if err := s.CreateRole(ro); err != nil {
			return fmt.Errorf("descopesim: seed: %w", err)
		}
	}
	for _, t := range seed.Tenants {
		if err := s.CreateTenant(t); err != nil {
			return fmt.Errorf("descopesim: seed: %w", err)
		}
	}
	for _, u := range seed.Users {
		if err := s.CreateUser(u); err != nil {
			return fmt.Errorf("descopesim: seed: %w", err)
		}
	}
	for _, k := range seed.AccessKeys {
		if _, err := s.createAccessKey(k.options()); err != nil {
			return fmt.Errorf("descopesim: seed: %w", err)
		}
	}
	return nil
}

func (s *Server) showHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "projectId": s.projectID, "url": s.url, "issuer": s.Issuer()})
}

func (s *Server) simListUsers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	users := []User{}
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		users = append(users, *s.users[id].clone())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

func (s *Server) simCreateUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if !readJSON(w, r, &u) {
		return
	}
	created, err := s.createUser(u)
	if err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": created})
}

func (s *Server) simUpdateUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if !readJSON(w, r, &u) {
		return
	}
	u.ID = r.PathValue("id")
	if err := s.UpdateUser(u); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

func (s *Server) simDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteUser(r.PathValue("id")); err != nil {
		writeSimError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simSetStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status string `json:"status"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.SetUserStatus(r.PathValue("id"), req.Status); err != nil {
		writeSimError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simCreateRole(w http.ResponseWriter, r *http.Request) {
	var ro Role
	if !readJSON(w, r, &ro) {
		return
	}
	if err := s.CreateRole(ro); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"role": ro})
}

func (s *Server) simCreateTenant(w http.ResponseWriter, r *http.Request) {
	var t Tenant
	if !readJSON(w, r, &t) {
		return
	}
	if err := s.CreateTenant(t); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"tenant": t})
}

// simMint serves POST /sim/tokens.
func (s *Server) simMint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserID            string         `json:"userId"`
		LoginID           string         `json:"loginId"`
		ExtraClaims       map[string]any `json:"extraClaims"`
		SessionTTLSeconds int64          `json:"sessionTtlSeconds"`
		RefreshTTLSeconds int64          `json:"refreshTtlSeconds"`
		Tenant            string         `json:"tenant"`
		Alg               string         `json:"alg"`
		AMR               []string       `json:"amr"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.UserID == "" && req.LoginID != "" {
		u, err := s.UserByLoginID(req.LoginID)
		if err != nil {
			writeSimError(w, err)
			return
		}
		req.UserID = u.ID
	}
	sess, ref, err := s.MintSession(req.UserID, MintOptions{
		ExtraClaims: req.ExtraClaims,
		SessionTTL:  time.Duration(req.SessionTTLSeconds) * time.Second,
		RefreshTTL:  time.Duration(req.RefreshTTLSeconds) * time.Second,
		Tenant:      req.Tenant,
		Alg:         req.Alg,
		AMR:         req.AMR,
	})
	if err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"userId": req.UserID, "sessionJwt": sess, "refreshJwt": ref})
}

// simSignRaw serves POST /sim/tokens/raw: {"alg","header","payload"} with
// header and payload as JSON text, signed byte for byte (see SignRaw).
func (s *Server) simSignRaw(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Alg     string `json:"alg"`
		Header  string `json:"header"`
		Payload string `json:"payload"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Payload == "" {
		writeSimError(w, fmt.Errorf("descopesim: payload is required: %w", ErrInvalid))
		return
	}
	tok, err := s.SignRaw(req.Alg, req.Header, req.Payload)
	if err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jwt": tok})
}

func (s *Server) simCreateKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !readJSON(w, r, &req) {
		return
	}
	id, secret, err := s.CreateAccessKey(req.options())
	if err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"keyId": id, "secret": secret})
}

func (s *Server) simKeyStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.setKeyStatus(r.PathValue("id"), status); err != nil {
			writeSimError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) simDeleteKey(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteAccessKey(r.PathValue("id")); err != nil {
		writeSimError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simRotateKeys(w http.ResponseWriter, r *http.Request) {
	if err := s.RotateKeys(); err != nil {
		writeSimError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kids": s.KeyIDs()})
}

// simInjectFault serves POST /sim/faults; delayMs is the delay.
func (s *Server) simInjectFault(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fault
		DelayMs int64 `json:"delayMs"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	req.Fault.Delay = time.Duration(req.DelayMs) * time.Millisecond
	if err := s.InjectFault(req.Fault); err != nil {
		writeSimError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simSetRotation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Enabled bool `json:"enabled"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.SetRefreshRotation(req.Enabled)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simShowCounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"counts": s.Counts()})
}

func (s *Server) simResetCounts(w http.ResponseWriter, r *http.Request) {
	s.ResetCounts()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) simAdvance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Seconds int64 `json:"seconds"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.Advance(time.Duration(req.Seconds) * time.Second)
	writeJSON(w, http.StatusOK, map[string]any{"now": s.now().Unix()})
}
