"""Verify the identity assertion the gateway sends to MLflow (standard library only).

This mirrors ``internal/assertion/assertion.go`` exactly; both must agree on every
vector in ``testdata/assertion-vectors.json``.

Wire format::

    v1.<base64url(payload)>.<base64url(HMAC-SHA256(secret, "v1." + base64url(payload)))>

``payload`` is compact JSON ``{"sub", "iat", "exp", "rid"}``; base64url is unpadded.
Checks run in the same order as the Go verifier, so the same token fails with the same
error class in both: shape and version, signature encoding, signature, payload encoding,
payload JSON (``sub`` non-empty, ``exp`` non-zero), expiry (``now >= exp``).

The JSON rules follow Go's ``encoding/json`` decoding into the ``Claims`` struct: keys
match case-insensitively (an exact match is not needed), a later duplicate key wins,
``null`` leaves a field unchanged, unknown keys are ignored, ``iat``/``exp`` must be
integer literals within int64, ``sub``/``rid`` must be strings, and ``NaN``/``Infinity``
are not JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

#: Request header that carries the assertion. The gateway removes every client copy.
HEADER = "X-Mlflow-Descope-Assertion"

#: Shortest shared secret accepted, in bytes.
MIN_SECRET_LEN = 32

_VERSION = "v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class InvalidAssertion(Exception):
    """Base class of every verification failure."""

    reason = "invalid"


class Malformed(InvalidAssertion):
    """The token is not a well-formed v1 assertion (Go: ``ErrMalformed``)."""

    reason = "malformed"


class BadSignature(InvalidAssertion):
    """The MAC does not match (Go: ``ErrSignature``)."""

    reason = "bad_signature"


class Expired(InvalidAssertion):
    """``now >= exp`` (Go: ``ErrExpired``)."""

    reason = "expired"


@dataclass(frozen=True)
class Claims:
    """What a valid assertion says. ``sub`` is the MLflow username."""

    sub: str
    iat: int
    exp: int
    rid: str = ""


def _b64decode(text: str) -> bytes:
    """Decode unpadded base64url as strictly as Go's ``base64.RawURLEncoding``."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise Malformed()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise Malformed() from e


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, message: str) -> bytes:
    return hmac.new(secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


class _GoJSONError(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _GoJSONError(name)


def _float_marker(text: str) -> Any:
    # Go cannot decode 1.0 or 1e3 into an int64; remember the literal so that a float
    # in an unknown field stays harmless while one in iat/exp is an error.
    return _Float(text)


class _Float(str):
    pass


class _Object(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in document order."""


_FIELDS = ("sub", "iat", "exp", "rid")


def _field_for(key: str) -> str | None:
    """Go ``encoding/json`` field matching: exact, else simple case folding per rune."""
    if key in _FIELDS:
        return key
    for name in _FIELDS:
        if len(key) == len(name) and all(c.casefold() == n for c, n in zip(key, name)):
            return name
    return None


def _decode_claims(payload: bytes) -> Claims:
    try:
        doc = json.loads(
            payload.decode("utf-8", "replace"),
            object_pairs_hook=_Object,
            parse_constant=_reject_constant,
            parse_float=_float_marker,
        )
    except (ValueError, RecursionError, _GoJSONError) as e:
        raise Malformed() from e
    if doc is None:  # Go: Unmarshal("null") is a no-op, leaving every field empty.
        raise Malformed()
    if not isinstance(doc, _Object):
        raise Malformed()  # Go cannot decode an array, string or number into a struct
    values: dict[str, Any] = {"sub": "", "iat": 0, "exp": 0, "rid": ""}
    ok = True
    for key, value in doc:
        name = _field_for(key)
        if name is None or value is None:
            continue
        if name in ("sub", "rid"):
            if isinstance(value, str) and not isinstance(value, _Float):
                values[name] = value
            else:
                ok = False
        else:
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and _INT64_MIN <= value <= _INT64_MAX
            ):
                values[name] = value
            else:
                ok = False
    if not ok or values["sub"] == "" or values["exp"] == 0:
        raise Malformed()
    return Claims(sub=values["sub"], iat=values["iat"], exp=values["exp"], rid=values["rid"])


def verify(secret: bytes, token: str, now: int) -> Claims:
    """Check an assertion's signature and expiry at unix time ``now``; return its claims.

    Raises ``Malformed``, ``BadSignature`` or ``Expired`` (all ``InvalidAssertion``).
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise Malformed()
    sig = _b64decode(parts[2])
    if not hmac.compare_digest(sig, _mac(secret, parts[0] + "." + parts[1])):
        raise BadSignature()
    claims = _decode_claims(_b64decode(parts[1]))
    if now >= claims.exp:
        raise Expired()
    return claims


def sign(secret: bytes, sub: str, iat: int, exp: int, rid: str = "") -> str:
    """Mint an assertion the way the Go signer does (used by tests and tools).

    The gateway is the only production signer. Output is byte-identical to Go's for
    subjects and request ids made of printable ASCII other than ``<``, ``>`` and ``&``.
    """
    if not sub:
        raise ValueError("assertion: empty subject")
    claims: dict[str, Any] = {"sub": sub, "iat": iat, "exp": exp}
    if rid:
        claims["rid"] = rid
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False)
    signed = _VERSION + "." + _b64encode(payload.encode("utf-8"))
    return signed + "." + _b64encode(_mac(secret, signed))
