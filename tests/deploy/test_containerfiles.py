"""Static checks of deploy/*.Containerfile and the build context's .dockerignore:
the MLflow image cannot be built here (its base image is on a public registry), so
what can be checked without building it is checked here."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
from deploytools import DEPLOY, REPO

IGNORE = REPO / ".dockerignore"


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _copies(path: Path) -> list[tuple[list[str], str]]:
    out = []
    for word, rest in _instructions(path):
        if word == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            out.append((parts[:-1], parts[-1]))
    return out


def _included(rel: str) -> bool:
    """Whether .dockerignore lets rel into the build context (last match wins)."""
    keep = True
    for line in IGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        if fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern.rstrip("/") + "/"):
            keep = negate
    return keep


@pytest.mark.parametrize("name", ["gateway.Containerfile", "mlflow.Containerfile"])
def test_copy_sources_exist_and_are_in_the_context(name: str) -> None:
    made_by_make_image = {"bin/mlflow-descope-auth", "bin/ca-certificates.crt"}
    for sources, _ in _copies(DEPLOY / name):
        for src in sources:
            rel = src.rstrip("/")
            assert (REPO / rel).exists() or rel in made_by_make_image, f"{name}: COPY {src}: no such file"
            assert _included(rel), f"{name}: COPY {src} is excluded by .dockerignore"
    # Nothing else of the checkout goes into the context (e.g. .venv, test-artifacts).
    for rel in (".venv", "test-artifacts", "deploy/.env", "bin/descope-sim", ".git"):
        assert not _included(rel), rel


def test_gateway_image_is_scratch_and_nonroot() -> None:
    ins = _instructions(DEPLOY / "gateway.Containerfile")
    assert [r for w, r in ins if w == "FROM"] == ["scratch"]
    assert ("USER", "65532:65532") in ins
    passwd = (DEPLOY / "image" / "rootfs" / "etc" / "passwd").read_text()
    assert re.search(r"^mda:x:65532:65532:", passwd, re.M)
    assert ("ENTRYPOINT", '["/usr/local/bin/mlflow-descope-auth"]') in ins


def test_mlflow_image_installs_the_pinned_mlflow() -> None:
    path = DEPLOY / "mlflow.Containerfile"
    text = path.read_text()
    prose = re.sub(r"\s+#?\s*", " ", text).lower()
    assert "cannot be built on a machine without a container registry" in prose
    ins = _instructions(path)
    assert [r for w, r in ins if w == "FROM"] == ["${PYTHON_IMAGE}"]
    assert any(w == "ARG" and r.startswith("PYTHON_IMAGE=python:") and "-slim" in r for w, r in ins)
    # The RUN's grep picks exactly the MLflow pin out of requirements.txt.
    run = " ".join(r for w, r in ins if w == "RUN")
    pattern = re.search(r"grep -E '([^']+)'", run)
    assert pattern
    pins = [line for line in (REPO / "python" / "requirements.txt").read_text().splitlines()
            if re.search(pattern.group(1), line)]
    assert len(pins) == 1 and pins[0].startswith("mlflow[auth]=="), pins
    assert "psycopg[binary]==" in run
    assert ("USER", "10001:10001") in ins
    entry = [r for w, r in ins if w == "ENTRYPOINT"][0]
    dests = [dest for _, dest in _copies(path)]
    assert any(d in entry for d in dests), "ENTRYPOINT runs a file the image does not copy"
