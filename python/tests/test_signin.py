"""The sign-in client against a fake gateway that checks what a real one checks.

The whole flow against the real gateway, descope-sim and Chromium is tested in
Go (cmd/mlflow-descope-auth/e2e_selfservice_*_test.go); these tests pin the
client's own behaviour: PKCE, state, the loopback listener, polling, and where
the key is written.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlflow_descope_auth import __main__ as cli
from mlflow_descope_auth import signin
from mlflow_descope_auth.signin import Credentials, LoginError

KEY = "K2fakeSecretKeyValue0123456789"


@dataclass
class Fake:
    """State of the fake gateway."""

    url: str = ""
    challenge: str = ""
    redirect: str = ""
    token_calls: list[dict[str, Any]] = field(default_factory=list)
    token_error: tuple[int, str, str] | None = None
    device_script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    device_polls: int = 0
    device_start: dict[str, Any] = field(default_factory=dict)


@pytest.fixture()
def fake() -> Iterator[Fake]:
    f = Fake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            assert self.headers["Content-Type"] == "application/json"
            if self.path == "/mlflow/auth/cli/token":
                f.token_calls.append(body)
                if f.token_error:
                    status, code, msg = f.token_error
                    return self.reply(status, {"error_code": code, "message": msg})
                want = base64.urlsafe_b64encode(hashlib.sha256(body["code_verifier"].encode()).digest()).decode().rstrip("=")
                if body["code"] != "the-code" or want != f.challenge or body["redirect_uri"] != f.redirect:
                    return self.reply(400, {"error_code": "INVALID_GRANT", "message": "bad code or verifier"})
                return self.reply(200, key_answer())
            if self.path == "/mlflow/auth/device/code":
                f.device_start = body
                return self.reply(
                    200,
                    {
                        "device_code": "dev-code",
                        "user_code": "BCDF-GHJK",
                        "verification_uri": f.url + "/auth/device",
                        "verification_uri_complete": f.url + "/auth/device?code=BCDF-GHJK",
                        "expires_in": 600,
                        "interval": 5,
                    },
                )
            if self.path == "/mlflow/auth/device/token":
                assert body == {"device_code": "dev-code"}
                status, out, headers = f.device_script[min(f.device_polls, len(f.device_script) - 1)]
                f.device_polls += 1
                return self.reply(status, out, headers)
            self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "no"})

        def reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    f.url = f"http://127.0.0.1:{srv.server_address[1]}/mlflow"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f
    srv.shutdown()
    srv.server_close()


def key_answer() -> dict[str, Any]:
    return {
        "access_key": KEY,
        "key_id": "K2id",
        "key_name": "cli-box-20260101",
        "expires_at": "2026-01-31T00:00:00Z",
        "user_id": "U2alice",
        "username": "U2alice",
        "login_id": "alice@example.com",
    }


class Browser:
    """Plays the user's browser: checks the authorize URL, then lands on the
    loopback URI as the gateway's redirect would."""

    def __init__(self, fake: Fake, query: dict[str, str] | None = None, state: str | None = None) -> None:
        self.fake, self.query, self.state = fake, query, state
        self.pages: list[tuple[int, str]] = []
        self.opened: list[str] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        u = urllib.parse.urlsplit(url)
        assert url.startswith(self.fake.url + "/auth/cli/authorize?")
        q = dict(urllib.parse.parse_qsl(u.query))
        assert q["code_challenge_method"] == "S256"
        assert len(q["code_challenge"]) == 43
        assert q["client_name"]
        redirect = urllib.parse.urlsplit(q["redirect_uri"])
        assert redirect.scheme == "http" and redirect.hostname in ("127.0.0.1", "::1") and redirect.port
        self.fake.challenge, self.fake.redirect = q["code_challenge"], q["redirect_uri"]
        back = self.query if self.query is not None else {"code": "the-code", "state": self.state or q["state"]}
        threading.Thread(target=self.land, args=(q["redirect_uri"] + "?" + urllib.parse.urlencode(back),), daemon=True).start()
        return True

    def land(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                self.pages.append((resp.status, resp.read().decode()))
        except urllib.error.HTTPError as e:
            self.pages.append((e.code, e.read().decode()))


def wait_pages(b: Browser, n: int) -> None:
    """The browser reads its page a moment after the CLI has its answer."""
    deadline = time.monotonic() + 5
    while len(b.pages) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_loopback_login_gets_a_key(fake: Fake) -> None:
    b = Browser(fake)
    out = io.StringIO()
    creds = signin.loopback_login(fake.url + "/", open_browser=b, out=out, timeout=10, client_name="box")
    assert creds == Credentials(
        tracking_uri=fake.url,
        username="U2alice",
        access_key=KEY,
        key_id="K2id",
        key_name="cli-box-20260101",
        expires_at="2026-01-31T00:00:00Z",
        login_id="alice@example.com",
    )
    assert KEY not in repr(creds)
    wait_pages(b, 1)
    assert b.pages[0][0] == 200 and "Signed in" in b.pages[0][1]
    assert len(fake.token_calls) == 1
    assert "Opened your browser" in out.getvalue()


def test_loopback_ignores_a_foreign_state_then_takes_the_right_one(fake: Fake) -> None:
    b = Browser(fake, state="someone-elses-state")
    right: list[str] = []

    def opener(url: str) -> bool:
        right.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"])
        b(url)
        # Then the real redirect arrives.
        threading.Timer(0.3, lambda: b.land(fake.redirect + "?" + urllib.parse.urlencode({"code": "the-code", "state": right[0]}))).start()
        return True

    creds = signin.loopback_login(fake.url, open_browser=opener, out=io.StringIO(), timeout=10)
    assert creds.access_key == KEY
    wait_pages(b, 2)
    statuses = sorted(p[0] for p in b.pages)
    assert statuses == [200, 400]
    assert len(fake.token_calls) == 1  # the foreign state never reached the gateway


def test_loopback_cancelled_in_the_browser(fake: Fake) -> None:
    b = Browser(fake, query={})
    b.query = None

    def opener(url: str) -> bool:
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
        b.query = {"error": "access_denied", "state": state}
        return b(url)

    with pytest.raises(LoginError, match="cancelled"):
        signin.loopback_login(fake.url, open_browser=opener, out=io.StringIO(), timeout=10)
    assert fake.token_calls == []


def test_loopback_refusal_is_reported_in_the_browser_and_the_cli(fake: Fake) -> None:
    fake.token_error = (409, "RESOURCE_LIMIT_EXCEEDED", "You already have 10 access keys")
    b = Browser(fake)
    with pytest.raises(LoginError, match="already have 10"):
        signin.loopback_login(fake.url, open_browser=b, out=io.StringIO(), timeout=10)
    wait_pages(b, 1)
    assert b.pages[0][0] == 400 and "already have 10" in b.pages[0][1]


def test_loopback_times_out_without_a_browser(fake: Fake) -> None:
    out = io.StringIO()
    with pytest.raises(LoginError, match="no sign-in within"):
        signin.loopback_login(fake.url, open_browser=None, out=out, timeout=0.5)
    assert "Open this URL" in out.getvalue() and "/auth/cli/authorize?" in out.getvalue()


def test_device_login_polls_until_approved(fake: Fake) -> None:
    fake.device_script = [
        (400, {"error_code": "AUTHORIZATION_PENDING", "message": "wait"}, {}),
        (429, {"error_code": "SLOW_DOWN", "message": "slow"}, {"Retry-After": "10"}),
        (400, {"error_code": "AUTHORIZATION_PENDING", "message": "wait"}, {}),
        (200, key_answer(), {}),
    ]
    slept: list[float] = []
    out = io.StringIO()
    creds = signin.device_login(fake.url, out=out, sleep=slept.append, client_name="gpu-box", expires_days=7)
    assert creds.access_key == KEY and creds.tracking_uri == fake.url
    assert fake.device_start == {"client_name": "gpu-box", "expires_days": 7}
    assert slept == [5, 5, 10, 10]  # the interval grows after SLOW_DOWN, and stays
    assert "BCDF-GHJK" in out.getvalue() and fake.url + "/auth/device" in out.getvalue()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((403, {"error_code": "ACCESS_DENIED", "message": "no"}, {}), "declined"),
        ((400, {"error_code": "EXPIRED_TOKEN", "message": "the code has expired"}, {}), "expired"),
        ((400, {"error_code": "INVALID_GRANT", "message": "the code was already used"}, {}), "already used"),
    ],
)
def test_device_login_failures(fake: Fake, answer: tuple[int, dict[str, Any], dict[str, str]], message: str) -> None:
    fake.device_script = [answer]
    with pytest.raises(LoginError, match=message):
        signin.device_login(fake.url, out=io.StringIO(), sleep=lambda s: None)


def test_credentials_file_is_private_and_read_by_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    path = Path(signin.credentials_path())
    path.parent.mkdir(mode=0o700)
    path.write_text("[mlflow]\nmlflow_tracking_password = old\nmlflow_tracking_insecure_tls = true\n\n[other]\nx = 1\n")
    creds = Credentials(tracking_uri="https://m.example", username="U2alice", access_key=KEY)
    assert signin.write_credentials(creds) == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "old" not in text and "[other]" in text and "mlflow_tracking_insecure_tls = true" in text
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]  # no temporary file left

    mlflow_credentials = pytest.importorskip("mlflow.utils.credentials")
    got = mlflow_credentials.read_mlflow_creds()
    assert (got.username, got.password) == ("U2alice", KEY)


def test_credentials_directory_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "credentials"
    signin.write_credentials(Credentials(tracking_uri="x", username="u", access_key=KEY), str(path))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_export_lines_are_quoted() -> None:
    creds = Credentials(tracking_uri="https://m.example/ml flow", username="U2'x", access_key="K2$(rm -rf /)")
    lines = signin.export_lines(creds)
    assert lines == (
        "export MLFLOW_TRACKING_URI='https://m.example/ml flow'\n"
        "export MLFLOW_TRACKING_USERNAME='U2'\"'\"'x'\n"
        "export MLFLOW_TRACKING_PASSWORD='K2$(rm -rf /)'\n"
    )


def test_cli_print_writes_only_exports_to_stdout(fake: Fake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    fake.device_script = [(200, key_answer(), {})]
    monkeypatch.setattr(signin.time, "sleep", lambda s: None)
    assert cli.main(["login", fake.url, "--device", "--print"]) == 0
    captured = capsys.readouterr()
    assert captured.out == signin.export_lines(signin._credentials(fake.url, key_answer()))
    assert "BCDF-GHJK" in captured.err and KEY not in captured.err
    assert not (tmp_path / ".mlflow").exists()


def test_cli_writes_the_credentials_file(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    fake.device_script = [(200, key_answer(), {})]
    monkeypatch.setattr(signin.time, "sleep", lambda s: None)
    assert cli.main(["login", fake.url, "--device"]) == 0
    assert f"mlflow_tracking_password = {KEY}" in (tmp_path / ".mlflow" / "credentials").read_text()


def test_cli_failure_exits_non_zero(fake: Fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake.device_script = [(403, {"error_code": "ACCESS_DENIED", "message": "no"}, {})]
    monkeypatch.setattr(signin.time, "sleep", lambda s: None)
    assert cli.main(["login", fake.url, "--device"]) == 1
    assert "login failed" in capsys.readouterr().err


def test_notebook_login_sets_the_process_credentials(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for v in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(signin.sys, "platform", "linux")
    monkeypatch.setattr(signin.time, "sleep", lambda s: None)
    fake.device_script = [(200, key_answer(), {})]
    # No display: the device flow is chosen by itself.
    creds = signin.login(fake.url, out=io.StringIO())
    assert fake.device_polls == 1
    assert os.environ["MLFLOW_TRACKING_URI"] == fake.url
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "U2alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == creds.access_key == KEY
    assert not (tmp_path / ".mlflow").exists()  # only the process, unless save=True


@pytest.mark.parametrize("url", ["ftp://x", "mlflow.example.com", "https://u:p@m.example", "https://m.example/?x=1", ""])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(LoginError):
        signin.device_login(url, out=io.StringIO())


def test_browser_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in ("BROWSER", "SSH_CONNECTION", "SSH_TTY", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(signin.sys, "platform", "linux")
    assert not signin._browser_available()
    monkeypatch.setenv("BROWSER", "/bin/true %s")
    assert signin._browser_available()
    monkeypatch.delenv("BROWSER")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 1 10.0.0.2 22")
    assert not signin._browser_available()


@pytest.fixture()
def revoking() -> Iterator[dict[str, Any]]:
    """A fake gateway's /auth/cli/logout: answers with state["answer"] and
    records the Authorization header it got."""
    state: dict[str, Any] = {"answer": (200, {"revoked": {"id": "K2id", "name": "cli-box-20260101"}}), "auth": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = state["answer"] if self.path == "/mlflow/auth/cli/logout" else (404, {})
            state["auth"].append(self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/mlflow"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield state
    srv.shutdown()
    srv.server_close()


def _stored(tmp_path: Path) -> Path:
    path = tmp_path / "credentials"
    signin.write_credentials(Credentials(tracking_uri="x", username="U2alice", access_key=KEY), str(path))
    with path.open("a") as f:
        f.write("\n[other]\nkeep = me\n")
    return path


@pytest.mark.parametrize(
    ("status", "removed", "code"),
    [(200, True, 0), (401, True, 0), (503, False, 1)],
    ids=["revoked", "already-invalid", "gateway-fails"],
)
def test_cli_logout(revoking: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], status: int, removed: bool, code: int) -> None:
    """logout sends the stored key as Basic credentials; the key leaves the
    file when the gateway revoked it or no longer accepts it, and stays when
    the gateway could not answer. Other settings always stay."""
    path = _stored(tmp_path)
    if status != 200:
        revoking["answer"] = (status, {"error_code": "X", "message": "nope"})
    assert cli.main(["logout", revoking["url"], "--credentials-file", str(path)]) == code
    assert revoking["auth"] == ["Basic " + base64.b64encode(f"U2alice:{KEY}".encode()).decode()]
    text = path.read_text()
    assert (KEY not in text) == removed
    assert "keep = me" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    err = capsys.readouterr().err
    assert ("logout failed" in err) == (code != 0)
    assert KEY not in err


def test_cli_logout_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["logout", "http://127.0.0.1:1/mlflow", "--credentials-file", str(tmp_path / "none")]) == 1
    assert "no access key" in capsys.readouterr().err
