"""The Python verifier agrees with the Go one on every shared vector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlflow_descope_auth.assertion import InvalidAssertion, verify

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "testdata" / "assertion-vectors.json").read_text("utf-8")
)["vectors"]


def test_vectors_cover_every_outcome() -> None:
    assert {v["outcome"] for v in VECTORS} == {"valid", "expired", "bad_signature", "malformed"}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict) -> None:
    secret = vector["secret"].encode("utf-8")
    try:
        claims = verify(secret, vector["token"], vector["now"])
    except InvalidAssertion as e:
        assert e.reason == vector["outcome"]
        return
    assert vector["outcome"] == "valid"
    want = vector["claims"]
    got = {"sub": claims.sub, "iat": claims.iat, "exp": claims.exp}
    if claims.rid:
        got["rid"] = claims.rid
    assert got == want
