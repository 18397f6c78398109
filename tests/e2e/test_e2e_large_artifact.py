"""A 300 MB artifact goes up and down through the gateway, which streams it:
the gateway's resident memory stays under 100 MB throughout.

Deselect with ``-m "not slow"``; it runs by default.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

SIZE_MB = 300
MAX_RSS_MB = 100
BLOCK = 1 << 20


class RSSSampler:
    """Samples VmRSS of one process every `interval` seconds in a thread."""

    def __init__(self, read_kib, interval: float = 0.1):
        self.read_kib, self.interval = read_kib, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.read_kib())
            except (OSError, AssertionError):
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def max_mb(self) -> float:
        return max(self.samples) / 1024


def _write_file(path: Path) -> str:
    """SIZE_MB of incompressible data, written block by block; returns its sha256."""
    h = hashlib.sha256()
    seed = os.urandom(BLOCK)
    with open(path, "wb") as f:
        for i in range(SIZE_MB):
            block = i.to_bytes(8, "big") + seed[8:]
            f.write(block)
            h.update(block)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.slow
def test_300mb_artifact_streams_through_gateway(stack, mlflow_env, uniq, tmp_path: Path, record_figure):
    from mlflow import MlflowClient

    src = tmp_path / "big.bin"
    digest = _write_file(src)
    assert src.stat().st_size == SIZE_MB * BLOCK

    user = stack.new_user(prefix="bigfile")
    _, key = stack.new_key(user)
    mlflow_env.token(key)
    client = MlflowClient(tracking_uri=stack.url)
    run_id = client.create_run(client.create_experiment(uniq("big-artifact"))).info.run_id

    baseline_mb = stack.rss_kib() / 1024
    with RSSSampler(stack.rss_kib) as up_rss:
        t0 = time.monotonic()
        client.log_artifact(run_id, str(src), artifact_path="data")
        upload_s = time.monotonic() - t0
    listed = {a.path: a.file_size for a in client.list_artifacts(run_id, "data")}
    assert listed == {"data/big.bin": SIZE_MB * BLOCK}
    stored = list((stack.work / "artifacts").rglob(f"{run_id}/artifacts/data/big.bin"))
    assert [p.stat().st_size for p in stored] == [SIZE_MB * BLOCK], "MLflow's artifact store holds the file"

    dst = tmp_path / "download"
    dst.mkdir()
    with RSSSampler(stack.rss_kib) as down_rss:
        t0 = time.monotonic()
        got = Path(client.download_artifacts(run_id, "data/big.bin", str(dst)))
        download_s = time.monotonic() - t0
    assert got.stat().st_size == SIZE_MB * BLOCK
    assert _sha256(got) == digest

    figures = {
        "gateway RSS before (MB)": round(baseline_mb, 1),
        "upload max RSS (MB)": round(up_rss.max_mb, 1),
        "download max RSS (MB)": round(down_rss.max_mb, 1),
        "upload s": round(upload_s, 2),
        "upload MB/s": round(SIZE_MB / upload_s, 1),
        "download s": round(download_s, 2),
        "download MB/s": round(SIZE_MB / download_s, 1),
        "RSS samples (up/down)": f"{len(up_rss.samples)}/{len(down_rss.samples)}",
    }
    for k, v in figures.items():
        record_figure(k, v)
    print(f"\n300 MB artifact through the gateway: {figures}")
    assert len(up_rss.samples) >= 3 and len(down_rss.samples) >= 3
    assert up_rss.max_mb < MAX_RSS_MB, figures
    assert down_rss.max_mb < MAX_RSS_MB, figures
