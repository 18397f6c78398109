from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from flask import Flask, Response
from werkzeug.datastructures import Authorization

from mlflow_descope_auth import auth
from mlflow_descope_auth.assertion import HEADER, sign

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_767_225_600
app = Flask(__name__)


def call(fn, headers: dict[str, str] | list[tuple[str, str]]) -> Authorization | Response:
    with app.test_request_context("/api/2.0/mlflow/experiments/search", headers=headers):
        return fn()


def fn_at(now: int, secret: bytes | None = SECRET):
    return auth.make_authorization_function(secret, now=lambda: float(now))


@pytest.mark.parametrize(
    ("name", "headers", "want_user", "want_message"),
    [
        ("valid", {HEADER: sign(SECRET, "alice", NOW, NOW + 60)}, "alice", None),
        ("header_case_insensitive", {HEADER.lower(): sign(SECRET, "bob", NOW, NOW + 60)}, "bob", None),
        ("missing", {}, None, "missing X-Mlflow-Descope-Assertion header"),
        ("expired", {HEADER: sign(SECRET, "alice", NOW - 120, NOW - 60)}, None, "identity assertion expired"),
        ("bad_signature", {HEADER: sign(b"y" * 32, "alice", NOW, NOW + 60)}, None, "invalid identity assertion"),
        ("malformed", {HEADER: "Basic YWRtaW46YWRtaW4="}, None, "invalid identity assertion"),
        (
            "two_headers",
            [(HEADER, sign(SECRET, "alice", NOW, NOW + 60)), (HEADER, sign(SECRET, "bob", NOW, NOW + 60))],
            None,
            "identity assertion",  # WSGI joins repeated headers with ", ": malformed
        ),
        ("basic_auth_ignored", {"Authorization": "Basic YWRtaW46cGFzc3dvcmQxMjM0"}, None, "missing"),
    ],
)
def test_authorization_function(name, headers, want_user, want_message) -> None:
    got = call(fn_at(NOW), headers)
    if want_user is not None:
        assert isinstance(got, Authorization)
        assert got.username == want_user
        return
    assert isinstance(got, Response)
    assert got.status_code == 401
    assert "WWW-Authenticate" not in got.headers
    assert got.mimetype == "application/json"
    body = json.loads(got.get_data())
    assert body["error_code"] == "UNAUTHENTICATED"
    assert want_message in body["message"]


def test_misconfigured_fails_closed() -> None:
    got = call(fn_at(NOW, secret=None), {HEADER: sign(SECRET, "alice", NOW, NOW + 60)})
    assert isinstance(got, Response) and got.status_code == 401


def test_short_secret_refused() -> None:
    with pytest.raises(auth.ConfigError):
        auth.make_authorization_function(b"short")


def test_verified_assertion_reused_within_request() -> None:
    clock = {"now": NOW}
    fn = auth.make_authorization_function(SECRET, now=lambda: float(clock["now"]))
    token = sign(SECRET, "alice", NOW, NOW + 60)
    with app.test_request_context("/", headers={HEADER: token}):
        first = fn()
        clock["now"] = NOW + 3600  # expired by the time an after-request handler asks again
        second = fn()
    assert isinstance(first, Authorization) and second is first
    with app.test_request_context("/", headers={HEADER: token}):
        assert isinstance(fn(), Response)  # a new request re-verifies


def test_cheap() -> None:
    fn = fn_at(NOW)
    token = sign(SECRET, "alice", NOW, NOW + 60)
    start = time.perf_counter()
    for _ in range(2000):
        with app.test_request_context("/", headers={HEADER: token}):
            fn()
    assert (time.perf_counter() - start) / 2000 < 0.002


@pytest.mark.parametrize(
    ("name", "env", "file_content", "want"),
    [
        ("env", {auth.SECRET_ENV: SECRET.decode()}, None, SECRET),
        ("file_trailing_newline", {}, SECRET + b"\n", SECRET),
        ("missing", {}, None, auth.ConfigError),
        ("too_short", {auth.SECRET_ENV: "x" * 31}, None, auth.ConfigError),
        ("file_too_short", {}, b"x" * 31, auth.ConfigError),
        ("both", {auth.SECRET_ENV: SECRET.decode()}, SECRET, auth.ConfigError),
    ],
)
def test_load_secret(tmp_path: Path, name, env, file_content, want) -> None:
    env = dict(env)
    if file_content is not None:
        path = tmp_path / "secret"
        path.write_bytes(file_content)
        env[auth.SECRET_FILE_ENV] = str(path)
    if isinstance(want, bytes):
        assert auth.load_secret(env) == want
    else:
        with pytest.raises(want):
            auth.load_secret(env)


def test_load_secret_missing_file(tmp_path: Path) -> None:
    with pytest.raises(auth.ConfigError, match="cannot read"):
        auth.load_secret({auth.SECRET_FILE_ENV: str(tmp_path / "nope")})


def test_module_function_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.SECRET_ENV, SECRET.decode())
    monkeypatch.delenv(auth.SECRET_FILE_ENV, raising=False)
    auth._process_authorization_function.cache_clear()
    try:
        now = int(time.time())
        got = call(auth.authenticate, {HEADER: sign(SECRET, "carol", now, now + 60)})
        assert isinstance(got, Authorization) and got.username == "carol"
        monkeypatch.delenv(auth.SECRET_ENV)
        auth._process_authorization_function.cache_clear()
        got = call(auth.authenticate, {HEADER: sign(SECRET, "carol", now, now + 60)})
        assert isinstance(got, Response) and got.status_code == 401
    finally:
        auth._process_authorization_function.cache_clear()
