"""Record MLflow admin REST responses for the Go client tests (internal/mlflow).

Run against a fresh `mlflow server --app-name descope-auth` (see docs/mlflow-plugin.md):

    MLFLOW_DESCOPE_ASSERTION_SECRET=... python record_responses.py http://127.0.0.1:PORT ADMIN [--workspaces]

Each call is saved as responses/<name>.json: {"method", "path", "request", "status", "body"}.
With --workspaces the server must run with --enable-workspaces; only workspace calls are made.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlflow_descope_auth import sign

OUT = Path(__file__).parent / "responses"


def call(base, admin, name, method, path, body=None, query=""):
    now = int(time.time())
    token = sign(os.environ["MLFLOW_DESCOPE_ASSERTION_SECRET"].encode(), admin, now, now + 60)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path + query, data=data, method=method)
    req.add_header("X-Mlflow-Descope-Assertion", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    record = {
        "method": method,
        "path": path + query,
        "request": body,
        "status": status,
        "body": parsed,
    }
    (OUT / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return parsed


def users_and_roles(base, admin):
    u2, u3 = "/api/2.0/mlflow/users", "/api/3.0/mlflow"
    call(base, admin, "user_create", "POST", u2 + "/create", {"username": "alice", "password": "alice-password-1"})
    call(base, admin, "user_create_exists", "POST", u2 + "/create", {"username": "alice", "password": "alice-password-1"})
    call(base, admin, "user_create_short_password", "POST", u2 + "/create", {"username": "bob", "password": "short"})
    call(base, admin, "user_get", "GET", u2 + "/get", query="?username=alice")
    call(base, admin, "user_get_missing", "GET", u2 + "/get", query="?username=nobody")
    call(base, admin, "user_update_admin", "PATCH", u2 + "/update-admin", {"username": "alice", "is_admin": True})
    call(base, admin, "user_update_admin_missing", "PATCH", u2 + "/update-admin", {"username": "nobody", "is_admin": True})
    role = call(base, admin, "role_create", "POST", u3 + "/roles/create", {"name": "readers", "workspace": "default", "description": "read all"})
    call(base, admin, "role_create_exists", "POST", u3 + "/roles/create", {"name": "readers", "workspace": "default"})
    rid = role["role"]["id"]
    call(base, admin, "role_get", "GET", u3 + "/roles/get", query=f"?role_id={rid}")
    call(base, admin, "role_get_missing", "GET", u3 + "/roles/get", query="?role_id=9999")
    call(base, admin, "role_update", "PATCH", u3 + "/roles/update", {"role_id": rid, "description": "read everything"})
    perm = call(base, admin, "role_permission_add", "POST", u3 + "/roles/permissions/add", {"role_id": rid, "resource_type": "experiment", "resource_pattern": "*", "permission": "READ"})
    call(base, admin, "role_permission_add_invalid", "POST", u3 + "/roles/permissions/add", {"role_id": rid, "resource_type": "experiment", "resource_pattern": "*", "permission": "BOGUS"})
    pid = perm["role_permission"]["id"]
    call(base, admin, "role_permission_update", "PATCH", u3 + "/roles/permissions/update", {"role_permission_id": pid, "permission": "EDIT"})
    call(base, admin, "role_permission_list", "GET", u3 + "/roles/permissions/list", query=f"?role_id={rid}")
    call(base, admin, "role_list", "GET", u3 + "/roles/list", query="?workspace=default")
    call(base, admin, "role_assign", "POST", u3 + "/roles/assign", {"username": "alice", "role_id": rid})
    call(base, admin, "user_roles_list", "GET", u3 + "/users/roles/list", query="?username=alice")
    call(base, admin, "role_users_list", "GET", u3 + "/roles/users/list", query=f"?role_id={rid}")
    call(base, admin, "role_unassign", "DELETE", u3 + "/roles/unassign", {"username": "alice", "role_id": rid})
    call(base, admin, "role_permission_remove", "DELETE", u3 + "/roles/permissions/remove", {"role_permission_id": pid})
    call(base, admin, "role_delete", "DELETE", u3 + "/roles/delete", {"role_id": rid})
    call(base, admin, "user_delete", "DELETE", u2 + "/delete", {"username": "alice"})
    call(base, admin, "user_delete_missing", "DELETE", u2 + "/delete", {"username": "alice"})
    call(base, admin, "users_list", "GET", u2 + "/list")


def workspaces(base, admin):
    w = "/api/3.0/mlflow/workspaces"
    call(base, admin, "workspace_create", "POST", w, {"name": "team-a", "description": "Team A"})
    call(base, admin, "workspace_create_exists", "POST", w, {"name": "team-a"})
    call(base, admin, "workspace_get", "GET", w + "/team-a")
    call(base, admin, "workspace_get_missing", "GET", w + "/team-z")
    call(base, admin, "workspace_list", "GET", w)
    call(base, admin, "workspace_update", "PATCH", w + "/team-a", {"description": "Team A (renamed)"})
    call(base, admin, "workspace_delete", "DELETE", w + "/team-a")


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    if "--workspaces" in sys.argv:
        workspaces(sys.argv[1], sys.argv[2])
    else:
        users_and_roles(sys.argv[1], sys.argv[2])
