package descopesim

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// defaultSearchLimit is Descope's page size when a search gives no limit.
const defaultSearchLimit = 100

// showLicense serves GET /v1/mgmt/license, the SDKs' rate-limit handshake.
func (s *Server) showLicense(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"rateLimitTier": "sim"})
}

// userSearch is the body of POST /v2/mgmt/user/search.
type userSearch struct {
	Limit            int      `json:"limit"`
	Page             int      `json:"page"`
	RoleNames        []string `json:"roleNames"`
	TenantIDs        []string `json:"tenantIds"`
	Statuses         []string `json:"statuses"`
	LoginIDs         []string `json:"loginIds"`
	UserIDs          []string `json:"userIds"`
	Emails           []string `json:"emails"`
	Text             string   `json:"text"`
	FromModifiedTime int64    `json:"fromModifiedTime"` // Unix milliseconds
	ToModifiedTime   int64    `json:"toModifiedTime"`   // Unix milliseconds
}

func (q *userSearch) matches(u *User) bool {
	if len(q.RoleNames) > 0 && !slices.ContainsFunc(q.RoleNames, func(r string) bool {
		return slices.Contains(u.Roles, r) || slices.ContainsFunc(u.Tenants, func(t UserTenant) bool { return slices.Contains(t.Roles, r) })
	}) {
		return false
	}
	if len(q.TenantIDs) > 0 && !slices.ContainsFunc(u.Tenants, func(t UserTenant) bool { return slices.Contains(q.TenantIDs, t.ID) }) {
		return false
	}
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, u.Status) {
		return false
	}
	if len(q.LoginIDs) > 0 && !slices.ContainsFunc(u.LoginIDs, func(l string) bool { return slices.Contains(q.LoginIDs, l) }) {
		return false
	}
	if len(q.UserIDs) > 0 && !slices.Contains(q.UserIDs, u.ID) {
		return false
	}
	if len(q.Emails) > 0 && !slices.Contains(q.Emails, u.Email) {
		return false
	}
	if q.Text != "" {
		hay := strings.ToLower(strings.Join(append([]string{u.ID, u.Email, u.Name}, u.LoginIDs...), " "))
		if !strings.Contains(hay, strings.ToLower(q.Text)) {
			return false
		}
	}
	if q.FromModifiedTime > 0 && u.modified.Before(time.UnixMilli(q.FromModifiedTime)) {
		return false
	}
	if q.ToModifiedTime > 0 && u.modified.After(time.UnixMilli(q.ToModifiedTime)) {
		return false
	}
	return true
}

// searchUsers serves POST /v2/mgmt/user/search → {users, total}. Results are
// ordered by creation time then ID, so pages are stable.
func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request) {
	var q userSearch
	if !readJSON(w, r, &q) {
		return
	}
	if q.Limit < 0 || q.Page < 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "limit and page must be non-negative")
		return
	}
	if q.Limit == 0 {
		q.Limit = defaultSearchLimit
	}
	s.mu.Lock()
	var matched []*User
	for _, u := range s.users {
		if q.matches(u) {
			matched = append(matched, u)
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		if !matched[i].created.Equal(matched[j].created) {
			return matched[i].created.Before(matched[j].created)
		}
		return matched[i].ID < matched[j].ID
	})
	page := []wireUser{}
	for i := q.Page * q.Limit; i < len(matched) && i < (q.Page+1)*q.Limit; i++ {
		page = append(page, s.toWireLocked(matched[i]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"users": page, "total": len(matched)})
}

// loadUser serves GET /v1/mgmt/user?loginId=|userId= → {user}.
func (s *Server) loadUser(w http.ResponseWriter, r *http.Request) {
	loginID, userID := r.URL.Query().Get("loginId"), r.URL.Query().Get("userId")
	s.mu.Lock()
	var u *User
	switch {
	case userID != "":
		u = s.users[userID]
	case loginID != "":
		u = s.userByLoginLocked(loginID)
	}
	var wu wireUser
	if u != nil {
		wu = s.toWireLocked(u)
	}
	s.mu.Unlock()
	if u == nil {
		writeError(w, http.StatusBadRequest, codeMgmtUserNotFound, "User not found", "no user with this login id or user id")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": wu})
}

// listRoles serves GET /v1/mgmt/role/all → {roles}. Roles named by users or
// keys but never defined are listed with no permissions.
func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	all := maps.Clone(s.roles)
	add := func(names []string) {
		for _, n := range names {
			if _, ok := all[n]; !ok {
				all[n] = Role{Name: n}
			}
		}
	}
	for _, u := range s.users {
		add(u.Roles)
		for _, t := range u.Tenants {
			add(t.Roles)
		}
	}
	for _, k := range s.accessKeys {
		add(k.opts.Roles)
		for _, t := range k.opts.KeyTenants {
			add(t.RoleNames)
		}
	}
	s.mu.Unlock()
	roles := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		ro := all[name]
		roles = append(roles, map[string]any{
			"name": ro.Name, "description": ro.Description, "permissionNames": nonNil(ro.Permissions),
			"tenantId": ro.TenantID, "createdTime": 0,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": roles})
}

// listTenants serves GET /v1/mgmt/tenant/all → {tenants}.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ids := slices.Sorted(maps.Keys(s.tenants))
	tenants := []map[string]any{}
	for _, id := range ids {
		t := s.tenants[id]
		tenants = append(tenants, map[string]any{
			"id": t.ID, "name": t.Name, "selfProvisioningDomains": []string{}, "customAttributes": map[string]any{},
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"tenants": tenants})
}

// loadKey serves GET /v1/mgmt/accesskey?id= → {key}.
func (s *Server) loadKey(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	s.mu.Lock()
	k, ok := s.accessKeys[id]
	var wk wireKey
	if ok {
		wk = s.keyToWireLocked(k)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, codeNotFound, "Access key not found", "no access key with this id")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": wk})
}

// mgmtCreateKey serves POST /v1/mgmt/accesskey/create → {key, cleartext}.
// As the SDKs document, a key bound to a user (userId) ignores roleNames and
// keyTenants: it carries the user's own authorization at every exchange.
func (s *Server) mgmtCreateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name         string         `json:"name"`
		ExpireTime   int64          `json:"expireTime"`
		RoleNames    []string       `json:"roleNames"`
		KeyTenants   []KeyTenant    `json:"keyTenants"`
		UserID       string         `json:"userId"`
		CustomClaims map[string]any `json:"customClaims"`
		Description  string         `json:"description"`
		PermittedIPs []string       `json:"permittedIps"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "name is required")
		return
	}
	opts := AccessKeyOptions{
		Name: req.Name, Description: req.Description, BoundUserID: req.UserID, Roles: req.RoleNames,
		KeyTenants: req.KeyTenants, CustomClaims: req.CustomClaims, PermittedIPs: req.PermittedIPs,
	}
	if req.UserID != "" {
		s.mu.Lock()
		_, known := s.users[req.UserID]
		s.mu.Unlock()
		if !known {
			writeError(w, http.StatusBadRequest, codeNotFound, "User not found", "no user with this id to bind the key to")
			return
		}
		opts.Roles, opts.KeyTenants = nil, nil
	}
	if req.ExpireTime > 0 {
		opts.ExpireTime = time.Unix(req.ExpireTime, 0)
	}
	k, err := s.createAccessKey(opts)
	if err != nil {
		writeSimError(w, err)
		return
	}
	s.mu.Lock()
	wk, secret := s.keyToWireLocked(k), k.opts.Secret
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"key": wk, "cleartext": secret})
}

// searchKeys serves POST /v1/mgmt/accesskey/search {tenantIds, boundUserId,
// creatingUser} → {keys}.
func (s *Server) searchKeys(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TenantIDs    []string `json:"tenantIds"`
		BoundUserID  string   `json:"boundUserId"`
		CreatingUser string   `json:"creatingUser"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	keys := []wireKey{}
	for _, id := range slices.Sorted(maps.Keys(s.accessKeys)) {
		k := s.accessKeys[id]
		if req.BoundUserID != "" && k.opts.BoundUserID != req.BoundUserID {
			continue
		}
		if len(req.TenantIDs) > 0 && !slices.ContainsFunc(k.opts.KeyTenants, func(t KeyTenant) bool { return slices.Contains(req.TenantIDs, t.TenantID) }) {
			continue
		}
		wk := s.keyToWireLocked(k)
		if req.CreatingUser != "" && wk.CreatedBy != req.CreatingUser {
			continue
		}
		keys = append(keys, wk)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// updateKey serves POST /v1/mgmt/accesskey/update {id, name, description?,
// customClaims?, permittedIps?}: fields left out are kept.
func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID           string         `json:"id"`
		Name         string         `json:"name"`
		Description  *string        `json:"description"`
		CustomClaims map[string]any `json:"customClaims"`
		PermittedIPs []string       `json:"permittedIps"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Request is invalid", "name is required")
		return
	}
	s.mu.Lock()
	k, ok := s.accessKeys[req.ID]
	var wk wireKey
	if ok {
		k.opts.Name = req.Name
		if req.Description != nil {
			k.opts.Description = *req.Description
		}
		if req.CustomClaims != nil {
			k.opts.CustomClaims = maps.Clone(req.CustomClaims)
		}
		if req.PermittedIPs != nil {
			k.opts.PermittedIPs = slices.Clone(req.PermittedIPs)
		}
		wk = s.keyToWireLocked(k)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, codeNotFound, "Access key not found", "no access key with this id")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": wk})
}

// rotateKey serves POST /v1/mgmt/accesskey/rotate {id} → {key, cleartext}.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	k, ok := s.accessKeys[req.ID]
	var wk wireKey
	var secret string
	if ok {
		secret = newKeySecret()
		k.opts.Secret = secret
		wk = s.keyToWireLocked(k)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, codeNotFound, "Access key not found", "no access key with this id")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": wk, "cleartext": secret})
}

// keyStatusHandler serves POST /v1/mgmt/accesskey/{activate,deactivate} {id}.
func (s *Server) keyStatusHandler(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID string `json:"id"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if err := s.setKeyStatus(req.ID, status); err != nil {
			writeError(w, http.StatusBadRequest, codeNotFound, "Access key not found", "no access key with this id")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}

// mgmtDeleteKey serves POST /v1/mgmt/accesskey/delete {id}.
func (s *Server) mgmtDeleteKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.DeleteAccessKey(req.ID); err != nil {
		writeError(w, http.StatusBadRequest, codeNotFound, "Access key not found", "no access key with this id")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}
