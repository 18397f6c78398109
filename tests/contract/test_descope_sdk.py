"""Contract test: the official Descope Python SDK against descope-sim.

The SDK is the reference client. When it and the simulator disagree, the
simulator is wrong. Run from the repository root:

    python -m pytest tests/contract -q

Needs the `descope` package (2.16.1, which brings httpx) and pytest. The
simulator binary is DESCOPE_SIM_BIN when set; otherwise it is built with
`go build ./cmd/descope-sim` into a temporary directory. Each simulator
listens on 127.0.0.1 with a port it picks and prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

descope = pytest.importorskip("descope")
from descope import AuthException, DescopeClient, RateLimitException  # noqa: E402
from descope.management.common import AssociatedTenant  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PROJECT_ID = "P2SimProject000000000000000A"  # 28 chars: under the 32-char region rule
LONG_PROJECT_ID = "P2use1SimProject00000000000000000B"  # >= 32 chars: region rule applies
MGMT_KEY = "contract-management-key"


@pytest.fixture(scope="session")
def sim_bin(tmp_path_factory) -> str:
    given = os.environ.get("DESCOPE_SIM_BIN")
    if given:
        return given
    go = shutil.which("go")
    if go is None:
        pytest.skip("go toolchain not found and DESCOPE_SIM_BIN not set")
    out = tmp_path_factory.mktemp("bin") / "descope-sim"
    subprocess.run([go, "build", "-o", str(out), "./cmd/descope-sim"], cwd=REPO, check=True)
    return str(out)


class Sim:
    """A running descope-sim process and a client for its /sim/ control API."""

    def __init__(self, binary: str, project_id: str):
        self.project_id = project_id
        self.proc = subprocess.Popen(
            [binary, "--addr", "127.0.0.1:0", "--project-id", project_id, "--management-key", MGMT_KEY],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"descope-sim did not print its URL, got {line!r}")
        self.url = line
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def post(self, path: str, body: dict | None = None, expect: int = 200) -> dict:
        resp = self.http.post(path, json=body or {})
        assert resp.status_code == expect, resp.text
        return resp.json() if resp.content else {}

    def put(self, path: str, body: dict) -> None:
        resp = self.http.put(path, json=body)
        assert resp.status_code < 300, resp.text

    def delete(self, path: str) -> None:
        resp = self.http.delete(path)
        assert resp.status_code < 300, resp.text

    def counts(self) -> dict:
        return self.http.get("/sim/counts").json()["counts"]

    def mint(self, user_id: str, **kw) -> dict:
        return self.post("/sim/tokens", {"userId": user_id, **kw})

    def client(self, **kw) -> DescopeClient:
        return DescopeClient(project_id=self.project_id, management_key=MGMT_KEY, base_url=self.url, **kw)


@pytest.fixture(scope="session")
def sim(sim_bin):
    s = Sim(sim_bin, PROJECT_ID)
    s.post("/sim/roles", {"name": "admin", "permissions": ["experiments.manage"]}, expect=201)
    s.post("/sim/tenants", {"id": "T2team", "name": "Team"}, expect=201)
    s.post(
        "/sim/users",
        {
            "id": "U2alice",
            "email": "alice@example.com",
            "name": "Alice",
            "roles": ["admin"],
            "tenants": [{"id": "T2team", "roles": ["editor"]}, {"id": "T2other"}],
        },
        expect=201,
    )
    for i in range(5):
        s.post("/sim/users", {"id": f"U2page{i}", "email": f"page{i}@example.com", "roles": ["pager"]}, expect=201)
    yield s
    s.close()


@pytest.fixture()
def client(sim) -> DescopeClient:
    return sim.client()


def new_user(sim: Sim, user_id: str, **kw) -> str:
    sim.post("/sim/users", {"id": user_id, "email": f"{user_id.lower()}@example.com", **kw}, expect=201)
    return user_id


def test_validate_session_accepts_minted_tokens_for_both_algorithms(sim, client):
    for alg in ("ES384", "RS256"):
        tokens = sim.mint("U2alice", alg=alg, tenant="T2team")
        info = client.validate_session(tokens["sessionJwt"])
        assert info["userId"] == "U2alice"
        assert info["projectId"] == PROJECT_ID  # the SDK takes iss.rsplit("/")[-1]
        assert info["roles"] == ["admin"]
        assert info["permissions"] == ["experiments.manage"]
        assert info["tenants"]["T2team"] == {"roles": ["editor"]}
        assert info["tenants"]["T2other"] == {}
        claims = info["sessionToken"]
        assert claims["drn"] == "DS"
        assert claims["dct"] == "T2team"
        assert claims["amr"] == ["email"]
        assert claims["iss"] == f"{sim.url}/{PROJECT_ID}"
        assert client.validate_tenant_roles(info, "T2team", ["editor"])


def test_sdk_does_not_check_drn(sim, client):
    tokens = sim.mint("U2alice")
    claims = client.validate_session(tokens["refreshJwt"])["sessionToken"]
    # The SDK does not check drn; the gateway must.
    assert claims["drn"] == "DSR"


def test_expired_session_is_refreshed(sim, client):
    tokens = sim.mint("U2alice", sessionTtlSeconds=-120)
    with pytest.raises(AuthException) as exc:
        client.validate_session(tokens["sessionJwt"])
    assert exc.value.status_code == 401
    info = client.validate_and_refresh_session(tokens["sessionJwt"], tokens["refreshJwt"])
    assert info["sessionToken"]["jwt"] != tokens["sessionJwt"]
    assert info["refreshSessionToken"]["jwt"] == tokens["refreshJwt"]  # no rotation by default
    assert info["user"]["userId"] == "U2alice"
    assert info["firstSeen"] is False
    assert info["cookieData"]["path"] == "/"


def test_refresh_rotation_revokes_the_old_refresh_token(sim, client):
    user = new_user(sim, "U2rotate")
    tokens = sim.mint(user)
    sim.put("/sim/refresh-rotation", {"enabled": True})
    try:
        info = client.refresh_session(tokens["refreshJwt"])
    finally:
        sim.put("/sim/refresh-rotation", {"enabled": False})
    rotated = info["refreshSessionToken"]["jwt"]
    assert rotated != tokens["refreshJwt"]
    with pytest.raises(AuthException) as exc:
        client.refresh_session(tokens["refreshJwt"])
    assert exc.value.status_code == 401
    assert client.refresh_session(rotated)["userId"] == user


def test_disabled_user_cannot_refresh(sim, client):
    user = new_user(sim, "U2disabled")
    tokens = sim.mint(user)
    sim.post(f"/sim/users/{user}/status", {"status": "disabled"}, expect=204)
    with pytest.raises(AuthException) as exc:
        client.refresh_session(tokens["refreshJwt"])
    assert exc.value.status_code == 401
    body = exc.value.error_message
    assert "errorCode" in body and "errorDescription" in body and "errorMessage" in body


def test_me_select_tenant_and_logout(sim, client):
    user = new_user(sim, "U2me", name="Me", tenants=[{"id": "T2a", "name": "A"}, {"id": "T2b", "roles": ["viewer"]}])
    tokens = sim.mint(user)
    me = client.me(tokens["refreshJwt"])
    assert me["userId"] == user
    assert me["loginIds"] == ["u2me@example.com"]
    assert me["email"] == "u2me@example.com"
    assert me["name"] == "Me"
    assert me["status"] == "enabled"
    assert {t["tenantId"] for t in me["userTenants"]} == {"T2a", "T2b"}

    selected = client.select_tenant("T2b", tokens["refreshJwt"])
    assert selected["sessionToken"]["dct"] == "T2b"

    client.logout(tokens["refreshJwt"])
    with pytest.raises(AuthException) as exc:
        client.refresh_session(tokens["refreshJwt"])
    assert exc.value.status_code == 401


def test_logout_all_revokes_every_session(sim, client):
    user = new_user(sim, "U2logoutall")
    first, second = sim.mint(user), sim.mint(user)
    client.logout_all(first["refreshJwt"])
    with pytest.raises(AuthException):
        client.me(second["refreshJwt"])


def test_access_key_created_and_exchanged_through_the_sdk(sim, client):
    created = client.mgmt.access_key.create(
        name="ci-runner",
        key_tenants=[AssociatedTenant("T2team", ["editor"])],
        custom_claims={"mlflow": "ci"},
        description="nightly",
    )
    key_id = created["key"]["id"]
    assert created["key"]["status"] == "active"
    assert created["key"]["boundUserId"] == ""
    assert created["key"]["description"] == "nightly"

    info = client.exchange_access_key(created["cleartext"])
    assert info["keyId"] == key_id
    claims = info["sessionToken"]
    assert claims["sub"] == key_id
    assert claims["mlflow"] == "ci"
    assert claims["tenants"] == {"T2team": {"roles": ["editor"]}}
    assert claims["exp"] - claims["iat"] == 600
    assert "refreshSessionToken" not in info

    loaded = client.mgmt.access_key.load(key_id)["key"]
    assert loaded["keyTenants"][0]["tenantId"] == "T2team"
    assert loaded["expireTime"] == 0
    assert key_id in [k["id"] for k in client.mgmt.access_key.search_all_access_keys()["keys"]]

    client.mgmt.access_key.deactivate(key_id)
    with pytest.raises(AuthException) as exc:
        client.exchange_access_key(created["cleartext"])
    assert exc.value.status_code == 401
    client.mgmt.access_key.activate(key_id)
    client.exchange_access_key(created["cleartext"])
    client.mgmt.access_key.delete(key_id)
    with pytest.raises(AuthException):
        client.exchange_access_key(created["cleartext"])


def test_access_key_bound_to_a_user_carries_the_users_authorization(sim, client):
    # The SDK documents that with user_id the key's own roles and tenants are
    # ignored: the key is bound to the user's authorization. The self-service
    # keys (/auth/keys, the CLI) are made this way.
    expire = int(time.time()) + 86400
    created = client.mgmt.access_key.create(
        name="cli-laptop-20260101",
        expire_time=expire,
        role_names=["should-be-ignored"],
        user_id="U2alice",
        description="self-service",
        permitted_ips=["10.0.0.0/8"],
    )
    key = created["key"]
    assert key["boundUserId"] == "U2alice"
    assert key["expireTime"] == expire
    assert key["permittedIps"] == ["10.0.0.0/8"]
    claims = client.exchange_access_key(created["cleartext"])["sessionToken"]
    assert claims["roles"] == ["admin"]
    assert claims["tenants"] == {"T2team": {"roles": ["editor"]}, "T2other": {}}

    mine = client.mgmt.access_key.search_all_access_keys(bound_user_id="U2alice")["keys"]
    assert [k["id"] for k in mine] == [key["id"]]
    assert key["id"] not in [k["id"] for k in client.mgmt.access_key.search_all_access_keys(bound_user_id="U2page0")["keys"]]

    client.mgmt.access_key.update(key["id"], "renamed")
    loaded = client.mgmt.access_key.load(key["id"])["key"]
    assert loaded["name"] == "renamed"
    assert loaded["description"] == "self-service"  # not given: kept
    assert loaded["permittedIps"] == ["10.0.0.0/8"]

    rotated = client.mgmt.access_key.rotate(key["id"])
    assert rotated["key"]["id"] == key["id"]
    assert rotated["cleartext"] != created["cleartext"]
    with pytest.raises(AuthException):
        client.exchange_access_key(created["cleartext"])
    assert client.exchange_access_key(rotated["cleartext"])["keyId"] == key["id"]
    client.mgmt.access_key.delete(key["id"])

    with pytest.raises(AuthException) as exc:
        client.mgmt.access_key.create(name="orphan", user_id="U2nobody")
    assert exc.value.status_code == 400


def test_management_user_load_and_search(sim, client):
    assert client.mgmt.user.load("alice@example.com")["user"]["userId"] == "U2alice"
    assert client.mgmt.user.load_by_user_id("U2alice")["user"]["email"] == "alice@example.com"
    with pytest.raises(AuthException):
        client.mgmt.user.load("nobody@example.com")

    seen, page = [], 0
    while True:
        res = client.mgmt.user.search_all(role_names=["pager"], limit=2, page=page)
        assert res["total"] == 5
        seen += [u["userId"] for u in res["users"]]
        if len(res["users"]) < 2:
            break
        page += 1
    assert seen == [f"U2page{i}" for i in range(5)]

    tenant_users = client.mgmt.user.search_all(tenant_ids=["T2team"], statuses=["enabled"])
    assert [u["userId"] for u in tenant_users["users"]] == ["U2alice"]
    future_ms = int(time.time() * 1000) + 3_600_000
    assert client.mgmt.user.search_all(from_modified_time=future_ms)["users"] == []

    roles = {r["name"]: r for r in client.mgmt.role.load_all()["roles"]}
    assert roles["admin"]["permissionNames"] == ["experiments.manage"]
    assert "editor" in roles
    tenants = {t["id"]: t for t in client.mgmt.tenant.load_all()["tenants"]}
    assert tenants["T2team"]["name"] == "Team"


def test_wrong_management_key_is_refused(sim):
    bad = DescopeClient(project_id=PROJECT_ID, management_key="wrong", base_url=sim.url)
    with pytest.raises(AuthException) as exc:
        bad.mgmt.user.load("alice@example.com")
    assert exc.value.status_code == 401


def test_injected_429_reaches_the_sdk_with_retry_after(sim, client):
    tokens = sim.mint("U2alice")
    sim.post("/sim/faults", {"pathPrefix": "/v1/auth/refresh", "status": 429, "retryAfter": 7, "times": 1}, expect=204)
    with pytest.raises(RateLimitException) as exc:
        client.refresh_session(tokens["refreshJwt"])
    assert exc.value.error_type == "API rate limit exceeded"
    assert exc.value.status_code == "E130429"
    assert exc.value.rate_limit_parameters["Retry-After"] == 7
    client.refresh_session(tokens["refreshJwt"])  # the fault was used up


def test_injected_503_is_retried_by_the_sdk(sim, client):
    tokens = sim.mint("U2alice")
    sim.delete("/sim/counts")
    sim.post("/sim/faults", {"pathPrefix": "/v1/auth/refresh", "status": 503, "times": 1}, expect=204)
    client.refresh_session(tokens["refreshJwt"])
    assert sim.counts()["/v1/auth/refresh"] == 2


def test_rotated_keys_reject_old_tokens(sim_bin):
    s = Sim(sim_bin, PROJECT_ID)
    try:
        s.post("/sim/users", {"id": "U2k", "email": "k@example.com"}, expect=201)
        c = s.client()
        old = s.mint("U2k")
        c.validate_session(old["sessionJwt"])
        s.post("/sim/keys/rotate")
        # The SDK caches keys with no TTL: until it refetches, the old kid
        # still verifies. A new kid makes it refetch the whole set, which
        # drops the old key.
        c.validate_session(old["sessionJwt"])
        c.validate_session(s.mint("U2k")["sessionJwt"])
        assert s.counts()[f"/v2/keys/{PROJECT_ID}"] == 2
        with pytest.raises(AuthException):
            c.validate_session(old["sessionJwt"])
        with pytest.raises(AuthException):
            s.client().validate_session(old["sessionJwt"])
    finally:
        s.close()


def test_base_uri_env_overrides_region_rule(sim_bin, monkeypatch):
    s = Sim(sim_bin, LONG_PROJECT_ID)
    try:
        monkeypatch.setenv("DESCOPE_BASE_URI", s.url)
        c = DescopeClient(project_id=LONG_PROJECT_ID)
        s.post("/sim/users", {"id": "U2long", "email": "long@example.com"}, expect=201)
        info = c.validate_session(s.mint("U2long")["sessionJwt"])
        assert info["projectId"] == LONG_PROJECT_ID
        assert s.counts()[f"/v2/keys/{LONG_PROJECT_ID}"] == 1
    finally:
        s.close()


def test_unknown_project_jwks_is_an_error(sim):
    resp = sim.http.get("/v2/keys/P2NoSuchProject0000000000000")
    assert resp.status_code == 400
    assert set(resp.json()) == {"errorCode", "errorDescription", "errorMessage"}


def _delivery(sim: Sim, mode: str) -> None:
    sim.put("/sim/token-delivery", {"mode": mode})


def test_refresh_token_in_cookie_is_read_by_the_sdk(sim, client):
    """Refresh-cookie mode: /v1/auth/refresh answers the (rotated) refresh
    token only in Set-Cookie DSR; the SDK takes it from there."""
    user = new_user(sim, "U2refreshcookie")
    tokens = sim.mint(user)
    _delivery(sim, "refresh-cookie")
    sim.put("/sim/refresh-rotation", {"enabled": True})
    try:
        info = client.refresh_session(tokens["refreshJwt"])
    finally:
        sim.put("/sim/refresh-rotation", {"enabled": False})
        _delivery(sim, "body")
    assert info["sessionToken"]["sub"] == user
    rotated = info["refreshSessionToken"]["jwt"]
    assert rotated != tokens["refreshJwt"]
    assert client.refresh_session(rotated)["userId"] == user


def test_both_tokens_in_cookies(sim, client):
    """Cookie mode for both tokens: the body carries no token. The Python SDK
    reads only DSR from Set-Cookie (so its answer has no session token); the
    DS cookie holds a session token it validates. The gateway, like the Go
    SDK, reads both cookies."""
    user = new_user(sim, "U2bothcookies")
    tokens = sim.mint(user)
    _delivery(sim, "cookies")
    try:
        info = client.refresh_session(tokens["refreshJwt"])
        raw = httpx.post(
            f"{sim.url}/v1/auth/refresh",
            headers={"Authorization": f"Bearer {PROJECT_ID}:{tokens['refreshJwt']}"},
            json={},
        )
    finally:
        _delivery(sim, "body")
    assert "sessionToken" not in info
    assert info["refreshSessionToken"]["jwt"] == tokens["refreshJwt"]
    assert raw.status_code == 200 and not raw.json().get("sessionJwt")
    session = raw.cookies.get("DS")
    assert session and client.validate_session(session)["sub"] == user


def test_management_user_not_found_code(sim, client):
    """A missing user is E112102 in the management API (go-sdk
    ErrManagementUserNotFound), which user sync treats as deleted."""
    with pytest.raises(AuthException) as exc:
        client.mgmt.user.load_by_user_id("U2nobody")
    assert exc.value.status_code == 400
    assert "E112102" in str(exc.value.error_message)


def test_bound_access_key_token_may_name_the_user(sim, client):
    """A Descope project may issue a bound key's JWT with the user's ID as
    sub; the SDK accepts it. The SDK derives its "keyId" from sub, so only
    the exchange answer's own keyId still names the key: the gateway takes
    the key ID from there."""
    user = new_user(sim, "U2keyowner")
    key = sim.post("/sim/access-keys", {"name": "bound", "boundUserId": user}, expect=201)
    sim.put("/sim/access-key-subject", {"subject": "user"})
    try:
        info = client.exchange_access_key(key["secret"])
        raw = httpx.post(
            f"{sim.url}/v1/auth/accesskey/exchange",
            headers={"Authorization": f"Bearer {PROJECT_ID}:{key['secret']}"},
            json={"loginOptions": {}},
        ).json()
    finally:
        sim.put("/sim/access-key-subject", {"subject": "key"})
    assert info["sessionToken"]["sub"] == user
    assert info["keyId"] == user
    assert raw["keyId"] == key["keyId"]
