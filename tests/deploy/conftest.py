"""Checks of the deployment files (deploy/): the Compose file, the Helm chart, the
MLflow image's entry point, and the gateway image under podman.

Tools that are missing (helm, buildah, podman, runc) skip their tests, unless
MDA_REQUIRE_ALL is set (CI), in which case that is a failure. helm is looked up as
bin/tools/helm (`make helm` builds it), then on PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "mlflow-descope-auth"


def unavailable(reason: str) -> None:
    """Skip, or fail when MDA_REQUIRE_ALL says nothing may be skipped."""
    if os.environ.get("MDA_REQUIRE_ALL"):
        pytest.fail(f"MDA_REQUIRE_ALL is set: {reason}", pytrace=False)
    pytest.skip(reason)


def tool(name: str) -> str:
    """Path of a command-line tool, or skip/fail."""
    local = REPO / "bin" / "tools" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    unavailable(f"{name} is not installed" + (" (make helm builds it)" if name == "helm" else ""))
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")
