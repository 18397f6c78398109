"""Sign in to an MLflow behind mlflow-descope-auth from code, with the browser.

``python -m mlflow_descope_auth login https://mlflow.example.com`` (or
``mlflow_descope_auth.login(url)`` in a notebook) gets a personal Descope access
key for the signed-in user without copying anything by hand:

* on a machine with a browser, the loopback redirect of RFC 8252 with PKCE
  (RFC 7636): a listener on 127.0.0.1, the browser opened at the gateway, the
  user approves, the browser comes back with a one-time code, and the code plus
  the PKCE verifier buy the key;
* on a machine without one (SSH, remote Jupyter), the device flow of RFC 8628:
  a short code to confirm in any browser, then polling for the key.

The key is written where the MLflow client already looks (``~/.mlflow/credentials``,
mode 0600), printed as ``export`` lines, or set in the running process. Standard
library only.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import html
import http.server
import json
import os
import secrets
import shlex
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TextIO

__all__ = [
    "Credentials",
    "LoginError",
    "login",
    "loopback_login",
    "device_login",
    "write_credentials",
    "logout",
    "export_lines",
    "credentials_path",
]

# How long the CLI waits for the user in the browser.
DEFAULT_TIMEOUT = 300.0
_HTTP_TIMEOUT = 30.0
_CALLBACK_PATH = "/callback"


class LoginError(Exception):
    """The sign-in did not produce a key; the message says why."""


@dataclass(frozen=True)
class Credentials:
    """A personal access key and how the MLflow client should use it."""

    tracking_uri: str
    username: str  # the MLflow username the key acts as (ignored by the gateway)
    access_key: str = field(repr=False)
    key_id: str = ""
    key_name: str = ""
    expires_at: str = ""
    login_id: str = ""


# --- HTTP -------------------------------------------------------------------


class _APIError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: float) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def _ssl_context() -> Optional[ssl.SSLContext]:
    # The MLflow client's own setting for a private CA also applies here.
    cafile = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    return ssl.create_default_context(cafile=cafile) if cafile else None


def _post_json(url: str, body: dict[str, Any], headers: Optional[dict[str, str]] = None) -> dict[str, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=_HTTP_TIMEOUT, context=_ssl_context()) as resp:
            out = json.loads(resp.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        raw = e.read().decode(errors="replace")
        try:
            err = json.loads(raw)
        except ValueError:
            err = {}
        retry = e.headers.get("Retry-After") if e.headers else None
        raise _APIError(
            e.code,
            str(err.get("error_code", "")),
            str(err.get("message", raw[:200] or e.reason)),
            float(retry) if retry and retry.isdigit() else 0.0,
        ) from None
    except urllib.error.URLError as e:
        raise LoginError(f"cannot reach {url}: {e.reason}") from None
    if not isinstance(out, dict):
        raise LoginError(f"{url} did not answer with a JSON object")
    return out


def _base(url: str) -> str:
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.netloc:
        raise LoginError(f"{url!r} is not an http(s) URL of an MLflow behind mlflow-descope-auth")
    if u.query or u.fragment or u.username or u.password:
        raise LoginError(f"{url!r}: give the MLflow URL without query, fragment or credentials")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))


def _credentials(base: str, out: dict[str, Any]) -> Credentials:
    key = out.get("access_key")
    if not isinstance(key, str) or not key:
        raise LoginError("the gateway answered without a key")
    return Credentials(
        tracking_uri=base,
        username=str(out.get("username") or out.get("user_id") or "descope"),
        access_key=key,
        key_id=str(out.get("key_id", "")),
        key_name=str(out.get("key_name", "")),
        expires_at=str(out.get("expires_at", "")),
        login_id=str(out.get("login_id", "")),
    )


def _client_name() -> str:
    return socket.gethostname() or "unknown"


# --- loopback (RFC 8252 + PKCE) ----------------------------------------------


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _page(title: str, message: str) -> bytes:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>{t}</title>"
        "<body style='font-family:system-ui,sans-serif;margin:3rem'><h1 id=result>{t}</h1><p>{m}</p></body></html>"
    ).format(t=html.escape(title), m=html.escape(message)).encode()


class _Callback:
    """What the loopback listener received, shared with the waiting thread."""

    def __init__(self, state: str, redeem: Callable[[str], Credentials]) -> None:
        self.state = state
        self.redeem = redeem
        self.done = threading.Event()
        self.creds: Optional[Credentials] = None
        self.error: Optional[str] = None


def _handler(cb: _Callback) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        # A local program that connects and says nothing cannot hold the
        # listener (it serves one request at a time) for long.
        timeout = 10

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            u = urllib.parse.urlsplit(self.path)
            if u.path != _CALLBACK_PATH or cb.done.is_set():
                self._send(404, "Not found", "Nothing here.")
                return
            q = urllib.parse.parse_qs(u.query)
            state = q.get("state", [""])[0]
            if not secrets.compare_digest(state, cb.state):
                # Not our sign-in (an old tab, or another page): ignore it.
                self._send(400, "Sign-in not recognized", "This page does not belong to the sign-in that is waiting.")
                return
            if q.get("error"):
                cb.error = "the sign-in was cancelled in the browser"
                self._send(200, "Sign-in cancelled", "Nothing was changed. You can close this tab.")
                cb.done.set()
                return
            code = q.get("code", [""])[0]
            try:
                cb.creds = cb.redeem(code)
            except Exception as e:  # noqa: BLE001 (reported to the waiting thread)
                cb.error = str(e) if isinstance(e, LoginError) else f"the key could not be fetched: {e}"
                self._send(400, "Sign-in failed", cb.error)
            else:
                self._send(200, "Signed in", "The MLflow client has its key. You can close this tab.")
            cb.done.set()

        def _send(self, status: int, title: str, message: str) -> None:
            body = _page(title, message)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass  # the query holds the code: never print it

    return Handler


def _listen(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[http.server.HTTPServer, str]:
    """A listener on the IPv4 loopback, or the IPv6 one without IPv4."""
    try:
        srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
        return srv, f"http://127.0.0.1:{srv.server_address[1]}{_CALLBACK_PATH}"
    except OSError:

        class V6(http.server.HTTPServer):
            address_family = socket.AF_INET6

        srv6 = V6(("::1", 0), handler)
        return srv6, f"http://[::1]:{srv6.server_address[1]}{_CALLBACK_PATH}"


def _open_browser(url: str) -> bool:
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def loopback_login(
    url: str,
    *,
    open_browser: Optional[Callable[[str], bool]] = _open_browser,
    out: TextIO = sys.stderr,
    timeout: float = DEFAULT_TIMEOUT,
    expires_days: Optional[int] = None,
    client_name: Optional[str] = None,
) -> Credentials:
    """Sign in through the browser on this machine and return a new key.

    ``open_browser(url)`` opens the sign-in page (default: the system browser,
    which honours the ``BROWSER`` environment variable); with ``None`` the URL is
    only printed.
    """
    base = _base(url)
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(24)
    redirect = ""

    def redeem(code: str) -> Credentials:
        if not code:
            raise LoginError("the browser came back without a code")
        body = {"code": code, "code_verifier": verifier, "redirect_uri": redirect}
        for attempt in range(3):
            try:
                return _credentials(base, _post_json(base + "/auth/cli/token", body))
            except _APIError as e:
                # Descope busy: the gateway gave the code back; try again.
                if e.status in (429, 503) and e.code != "SLOW_DOWN" and attempt < 2:
                    time.sleep(min(e.retry_after or 2.0, 10.0))
                    continue
                raise LoginError(e.message or str(e)) from None
        raise LoginError("the gateway stayed unavailable")

    cb = _Callback(state, redeem)
    srv, redirect = _listen(_handler(cb))
    params = {
        "redirect_uri": redirect,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "client_name": client_name or _client_name(),
    }
    if expires_days:
        params["expires_days"] = str(expires_days)
    authorize = base + "/auth/cli/authorize?" + urllib.parse.urlencode(params)
    thread = threading.Thread(target=_serve_until, args=(srv, cb, timeout), daemon=True)
    thread.start()
    try:
        opened = open_browser(authorize) if open_browser is not None else False
        if opened:
            print(f"Opened your browser to sign in. If it did not open, visit:\n  {authorize}", file=out)
        else:
            print(f"Open this URL in a browser on this computer to sign in:\n  {authorize}", file=out)
        if not cb.done.wait(timeout):
            raise LoginError(f"no sign-in within {int(timeout)} seconds")
    finally:
        cb.done.set()
        thread.join(5)
        srv.server_close()
    if cb.creds is None:
        raise LoginError(cb.error or "the sign-in failed")
    return cb.creds


def _serve_until(srv: http.server.HTTPServer, cb: _Callback, timeout: float) -> None:
    srv.timeout = 0.5
    deadline = time.monotonic() + timeout
    while not cb.done.is_set() and time.monotonic() < deadline:
        srv.handle_request()


# --- device flow (RFC 8628) ---------------------------------------------------


def device_login(
    url: str,
    *,
    out: TextIO = sys.stderr,
    timeout: float = DEFAULT_TIMEOUT * 2,
    expires_days: Optional[int] = None,
    client_name: Optional[str] = None,
    sleep: Optional[Callable[[float], None]] = None,
) -> Credentials:
    """Sign in by confirming a short code in any browser; return a new key."""
    sleep = sleep or time.sleep
    base = _base(url)
    body: dict[str, Any] = {"client_name": client_name or _client_name()}
    if expires_days:
        body["expires_days"] = expires_days
    try:
        start = _post_json(base + "/auth/device/code", body)
    except _APIError as e:
        raise LoginError(e.message or str(e)) from None
    device_code = str(start.get("device_code", ""))
    user_code = str(start.get("user_code", ""))
    interval = float(start.get("interval", 5))
    lifetime = float(start.get("expires_in", 600))
    if not device_code or not user_code:
        raise LoginError("the gateway did not start a device sign-in")
    print(
        f"To sign in, open {start.get('verification_uri')} in any browser and enter the code\n\n"
        f"    {user_code}\n\n"
        f"(or open {start.get('verification_uri_complete')} and check the code).\n"
        f"Waiting for your approval; the code expires in {int(lifetime // 60)} minutes.",
        file=out,
    )
    deadline = time.monotonic() + min(timeout, lifetime)
    while time.monotonic() < deadline:
        sleep(interval)
        try:
            return _credentials(base, _post_json(base + "/auth/device/token", {"device_code": device_code}))
        except _APIError as e:
            if e.code == "AUTHORIZATION_PENDING":
                continue
            if e.code == "SLOW_DOWN":
                interval = max(interval + 5, e.retry_after)
                continue
            if e.status in (429, 503):
                sleep(min(e.retry_after or interval, 30.0))
                continue
            if e.code == "ACCESS_DENIED":
                raise LoginError("the sign-in was declined in the browser") from None
            raise LoginError(e.message or str(e)) from None
    raise LoginError("the code expired before it was approved; run the login again")


# --- where the key goes -----------------------------------------------------------


def credentials_path() -> str:
    """Where the MLflow client reads credentials: ``~/.mlflow/credentials``."""
    return os.path.join(os.path.expanduser("~"), ".mlflow", "credentials")


def write_credentials(creds: Credentials, path: Optional[str] = None) -> str:
    """Store the key as ``mlflow_tracking_username``/``mlflow_tracking_password``
    in the ``[mlflow]`` section, keeping other settings, with mode 0600."""
    path = path or credentials_path()
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    cfg = configparser.ConfigParser(interpolation=None)
    if os.path.exists(path):
        cfg.read(path)
    if "mlflow" not in cfg:
        cfg["mlflow"] = {}
    cfg["mlflow"]["mlflow_tracking_username"] = creds.username
    cfg["mlflow"]["mlflow_tracking_password"] = creds.access_key
    _write_private(cfg, path)
    return path


def _write_private(cfg: configparser.ConfigParser, path: str) -> None:
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".credentials.{os.getpid()}.{secrets.token_hex(4)}")
    # Created 0600 from the start: the key is never readable by others, not
    # even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            cfg.write(f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def logout(url: str, path: Optional[str] = None) -> str:
    """Revoke the access key in the credentials file at the gateway, then
    remove it from the file (other settings stay). Returns what happened, for
    the user. A key the gateway does not accept (revoked, expired, or another
    gateway's: the message says so) is removed too; any other failure leaves
    the file as it was. The key is sent to url: name the gateway it is for."""
    base = _base(url)
    path = path or credentials_path()
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    section = cfg["mlflow"] if "mlflow" in cfg else {}
    username = section.get("mlflow_tracking_username", "")
    key = section.get("mlflow_tracking_password", "")
    if not key:
        raise LoginError(f"no access key in {path}")
    auth = base64.b64encode(f"{username}:{key}".encode()).decode()
    try:
        out = _post_json(base + "/auth/cli/logout", {}, {"Authorization": "Basic " + auth})
        revoked = out.get("revoked")
        name = revoked.get("name", "") if isinstance(revoked, dict) else ""
        done = f"Revoked the access key {name}".rstrip() + "."
    except _APIError as e:
        if e.status != 401:
            raise LoginError(f"the gateway did not revoke the key: {e.message}") from None
        done = (
            "The gateway does not accept this key: it was revoked or has expired, or it is not this "
            "gateway's key (then revoke it on its own gateway's /auth/keys page)."
        )
    cfg.remove_option("mlflow", "mlflow_tracking_username")
    cfg.remove_option("mlflow", "mlflow_tracking_password")
    _write_private(cfg, path)
    return f"{done} Removed it from {path}."


def export_lines(creds: Credentials) -> str:
    """Shell lines that give a process the key (they win over the credentials file)."""
    return (
        f"export MLFLOW_TRACKING_URI={shlex.quote(creds.tracking_uri)}\n"
        f"export MLFLOW_TRACKING_USERNAME={shlex.quote(creds.username)}\n"
        f"export MLFLOW_TRACKING_PASSWORD={shlex.quote(creds.access_key)}\n"
    )


# --- notebooks ----------------------------------------------------------------


def _browser_available() -> bool:
    """Whether a browser on this machine can be opened for the user."""
    if os.environ.get("BROWSER"):
        return True
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def login(
    url: str,
    *,
    device: Optional[bool] = None,
    save: bool = False,
    expires_days: Optional[int] = None,
    out: TextIO = sys.stderr,
) -> Credentials:
    """Sign in to the MLflow at ``url`` and use the new key in this process.

    With a browser on this machine the sign-in runs there (loopback redirect);
    without one (``device=True``, or none can be opened, as on a remote Jupyter
    server) it shows a code to confirm in any browser. Afterwards
    ``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD`` are set for this process, so ``import mlflow``
    just works. ``save=True`` also writes ``~/.mlflow/credentials``.
    """
    if device is None:
        device = not _browser_available()
    if device:
        creds = device_login(url, out=out, expires_days=expires_days)
    else:
        creds = loopback_login(url, out=out, expires_days=expires_days)
    os.environ["MLFLOW_TRACKING_URI"] = creds.tracking_uri
    os.environ["MLFLOW_TRACKING_USERNAME"] = creds.username
    os.environ["MLFLOW_TRACKING_PASSWORD"] = creds.access_key
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and hasattr(mlflow, "set_tracking_uri"):
        mlflow.set_tracking_uri(creds.tracking_uri)
    if save:
        write_credentials(creds)
    print(f"Signed in as {creds.login_id or creds.username}; key {creds.key_name} expires {creds.expires_at}.", file=out)
    return creds
