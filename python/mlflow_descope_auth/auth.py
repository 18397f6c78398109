"""MLflow ``authorization_function`` that trusts only the gateway's signed assertion.

Configure it in the basic-auth INI file (``MLFLOW_AUTH_CONFIG_PATH``)::

    [mlflow]
    authorization_function = mlflow_descope_auth.auth:authenticate

MLflow calls it several times per request: from Flask's ``before_request`` hook, from
validators and after-request handlers, and, for FastAPI-native routes, inside a
synthetic Flask request context that has headers but no body. It therefore reads one
header only, never the body, and remembers a verified assertion for the rest of the
same request (``flask.g``), so a request that was valid when it arrived cannot fail in
an after-request handler because the assertion expired meanwhile.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Response, g, request
from werkzeug.datastructures import Authorization

from mlflow_descope_auth.assertion import (
    HEADER,
    MIN_SECRET_LEN,
    Expired,
    InvalidAssertion,
    verify,
)

#: Environment variable holding the shared secret.
SECRET_ENV = "MLFLOW_DESCOPE_ASSERTION_SECRET"
#: Environment variable naming a file that holds the shared secret.
SECRET_FILE_ENV = "MLFLOW_DESCOPE_ASSERTION_SECRET_FILE"
#: The value of ``authorization_function`` that selects this module.
AUTHORIZATION_FUNCTION = "mlflow_descope_auth.auth:authenticate"

_logger = logging.getLogger(__name__)
_G_KEY = "_mlflow_descope_auth"


class ConfigError(Exception):
    """The plugin is not configured well enough to verify anything."""


def load_secret(environ: Mapping[str, str]) -> bytes:
    """Return the shared secret from ``environ`` (env value or file), or raise ConfigError.

    A file's content is stripped of surrounding ASCII whitespace (a trailing newline is
    usual in secret files). Setting both variables is an error, as is a secret shorter
    than ``MIN_SECRET_LEN`` bytes.
    """
    value = environ.get(SECRET_ENV, "")
    path = environ.get(SECRET_FILE_ENV, "")
    if value and path:
        raise ConfigError(f"set only one of {SECRET_ENV} and {SECRET_FILE_ENV}")
    if path:
        try:
            with open(path, "rb") as f:
                secret = f.read().strip()
        except OSError as e:
            raise ConfigError(f"cannot read {SECRET_FILE_ENV} ({path}): {e.strerror}") from e
        source = SECRET_FILE_ENV
    elif value:
        secret = os.fsencode(value)  # the bytes the gateway put in the environment
        source = SECRET_ENV
    else:
        raise ConfigError(
            f"no assertion secret: set {SECRET_ENV} or {SECRET_FILE_ENV} to the secret "
            "the gateway signs with"
        )
    if len(secret) < MIN_SECRET_LEN:
        raise ConfigError(
            f"the assertion secret in {source} must be at least {MIN_SECRET_LEN} bytes, "
            f"got {len(secret)}"
        )
    return secret


def unauthenticated(message: str) -> Response:
    """401 in MLflow's error shape, without a ``WWW-Authenticate: Basic`` challenge."""
    body = json.dumps({"error_code": "UNAUTHENTICATED", "message": message})
    return Response(body, status=401, mimetype="application/json")


@dataclass(frozen=True)
class _Verified:
    token: str
    authorization: Authorization


def make_authorization_function(
    secret: bytes | None,
    now: Callable[[], float] = time.time,
) -> Callable[[], Authorization | Response]:
    """Build an authorization function bound to ``secret``.

    With ``secret`` None (misconfigured) every request fails closed with 401.
    """
    if secret is not None and len(secret) < MIN_SECRET_LEN:
        raise ConfigError(f"the assertion secret must be at least {MIN_SECRET_LEN} bytes")

    def authorization_function() -> Authorization | Response:
        if secret is None:
            return unauthenticated("MLflow cannot verify identities: the server is misconfigured")
        tokens = request.headers.getlist(HEADER)
        if not tokens:
            return unauthenticated(f"missing {HEADER} header: sign in through the gateway")
        if len(tokens) > 1:
            return unauthenticated(f"more than one {HEADER} header")
        token = tokens[0]
        cached = g.get(_G_KEY)
        if isinstance(cached, _Verified) and cached.token == token:
            return cached.authorization
        try:
            claims = verify(secret, token, int(now()))
        except Expired:
            return unauthenticated("identity assertion expired")
        except InvalidAssertion as e:
            _logger.warning("rejected identity assertion: %s", e.reason)
            return unauthenticated("invalid identity assertion")
        authorization = Authorization("basic", {"username": claims.sub, "password": ""})
        setattr(g, _G_KEY, _Verified(token, authorization))
        return authorization

    return authorization_function


@functools.lru_cache(maxsize=1)
def _process_authorization_function() -> Callable[[], Authorization | Response]:
    try:
        secret: bytes | None = load_secret(os.environ)
    except ConfigError as e:
        _logger.error("mlflow-descope-auth: %s; every request is refused", e)
        secret = None
    return make_authorization_function(secret)


def authenticate() -> Authorization | Response:
    """The ``authorization_function`` MLflow calls (see module docstring).

    Returns a werkzeug ``Authorization`` whose ``username`` is the assertion's ``sub``,
    or a 401 JSON ``Response``. The secret is read from the environment once per process.
    """
    return _process_authorization_function()()
