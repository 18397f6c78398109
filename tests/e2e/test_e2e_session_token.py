"""Issue 3: a Descope session JWT as MLFLOW_TRACKING_TOKEN works with the official client."""

from __future__ import annotations

from pathlib import Path


def test_session_jwt_as_tracking_token(stack, mlflow_env, uniq, tmp_path: Path):
    import mlflow
    from mlflow import MlflowClient

    user = stack.new_user(prefix="scientist")
    jwt = stack.session_jwt(user)
    mlflow_env.token(jwt)
    client = MlflowClient(tracking_uri=stack.url)

    name = uniq("session-exp")
    exp_id = client.create_experiment(name)
    assert client.get_experiment_by_name(name).experiment_id == exp_id

    src = tmp_path / "notes.txt"
    src.write_text("trained with a session token\n")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params({"lr": "0.01", "epochs": "3"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_artifact(str(src), artifact_path="docs")
    run_id = run.info.run_id

    me = stack.whoami(f"Bearer {jwt}")
    assert me["username"] == stack.username(user), "MLflow sees the user's login ID"
    assert me["is_admin"] is False

    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.01", "epochs": "3"}
    assert got.data.metrics["loss"] == 0.25
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.9, 0.5, 0.25]
    assert [a.path for a in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    out = client.download_artifacts(run_id, "docs/notes.txt", str(tmp_path / "dl"))
    assert Path(out).read_text() == "trained with a session token\n"
