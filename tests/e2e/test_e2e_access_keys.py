"""Issue 4: the official MLflow client with Descope access keys, end to end.

Every test runs twice: the key as ``MLFLOW_TRACKING_TOKEN`` (Bearer) and as
``MLFLOW_TRACKING_PASSWORD`` with any ``MLFLOW_TRACKING_USERNAME`` (Basic).

Two Descope users without roles (so MLflow's default permission, READ, applies):
the *owner* creates everything (MLflow grants a creator MANAGE) and the *reader*
only has READ. Each test checks the owner's calls work and return what was
written, that the reader can read it, and that every write of the reader is
refused with 403 PERMISSION_DENIED.
"""

from __future__ import annotations

import filecmp
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Keys:
    mode: str  # "bearer" or "basic"
    owner: str  # Descope user IDs
    owner_key: str
    reader: str
    reader_key: str


@pytest.fixture(scope="module", params=["bearer", "basic"])
def keys(request, stack) -> Keys:
    owner = stack.new_user(prefix="owner")
    reader = stack.new_user(prefix="reader")
    _, owner_key = stack.new_key(owner)
    _, reader_key = stack.new_key(reader)
    return Keys(request.param, owner, owner_key, reader, reader_key)


class Act:
    def __init__(self, keys: Keys, env):
        self.keys, self.env = keys, env

    def owner(self) -> None:
        self.env.key(self.keys.owner_key, self.keys.mode)

    def reader(self) -> None:
        self.env.key(self.keys.reader_key, self.keys.mode)


@pytest.fixture
def act(keys, mlflow_env) -> Act:
    return Act(keys, mlflow_env)


@pytest.fixture
def client(stack, mlflow_env):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=stack.url, registry_uri=stack.url)


def test_key_acts_as_its_user(stack, keys):
    import base64

    if keys.mode == "bearer":
        auth = f"Bearer {keys.owner_key}"
    else:
        auth = "Basic " + base64.b64encode(f"anything:{keys.owner_key}".encode()).decode()
    me = stack.whoami(auth)
    assert me["username"] == stack.username(keys.owner)
    assert me["is_admin"] is False


def test_experiments(act, client, denied, uniq):
    act.owner()
    name = uniq("exp")
    eid = client.create_experiment(name, tags={"team": "ml"})
    assert client.get_experiment_by_name(name).experiment_id == eid
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{name}'")] == [eid]
    renamed = name + "-renamed"
    client.rename_experiment(eid, renamed)
    client.set_experiment_tag(eid, "stage", "dev")
    exp = client.get_experiment(eid)
    assert (exp.name, exp.tags.get("team"), exp.tags.get("stage")) == (renamed, "ml", "dev")

    act.reader()
    assert client.get_experiment(eid).name == renamed
    assert client.get_experiment_by_name(renamed).experiment_id == eid
    assert eid in [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{renamed}'")]
    denied(client.rename_experiment, eid, renamed + "-by-reader")
    denied(client.set_experiment_tag, eid, "stage", "prod")
    denied(client.delete_experiment, eid)
    denied(client.create_run, eid)

    act.owner()
    client.delete_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    act.reader()
    denied(client.restore_experiment, eid)
    act.owner()
    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"
    assert client.get_experiment(eid).name == renamed


def test_runs(act, client, denied, uniq):
    import mlflow
    from mlflow.entities import Metric, Param, RunTag, ViewType

    act.owner()
    eid = client.create_experiment(uniq("runs"))
    run = client.create_run(eid, tags={"source": "e2e"}, run_name="manual")
    rid = run.info.run_id
    now = int(time.time() * 1000)
    client.log_param(rid, "alpha", "0.5")
    client.log_metric(rid, "loss", 1.0, timestamp=now, step=0)
    client.log_metric(rid, "loss", 0.5, timestamp=now + 1, step=1)
    client.log_batch(
        rid,
        metrics=[Metric("acc", 0.8, now, 0), Metric("acc", 0.9, now + 1, 1)],
        params=[Param("beta", "2")],
        tags=[RunTag("phase", "train")],
    )
    client.set_tag(rid, "note", "hello")
    client.set_terminated(rid, "FINISHED")
    with mlflow.start_run(experiment_id=eid, run_name="fluent") as fluent:
        mlflow.log_param("gamma", "3")
        mlflow.log_metric("loss", 0.1)
        mlflow.set_tag("kind", "fluent")
    fid = fluent.info.run_id

    got = client.get_run(rid)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"alpha": "0.5", "beta": "2"}
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9}
    assert got.data.tags["phase"] == "train" and got.data.tags["note"] == "hello"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "loss")] == [(0, 1.0), (1, 0.5)]
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "acc")] == [(0, 0.8), (1, 0.9)]
    assert client.get_run(fid).data.params == {"gamma": "3"}
    assert [r.info.run_id for r in client.search_runs([eid], "params.alpha = '0.5'")] == [rid]
    assert [r.info.run_id for r in client.search_runs([eid], "metrics.acc > 0.85")] == [rid]
    assert {r.info.run_id for r in client.search_runs([eid])} == {rid, fid}

    client.delete_run(fid)
    assert client.get_run(fid).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([eid])] == [rid]
    assert fid in [r.info.run_id for r in client.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)]

    act.reader()
    assert client.get_run(rid).data.params["alpha"] == "0.5"
    assert [r.info.run_id for r in client.search_runs([eid])] == [rid]
    assert len(client.get_metric_history(rid, "loss")) == 2
    denied(client.restore_run, fid)
    denied(client.log_param, rid, "reader_param", "1")
    denied(client.log_metric, rid, "reader_metric", 1.0)
    denied(client.log_batch, rid, metrics=[Metric("reader_batch", 1.0, now, 0)])
    denied(client.set_tag, rid, "note", "overwritten")
    denied(client.delete_tag, rid, "note")
    denied(client.set_terminated, rid, "FAILED")
    denied(client.update_run, rid, name="renamed-by-reader")
    denied(client.delete_run, rid)

    act.owner()
    client.restore_run(fid)
    assert client.get_run(fid).info.lifecycle_stage == "active"
    unchanged = client.get_run(rid)
    assert unchanged.info.status == "FINISHED" and unchanged.data.tags["note"] == "hello"
    assert "reader_param" not in unchanged.data.params and "reader_metric" not in unchanged.data.metrics


def test_artifacts(act, client, denied, uniq, tmp_path: Path):
    act.owner()
    eid = client.create_experiment(uniq("artifacts"))
    rid = client.create_run(eid).info.run_id
    single = tmp_path / "report.txt"
    single.write_text("accuracy 0.93\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a\n")
    (folder / "sub" / "b.json").write_text('{"b": 1}\n')
    (folder / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB, binary

    client.log_artifact(rid, str(single))
    client.log_artifact(rid, str(single), artifact_path="reports")
    client.log_artifacts(rid, str(folder), artifact_path="folder")

    assert {a.path for a in client.list_artifacts(rid)} == {"report.txt", "reports", "folder"}
    listing = {a.path: a for a in client.list_artifacts(rid, "folder")}
    assert set(listing) == {"folder/a.txt", "folder/sub"} and listing["folder/sub"].is_dir
    sub = {a.path: a.file_size for a in client.list_artifacts(rid, "folder/sub")}
    assert sub == {"folder/sub/b.json": 9, "folder/sub/blob.bin": 1 << 20}

    def check_downloads(where: Path) -> None:
        got = client.download_artifacts(rid, "folder", str(where))
        cmp = filecmp.dircmp(folder, got)
        assert not (cmp.left_only or cmp.right_only or cmp.diff_files), cmp.report()
        assert filecmp.cmp(folder / "sub" / "blob.bin", Path(got) / "sub" / "blob.bin", shallow=False)
        one = client.download_artifacts(rid, "reports/report.txt", str(where))
        assert Path(one).read_text() == "accuracy 0.93\n"

    (tmp_path / "owner-dl").mkdir()
    check_downloads(tmp_path / "owner-dl")

    act.reader()
    assert {a.path for a in client.list_artifacts(rid)} == {"report.txt", "reports", "folder"}
    (tmp_path / "reader-dl").mkdir()
    check_downloads(tmp_path / "reader-dl")
    evil = tmp_path / "evil.txt"
    evil.write_text("should not land\n")
    denied(client.log_artifact, rid, str(evil))
    denied(client.log_artifact, rid, str(evil), artifact_path="reports")
    denied(client.log_artifacts, rid, str(folder), artifact_path="copied-by-reader")

    act.owner()
    assert {a.path for a in client.list_artifacts(rid)} == {"report.txt", "reports", "folder"}
    assert {a.path for a in client.list_artifacts(rid, "reports")} == {"reports/report.txt"}


def _doubler_class():
    """A tiny pyfunc model (no ML library needed); defined lazily because the
    module must import without mlflow so the suite can skip cleanly."""
    import mlflow.pyfunc

    class DoublerModel(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [2 * x for x in model_input["x"]]

    return DoublerModel


def test_model_registry(act, client, denied, expect_http_error, uniq, tmp_path: Path):
    import mlflow
    import pandas as pd

    act.owner()
    eid = client.create_experiment(uniq("registry"))
    with mlflow.start_run(experiment_id=eid) as run:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_doubler_class()(), pip_requirements=["mlflow"]
        )
    name = uniq("model")
    v1 = mlflow.register_model(info.model_uri, name)
    assert v1.version == "1"
    v2 = client.create_model_version(name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id)
    assert v2.version == "2"
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert {v.version for v in client.search_model_versions(f"name = '{name}'")} == {"1", "2"}
    uri = client.get_model_version_download_uri(name, "1")
    assert uri.startswith("mlflow-artifacts:/") and uri.endswith("/artifacts"), uri
    (tmp_path / "owner").mkdir()
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion", dst_path=str(tmp_path / "owner"))
    assert list(model.predict(pd.DataFrame({"x": [1, 2, 3]}))) == [2, 4, 6]

    act.reader()
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert {v.version for v in client.search_model_versions(f"name = '{name}'")} == {"1", "2"}
    assert client.get_model_version_download_uri(name, "1") == uri
    (tmp_path / "reader").mkdir()
    model = mlflow.pyfunc.load_model(f"models:/{name}/1", dst_path=str(tmp_path / "reader"))
    assert list(model.predict(pd.DataFrame({"x": [5]}))) == [10]
    denied(client.set_registered_model_alias, name, "champion", "2")
    denied(client.delete_registered_model_alias, name, "champion")
    denied(client.create_model_version, name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id)
    denied(client.update_model_version, name, "1", description="by reader")
    denied(client.set_model_version_tag, name, "1", "k", "v")
    denied(client.delete_model_version, name, "2")
    denied(client.rename_registered_model, name, name + "-by-reader")
    denied(client.delete_registered_model, name)

    act.owner()
    client.delete_model_version(name, "2")
    assert {v.version for v in client.search_model_versions(f"name = '{name}'")} == {"1"}
    expect_http_error(404, "RESOURCE_DOES_NOT_EXIST", client.get_model_version, name, "2")
    assert client.get_model_version_by_alias(name, "champion").version == "1"


def test_traces(act, client, denied, uniq, monkeypatch):
    import mlflow

    act.owner()
    eid = client.create_experiment(uniq("traces"))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", eid)

    @mlflow.trace(name="e2e_predict")
    def predict(x: int) -> int:
        return 2 * x

    assert predict(21) == 42
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id
    mlflow.flush_trace_async_logging()

    trace = client.get_trace(trace_id, display=False)
    assert trace.info.experiment_id == eid
    assert [s.name for s in trace.data.spans] == ["e2e_predict"]
    assert trace.data.spans[0].outputs == 42
    assert trace.data.spans[0].inputs == {"x": 21}
    found = mlflow.search_traces(locations=[eid], return_type="list")
    assert [t.info.trace_id for t in found] == [trace_id]
    client.set_trace_tag(trace_id, "reviewed", "yes")
    assert client.get_trace(trace_id, display=False).info.tags["reviewed"] == "yes"

    act.reader()
    assert client.get_trace(trace_id, display=False).data.spans[0].outputs == 42
    assert [t.info.trace_id for t in mlflow.search_traces(locations=[eid], return_type="list")] == [trace_id]
    denied(client.set_trace_tag, trace_id, "reviewed", "no")
    denied(client.delete_trace_tag, trace_id, "reviewed")
    denied(client.delete_traces, eid, trace_ids=[trace_id])

    act.owner()
    assert client.get_trace(trace_id, display=False).info.tags["reviewed"] == "yes"


def test_prompts(act, denied, uniq):
    import mlflow

    act.owner()
    name = uniq("prompt").replace("-", "_")
    v1 = mlflow.genai.register_prompt(
        name=name, template="Summarize {{text}} in {{n}} words.", commit_message="first"
    )
    v2 = mlflow.genai.register_prompt(name=name, template="Summarize {{text}} in at most {{n}} words.")
    assert (v1.version, v2.version) == (1, 2)
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}/2", cache_ttl_seconds=0)
    assert loaded.format(text="the paper", n=10) == "Summarize the paper in at most 10 words."
    by_alias = mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert by_alias.version == 1 and by_alias.template == "Summarize {{text}} in {{n}} words."

    act.reader()
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1", cache_ttl_seconds=0).commit_message == "first"
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0).version == 1
    denied(mlflow.genai.register_prompt, name=name, template="Hijacked {{text}}")
    denied(mlflow.genai.set_prompt_alias, name, alias="production", version=2)
    denied(mlflow.genai.delete_prompt_alias, name, alias="production")

    act.owner()
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0).version == 1
    assert mlflow.genai.load_prompt(f"prompts:/{name}/2", cache_ttl_seconds=0).template.startswith("Summarize")
    assert mlflow.genai.load_prompt(f"prompts:/{name}/3", allow_missing=True, cache_ttl_seconds=0) is None
