package provision_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// fakeMLflow is an httptest MLflow admin API: users, roles, grants,
// assignments and workspaces in memory, with MLflow's error shapes.
type fakeMLflow struct {
	mu          sync.Mutex
	users       map[string]*mlflow.User
	roles       map[int64]*mlflow.Role
	assigned    map[string]map[int64]bool // username → role IDs
	workspaces  map[string]bool
	nextID      int64
	calls       map[string]int // "METHOD path" → count
	hideWS      bool           // GET workspace says 404 even if it exists (a racing replica)
	userCreates int
}

func newFakeMLflow(tb testing.TB) (*fakeMLflow, *mlflow.Client) {
	tb.Helper()
	f := &fakeMLflow{users: map[string]*mlflow.User{}, roles: map[int64]*mlflow.Role{}, assigned: map[string]map[int64]bool{},
		workspaces: map[string]bool{"default": true}, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	c, err := mlflow.NewClient(srv.URL, "admin", func(string) (string, error) { return "x", nil }, srv.Client())
	if err != nil {
		tb.Fatal(err)
	}
	return f, c
}

func (f *fakeMLflow) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *fakeMLflow) addRole(name, ws, desc string, grants ...mlflow.Grant) *mlflow.Role {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.createRole(name, ws, desc, grants...)
}

func (f *fakeMLflow) createRole(name, ws, desc string, grants ...mlflow.Grant) *mlflow.Role {
	f.nextID++
	r := &mlflow.Role{ID: f.nextID, Name: name, Workspace: ws, Description: &desc}
	for _, g := range grants {
		f.nextID++
		r.Permissions = append(r.Permissions, mlflow.RolePermission{ID: f.nextID, RoleID: r.ID, Grant: g})
	}
	f.roles[r.ID] = r
	return r
}

// roleNames lists "workspace/name" of the roles a user holds.
func (f *fakeMLflow) roleNames(username string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.assigned[username] {
		out = append(out, f.roles[id].Workspace+"/"+f.roles[id].Name)
	}
	return sorted(out)
}

func (f *fakeMLflow) role(ws, name string) *mlflow.Role {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.roles {
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

func (f *fakeMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	key := r.Method + " " + path
	if strings.HasPrefix(path, "/api/3.0/mlflow/workspaces/") {
		key = r.Method + " /api/3.0/mlflow/workspaces/{name}"
	}
	f.calls[key]++
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
		u, ok := f.users[q.Get("username")]
		if !ok {
			notFound("user")
			return
		}
		reply(map[string]any{"user": u})
	case "GET /api/2.0/mlflow/users/list":
		var us []*mlflow.User
		for _, u := range f.users {
			us = append(us, u)
		}
		reply(map[string]any{"users": us})
	case "POST /api/2.0/mlflow/users/create":
		if _, ok := f.users[str("username")]; ok {
			mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
			return
		}
		f.nextID++
		f.userCreates++
		f.users[str("username")] = &mlflow.User{ID: f.nextID, Username: str("username")}
		reply(map[string]any{})
	case "PATCH /api/2.0/mlflow/users/update-admin":
		u, ok := f.users[str("username")]
		if !ok {
			notFound("user")
			return
		}
		u.IsAdmin, _ = body["is_admin"].(bool)
		reply(map[string]any{})
	case "GET /api/3.0/mlflow/users/roles/list":
		var out []mlflow.Role
		for id := range f.assigned[q.Get("username")] {
			out = append(out, *f.roles[id])
		}
		reply(map[string]any{"roles": out})
	case "POST /api/3.0/mlflow/roles/assign", "DELETE /api/3.0/mlflow/roles/unassign":
		u, id := str("username"), num("role_id")
		if f.users[u] == nil || f.roles[id] == nil {
			notFound("user or role")
			return
		}
		if f.assigned[u] == nil {
			f.assigned[u] = map[int64]bool{}
		}
		f.assigned[u][id] = r.Method == http.MethodPost
		if r.Method != http.MethodPost {
			delete(f.assigned[u], id)
		}
		reply(map[string]any{"assignment": map[string]any{"role_id": id}})
	case "GET /api/3.0/mlflow/roles/list":
		var out []mlflow.Role
		for _, ro := range f.roles {
			if ws := q["workspace"]; len(ws) == 0 || contains(ws, ro.Workspace) {
				out = append(out, *ro)
			}
		}
		reply(map[string]any{"roles": out})
	case "POST /api/3.0/mlflow/roles/create":
		for _, ro := range f.roles {
			if ro.Name == str("name") && ro.Workspace == str("workspace") {
				mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
				return
			}
		}
		reply(map[string]any{"role": f.createRole(str("name"), str("workspace"), str("description"))})
	case "PATCH /api/3.0/mlflow/roles/update":
		ro := f.roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		d := str("description")
		ro.Description = &d
		reply(map[string]any{"role": ro})
	case "DELETE /api/3.0/mlflow/roles/delete":
		id := num("role_id")
		if f.roles[id] == nil {
			notFound("role")
			return
		}
		delete(f.roles, id)
		for _, a := range f.assigned {
			delete(a, id)
		}
		reply(map[string]any{})
	case "GET /api/3.0/mlflow/roles/permissions/list":
		ro := f.roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		reply(map[string]any{"role_permissions": ro.Permissions})
	case "POST /api/3.0/mlflow/roles/permissions/add":
		ro := f.roles[num("role_id")]
		if ro == nil {
			notFound("role")
			return
		}
		f.nextID++
		p := mlflow.RolePermission{ID: f.nextID, RoleID: ro.ID, Grant: mlflow.Grant{ResourceType: str("resource_type"), ResourcePattern: str("resource_pattern"), Permission: str("permission")}}
		ro.Permissions = append(ro.Permissions, p)
		reply(map[string]any{"role_permission": p})
	case "DELETE /api/3.0/mlflow/roles/permissions/remove", "PATCH /api/3.0/mlflow/roles/permissions/update":
		id := num("role_permission_id")
		for _, ro := range f.roles {
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
		if !f.workspaces[name] || f.hideWS {
			notFound("workspace")
			return
		}
		reply(map[string]any{"workspace": map[string]any{"name": name}})
	case "POST /api/3.0/mlflow/workspaces":
		if f.workspaces[str("name")] {
			mlflowError(w, 400, mlflow.CodeResourceAlreadyExists, "exists")
			return
		}
		f.workspaces[str("name")] = true
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
