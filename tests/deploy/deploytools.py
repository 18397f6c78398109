"""Helpers of the checks of the deployment files (deploy/): the Compose file, the Helm chart, the
MLflow image's entry point, and the gateway image under podman.

Tools that are missing (helm, buildah, podman, runc) skip their tests, unless
MDA_REQUIRE_ALL is set (CI), in which case that is a failure. helm is looked up as
bin/tools/helm (`make helm` builds it), then on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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



def gateway_bin() -> str:
    """The gateway binary (GATEWAY_BIN or bin/), or skip/fail."""
    path = Path(os.environ.get("GATEWAY_BIN") or REPO / "bin" / "mlflow-descope-auth")
    if not path.is_file():
        unavailable("the gateway binary is missing (make build)")
    return str(path)


def check_config(env: dict[str, str], tmp: Path) -> str:
    """Run `mlflow-descope-auth check-config` with exactly env (NAME_FILE values
    naming /run/secrets/… are replaced by files with a test value); return its
    stderr, failing on a problem or a warning."""
    env = dict(env)
    for key, value in list(env.items()):
        if key.endswith("_FILE") and value.startswith("/run/secrets/"):
            f = tmp / Path(value).name
            f.write_text("s" * 40 + "\n")
            env[key] = str(f)
    env.setdefault("MLFLOW_DESCOPE_DATA_DIR", str(tmp / "data"))
    out = subprocess.run([gateway_bin(), "check-config"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr, out.stderr
    assert "configuration OK" in out.stderr
    return out.stderr
