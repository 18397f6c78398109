package descopesim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// User statuses.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
	StatusInvited  = "invited"
)

// User is a Descope user as the simulator stores it. JSON tags are the
// control API's (and seed file's) field names, not Descope's wire names.
type User struct {
	// ID is the Descope user ID; generated ("U2…") when empty.
	ID string `json:"id"`
	// LoginIDs are the login IDs; the first is the primary one.
	LoginIDs []string `json:"loginIds"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	// Roles are project-level role names.
	Roles   []string     `json:"roles,omitempty"`
	Tenants []UserTenant `json:"tenants,omitempty"`
	// Status is "enabled" (default), "disabled" or "invited".
	Status           string         `json:"status,omitempty"`
	CustomAttributes map[string]any `json:"customAttributes,omitempty"`

	created  time.Time
	modified time.Time
}

// UserTenant is a user's membership of one tenant.
type UserTenant struct {
	ID    string   `json:"id"`
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

// Role is a role definition; its permissions go into the tokens of users
// who hold it.
type Role struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
	TenantID    string   `json:"tenantId,omitempty"`
}

// Tenant is a tenant definition. Tenants named by users are created
// implicitly.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func (u *User) clone() *User {
	c := *u
	c.LoginIDs = slices.Clone(u.LoginIDs)
	c.Roles = slices.Clone(u.Roles)
	c.Tenants = make([]UserTenant, len(u.Tenants))
	for i, t := range u.Tenants {
		c.Tenants[i] = UserTenant{ID: t.ID, Name: t.Name, Roles: slices.Clone(t.Roles)}
	}
	return &c
}

func (u *User) normalize() error {
	if u.Status == "" {
		u.Status = StatusEnabled
	}
	switch u.Status {
	case StatusEnabled, StatusDisabled, StatusInvited:
	default:
		return fmt.Errorf("descopesim: user status %q: %w", u.Status, ErrInvalid)
	}
	if len(u.LoginIDs) == 0 {
		switch {
		case u.Email != "":
			u.LoginIDs = []string{u.Email}
		default:
			u.LoginIDs = []string{u.ID}
		}
	}
	for _, t := range u.Tenants {
		if t.ID == "" {
			return fmt.Errorf("descopesim: user %q: tenant without id: %w", u.ID, ErrInvalid)
		}
	}
	return nil
}

// CreateUser adds a user. An empty ID is generated; read it back with
// UserByLoginID. Returns ErrConflict if the ID or a login ID is taken.
func (s *Server) CreateUser(u User) error {
	_, err := s.createUser(u)
	return err
}

func (s *Server) createUser(u User) (*User, error) {
	c := u.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		c.ID = s.nextID("U")
	}
	if err := c.normalize(); err != nil {
		return nil, err
	}
	if _, ok := s.users[c.ID]; ok {
		return nil, fmt.Errorf("descopesim: user %q: %w", c.ID, ErrConflict)
	}
	for _, l := range c.LoginIDs {
		if s.userByLoginLocked(l) != nil {
			return nil, fmt.Errorf("descopesim: login id %q: %w", l, ErrConflict)
		}
	}
	now := s.clock().Add(s.offset)
	c.created, c.modified = now, now
	s.users[c.ID] = c
	s.noteTenantsLocked(c.Tenants)
	return c.clone(), nil
}

// UpdateUser replaces the user with u.ID, keeping its creation time.
// Returns ErrNotFound if there is none.
func (s *Server) UpdateUser(u User) error {
	c := u.clone()
	if err := c.normalize(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[c.ID]
	if !ok {
		return fmt.Errorf("descopesim: user %q: %w", c.ID, ErrNotFound)
	}
	c.created = old.created
	c.modified = s.clock().Add(s.offset)
	s.users[c.ID] = c
	s.noteTenantsLocked(c.Tenants)
	return nil
}

// DeleteUser removes a user; its refresh tokens stop working. Returns
// ErrNotFound if there is none.
func (s *Server) DeleteUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return fmt.Errorf("descopesim: user %q: %w", id, ErrNotFound)
	}
	// As in Descope, the user's refresh tokens stay dead even if a user
	// with the same ID is created later.
	s.revokeAllLocked(id)
	delete(s.users, id)
	return nil
}

// SetUserStatus sets "enabled", "disabled" or "invited". A disabled user's
// refresh tokens are refused. Returns ErrNotFound or ErrInvalid.
func (s *Server) SetUserStatus(id, status string) error {
	switch status {
	case StatusEnabled, StatusDisabled, StatusInvited:
	default:
		return fmt.Errorf("descopesim: user status %q: %w", status, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("descopesim: user %q: %w", id, ErrNotFound)
	}
	u.Status = status
	u.modified = s.clock().Add(s.offset)
	return nil
}

// UserByID returns a copy of a user, or ErrNotFound.
func (s *Server) UserByID(id string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, fmt.Errorf("descopesim: user %q: %w", id, ErrNotFound)
	}
	return *u.clone(), nil
}

// UserByLoginID returns a copy of the user with that login ID, or ErrNotFound.
func (s *Server) UserByLoginID(loginID string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByLoginLocked(loginID)
	if u == nil {
		return User{}, fmt.Errorf("descopesim: login id %q: %w", loginID, ErrNotFound)
	}
	return *u.clone(), nil
}

func (s *Server) userByLoginLocked(loginID string) *User {
	for _, u := range s.users {
		for _, l := range u.LoginIDs {
			if strings.EqualFold(l, loginID) {
				return u
			}
		}
	}
	return nil
}

// CreateRole defines (or replaces) a role and its permissions.
func (s *Server) CreateRole(r Role) error {
	if r.Name == "" {
		return fmt.Errorf("descopesim: role without name: %w", ErrInvalid)
	}
	s.mu.Lock()
	s.roles[r.Name] = Role{Name: r.Name, Description: r.Description, Permissions: slices.Clone(r.Permissions), TenantID: r.TenantID}
	s.mu.Unlock()
	return nil
}

// CreateTenant defines (or renames) a tenant.
func (s *Server) CreateTenant(t Tenant) error {
	if t.ID == "" {
		return fmt.Errorf("descopesim: tenant without id: %w", ErrInvalid)
	}
	s.mu.Lock()
	s.tenants[t.ID] = t
	s.mu.Unlock()
	return nil
}

// noteTenantsLocked records tenants named by a user or key.
func (s *Server) noteTenantsLocked(ts []UserTenant) {
	for _, t := range ts {
		cur, ok := s.tenants[t.ID]
		if !ok || (cur.Name == "" && t.Name != "") {
			s.tenants[t.ID] = Tenant{ID: t.ID, Name: t.Name}
		}
	}
}

// permissionsLocked returns the sorted union of the permissions of roles.
func (s *Server) permissionsLocked(roles []string) []string {
	var out []string
	for _, r := range roles {
		for _, p := range s.roles[r].Permissions {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// wireTenant is an entry of userTenants / keyTenants on the wire.
type wireTenant struct {
	TenantID   string   `json:"tenantId"`
	TenantName string   `json:"tenantName"`
	RoleNames  []string `json:"roleNames"`
}

// wireUser is the user object of /v1/auth/me and the management API.
type wireUser struct {
	UserID           string          `json:"userId"`
	LoginIDs         []string        `json:"loginIds"`
	Email            string          `json:"email"`
	Name             string          `json:"name"`
	Phone            string          `json:"phone"`
	GivenName        string          `json:"givenName"`
	FamilyName       string          `json:"familyName"`
	VerifiedEmail    bool            `json:"verifiedEmail"`
	VerifiedPhone    bool            `json:"verifiedPhone"`
	RoleNames        []string        `json:"roleNames"`
	UserTenants      []wireTenant    `json:"userTenants"`
	Status           string          `json:"status"`
	Picture          string          `json:"picture"`
	Test             bool            `json:"test"`
	CustomAttributes map[string]any  `json:"customAttributes"`
	CreatedTime      int64           `json:"createdTime"`
	ModifiedTime     int64           `json:"modifiedTime"`
	TOTP             bool            `json:"totp"`
	SAML             bool            `json:"saml"`
	Password         bool            `json:"password"`
	WebAuthn         bool            `json:"webauthn"`
	OAuth            map[string]bool `json:"oauth"`
	SSOAppIDs        []string        `json:"ssoAppIds"`
}

// toWireLocked renders u as Descope does.
func (s *Server) toWireLocked(u *User) wireUser {
	w := wireUser{
		UserID:           u.ID,
		LoginIDs:         nonNil(u.LoginIDs),
		Email:            u.Email,
		Name:             u.Name,
		VerifiedEmail:    u.Email != "",
		RoleNames:        nonNil(u.Roles),
		UserTenants:      []wireTenant{},
		Status:           u.Status,
		CustomAttributes: u.CustomAttributes,
		CreatedTime:      u.created.Unix(),
		ModifiedTime:     u.modified.Unix(),
		OAuth:            map[string]bool{},
		SSOAppIDs:        []string{},
	}
	if w.CustomAttributes == nil {
		w.CustomAttributes = map[string]any{}
	}
	for _, t := range u.Tenants {
		name := t.Name
		if name == "" {
			name = s.tenants[t.ID].Name
		}
		w.UserTenants = append(w.UserTenants, wireTenant{TenantID: t.ID, TenantName: name, RoleNames: nonNil(t.Roles)})
	}
	return w
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return slices.Clone(ss)
}
