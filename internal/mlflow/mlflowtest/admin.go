// Package mlflowtest is a fake of MLflow's admin REST API (users, roles,
// grants, assignments, workspaces) in memory, with MLflow's error shapes,
// for tests of provisioning and of the whole gateway.
package mlflowtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// Admin is MLflow's admin API in memory; it is an http.Handler. Tests may
// read and change its state under Mu.
type Admin struct {
	Mu          sync.Mutex
	Users       map[string]*mlflow.User
	Roles       map[int64]*mlflow.Role
	Assigned    map[string]map[int64]bool // username → role IDs
	Workspaces  map[string]bool
	NextID      int64
	Calls       map[string]int // "METHOD path" → count
	HideWS      bool           // GET workspace says 404 even if it exists (a racing replica)
	UserCreates int
}

// New returns an empty Admin with the default workspace.
func New() *Admin {
	return &Admin{Users: map[string]*mlflow.User{}, Roles: map[int64]*mlflow.Role{}, Assigned: map[string]map[int64]bool{},
		Workspaces: map[string]bool{"default": true}, Calls: map[string]int{}}
}

func (f *Admin) TotalCalls() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := 0
	for _, c := range f.Calls {
		n += c
	}
	return n
}

func (f *Admin) AddRole(name, ws, desc string, grants ...mlflow.Grant) *mlflow.Role {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.CreateRole(name, ws, desc, grants...)
}

func (f *Admin) CreateRole(name, ws, desc string, grants ...mlflow.Grant) *mlflow.Role {
	f.NextID++
	r := &mlflow.Role{ID: f.NextID, Name: name, Workspace: ws, Description: &desc}
	for _, g := range grants {
		f.NextID++
		r.Permissions = append(r.Permissions, mlflow.RolePermission{ID: f.NextID, RoleID: r.ID, Grant: g})
	}
	f.Roles[r.ID] = r
	return r
}

// roleNames lists "workspace/name" of the roles a user holds.
func (f *Admin) RoleNames(username string) []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for id := range f.Assigned[username] {
		out = append(out, f.Roles[id].Workspace+"/"+f.Roles[id].Name)
	}
	slices.Sort(out)
	return out
}

func (f *Admin) Role(ws, name string) *mlflow.Role {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, r := range f.Roles {
		if r.Workspace == ws && r.Name == name {
			c := *r
			c.Permissions = append([]mlflow.RolePermission(nil), r.Permissions...)
			return &c
		}
	}
	return nil
}

func mlflowError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}

func (f *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	path := r.URL.Path
	key := r.Method + " " + path
	if strings.HasPrefix(path, "/api/3.0/mlflow/workspaces/") {
		key = r.Method + " /api/3.0/mlflow/workspaces/{name}"
	}
	f.Calls[key]++
	var body map[string]any
	if r.Method != http.MethodGet {
		json.NewDecoder(r.Body).Decode(&body)
	}
	q := r.URL.Query()
	str := func(k string) string { s, _ := body[k].(string); return s }
	num := func(k string) int64 {
		if v, ok := body[k].(float64); ok {
			return int64(v)
		}
		n, _ := strconv.ParseInt(q.Get(k), 10, 64)
		return n
	}
	reply := func(v any) { w.Header().Set("Content-Type", "application/json"); json.NewEncoder(w).Encode(v) }
	notFound := func(what string) { mlflowError(w, 404, mlflow.CodeResourceDoesNotExist, what+" not found") }
	switch key {
	case "GET /api/2.0/mlflow/users/get":
		u, ok := f.Users[q.Get("username")]
		if !ok {
			notFound("user")
			return
		}
		reply(map[string]any{"user": u})
	case "GET /api/2.0/mlflow/users/list":
		var us []*mlflow.User
		for _, u := range f.Users {
			us = append(us, u)
		}
		reply(map[string]any{"users": us})
	case "POST /api/2.0/mlflow/users/create":
		if _, ok := f.Users[str("username")]; ok {
			mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
			return
		}
		f.NextID++
		f.UserCreates++
		f.Users[str("username")] = &mlflow.User{ID: f.NextID, Username: str("username")}
		reply(map[string]any{})
	case "PATCH /api/2.0/mlflow/users/update-admin":
		u, ok := f.Users[str("username")]
		if !ok {
			notFound("user")
			return
		}
		u.IsAdmin, _ = body["is_admin"].(bool)
		reply(map[string]any{})
	case "GET /api/3.0/mlflow/users/roles/list":
		var out []mlflow.Role
		for id := range f.Assigned[q.Get("username")] {
			out = append(out, *f.Roles[id])
		}
		reply(map[string]any{"roles": out})
	case "POST /api/3.0/mlflow/roles/assign", "DELETE /api/3.0/mlflow/roles/unassign":
		u, id := str("username"), num("role_id")
		if f.Users[u] == nil || f.Roles[id] == nil {
			notFound("user or role")
			return
		}
		if f.Assigned[u] == nil {
			f.Assigned[u] = map[int64]bool{}
		}
		f.Assigned[u][id] = r.Method == http.MethodPost
		if r.Method != http.MethodPost {
			delete(f.Assigned[u], id)
		}
		reply(map[string]any{"assignment": map[string]any{"role_id": id}})
	case "GET /api/3.0/mlflow/roles/list":
		var out []mlflow.Role
		for _, ro := range f.Roles {
			if ws := q["workspace"]; len(ws) == 0 || contains(ws, ro.Workspace) {
				out = append(out, *ro)
			}
		}
		reply(map[string]any{"roles": out})
	case "POST /api/3.0/mlflow/roles/create":
		for _, ro := range f.Roles {
			if ro.Name == str("name") && ro.Workspace == str("workspace") {
				mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
				return
			}
		}
		reply(map[string]any{"role": f.CreateRole(str("name"), str("workspace"), str("description"))})
	case "PATCH /api/3.0/mlflow/roles/update":
		ro := f.Roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		d := str("description")
		ro.Description = &d
		reply(map[string]any{"role": ro})
	case "DELETE /api/3.0/mlflow/roles/delete":
		id := num("role_id")
		if f.Roles[id] == nil {
			notFound("role")
			return
		}
		delete(f.Roles, id)
		for _, a := range f.Assigned {
			delete(a, id)
		}
		reply(map[string]any{})
	case "GET /api/3.0/mlflow/roles/permissions/list":
		ro := f.Roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		reply(map[string]any{"role_permissions": ro.Permissions})
	case "POST /api/3.0/mlflow/roles/permissions/add":
		ro := f.Roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		f.NextID++
		p := mlflow.RolePermission{ID: f.NextID, RoleID: ro.ID, Grant: mlflow.Grant{ResourceType: str("resource_type"), ResourcePattern: str("resource_pattern"), Permission: str("permission")}}
		ro.Permissions = append(ro.Permissions, p)
		reply(map[string]any{"role_permission": p})
	case "DELETE /api/3.0/mlflow/roles/permissions/remove", "PATCH /api/3.0/mlflow/roles/permissions/update":
		id := num("role_permission_id")
		for _, ro := range f.Roles {
			for i, p := range ro.Permissions {
				if p.ID != id {
					continue
				}
				if r.Method == http.MethodPatch {
					ro.Permissions[i].Permission = str("permission")
					reply(map[string]any{"role_permission": ro.Permissions[i]})
				} else {
					ro.Permissions = append(ro.Permissions[:i], ro.Permissions[i+1:]...)
					reply(map[string]any{})
				}
				return
			}
		}
		notFound("permission")
	case "GET /api/3.0/mlflow/workspaces/{name}":
		name := strings.TrimPrefix(path, "/api/3.0/mlflow/workspaces/")
		if !f.Workspaces[name] || f.HideWS {
			notFound("workspace")
			return
		}
		reply(map[string]any{"workspace": map[string]any{"name": name}})
	case "POST /api/3.0/mlflow/workspaces":
		if f.Workspaces[str("name")] {
			mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
			return
		}
		f.Workspaces[str("name")] = true
		reply(map[string]any{"workspace": map[string]any{"name": str("name")}})
	default:
		mlflowError(w, 404, "ENDPOINT_NOT_FOUND", fmt.Sprintf("no fake for %s", key))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
