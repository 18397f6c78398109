from __future__ import annotations

import base64
import json

import pytest

from mlflow_descope_auth.assertion import (
    BadSignature,
    Claims,
    Expired,
    Malformed,
    sign,
    verify,
)

SECRET = b"s" * 32
NOW = 1_767_225_600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("name", "token", "now", "want"),
    [
        ("valid", sign(SECRET, "alice", NOW, NOW + 60, "r1"), NOW, Claims("alice", NOW, NOW + 60, "r1")),
        ("valid_no_rid", sign(SECRET, "bob", NOW, NOW + 60), NOW + 59, Claims("bob", NOW, NOW + 60, "")),
        ("expired", sign(SECRET, "alice", NOW, NOW + 60), NOW + 60, Expired),
        ("bad_signature", sign(b"x" * 32, "alice", NOW, NOW + 60), NOW, BadSignature),
        (
            "tampered_payload",
            "v1."
            + _b64(json.dumps({"sub": "admin", "iat": NOW, "exp": NOW + 60}).encode())
            + "."
            + sign(SECRET, "alice", NOW, NOW + 60).split(".")[2],
            NOW,
            BadSignature,
        ),
        ("wrong_version", "v2" + sign(SECRET, "alice", NOW, NOW + 60)[2:], NOW, Malformed),
        ("empty", "", NOW, Malformed),
        ("garbage", "not-a-token", NOW, Malformed),
    ],
)
def test_verify(name: str, token: str, now: int, want: object) -> None:
    if isinstance(want, Claims):
        assert verify(SECRET, token, now) == want
    else:
        assert isinstance(want, type)
        with pytest.raises(want):
            verify(SECRET, token, now)


def test_sign_matches_go_layout() -> None:
    token = sign(SECRET, "alice", 10, 70, "r")
    version, payload, sig = token.split(".")
    assert version == "v1"
    assert base64.urlsafe_b64decode(payload + "==") == b'{"sub":"alice","iat":10,"exp":70,"rid":"r"}'
    assert "=" not in sig and len(sig) == 43


def test_sign_rejects_empty_subject() -> None:
    with pytest.raises(ValueError):
        sign(SECRET, "", 1, 2)
