"""What the MLflow import tests put into MLflow, through its REST API as a client would (`MlflowClient`), and the
registry every test module starts from (`seed`): experiments with runs (params, metrics, tags; one deleted, two
with the same name, some that no version links to), registered models with descriptions, tags and aliases, and
versions in every legacy stage, one of them an MLflow 3 logged model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from importers.mlflow_server import MlflowServer

T0 = 1_700_000_000_000  # runs' times: fixed, so tests can compare them


class MlflowClient:
    """MLflow's REST API, the calls the seeding needs."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.api, timeout=30)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.get(path, params=body) if method == "GET" else self.http.post(path, json=body)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    def experiment(self, name: str, *, description: str | None = None, **tags: str) -> str:
        if description is not None:
            tags["mlflow.note.content"] = description
        body = self.call("POST", "/experiments/create", name=name, tags=_tags(tags))
        return str(body["experiment_id"])

    def run(
        self,
        experiment_id: str,
        name: str,
        *,
        user: str,
        start: int,
        params: dict[str, str] | None = None,
        metrics: list[tuple[str, float, int]] | None = None,  # (key, value, step), logged in this order
        status: str = "FINISHED",
        **tags: str,
    ) -> str:
        created = self.call(
            "POST",
            "/runs/create",
            experiment_id=experiment_id,
            run_name=name,
            user_id=user,
            start_time=start,
            tags=_tags(tags),
        )
        run_id = str(created["run"]["info"]["run_id"])
        logged = [
            {"key": key, "value": value, "timestamp": start + 1000 * (i + 1), "step": step}
            for i, (key, value, step) in enumerate(metrics or [])
        ]
        params_list = [{"key": k, "value": v} for k, v in (params or {}).items()]
        self.call("POST", "/runs/log-batch", run_id=run_id, params=params_list, metrics=logged)
        self.call("POST", "/runs/update", run_id=run_id, status=status, end_time=start + 60_000)
        return run_id

    def delete_run(self, run_id: str) -> None:
        self.call("POST", "/runs/delete", run_id=run_id)

    def delete_experiment(self, experiment_id: str) -> None:
        self.call("POST", "/experiments/delete", experiment_id=experiment_id)

    def model(self, name: str, *, description: str = "", **tags: str) -> None:
        self.call("POST", "/registered-models/create", name=name, description=description, tags=_tags(tags))

    def version(
        self,
        model: str,
        source: str,
        *,
        run_id: str | None = None,
        model_id: str | None = None,
        description: str = "",
        stage: str | None = None,
        user: str | None = None,
        **tags: str,
    ) -> str:
        body: dict[str, Any] = {"name": model, "source": source, "description": description, "tags": _tags(tags)}
        if run_id:
            body["run_id"] = run_id
        if model_id:
            body["model_id"] = model_id
        version = str(self.call("POST", "/model-versions/create", **body)["model_version"]["version"])
        if stage:
            self.transition(model, version, stage)
        if user:  # MLflow's REST API takes no user for a version: a server with an auth plugin sets it
            self.server.sql(
                "UPDATE model_versions SET user_id = ? WHERE name = ? AND version = ?", user, model, version
            )
        return version

    def logged_model(self, experiment_id: str, name: str, run_id: str) -> tuple[str, str]:
        """An MLflow 3 logged model: its id and its artifact location."""
        info = self.call("POST", "/logged-models", experiment_id=experiment_id, name=name, source_run_id=run_id)
        return str(info["model"]["info"]["model_id"]), str(info["model"]["info"]["artifact_uri"])

    def transition(self, model: str, version: str, stage: str) -> None:
        self.call(
            "POST",
            "/model-versions/transition-stage",
            name=model,
            version=version,
            stage=stage,
            archive_existing_versions=False,
        )

    def alias(self, model: str, alias: str, version: str) -> None:
        self.call("POST", "/registered-models/alias", name=model, alias=alias, version=version)

    def tag_version(self, model: str, version: str, key: str, value: str) -> None:
        self.call("POST", "/model-versions/set-tag", name=model, version=version, key=key, value=value)

    def registered_models(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/registered-models/search", max_results=1000).get("registered_models", []))

    def model_versions(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/model-versions/search", max_results=10_000).get("model_versions", []))

    def get_run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.call("GET", "/runs/get", run_id=run_id)["run"]
        return run

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        experiment: dict[str, Any] = self.call("GET", "/experiments/get", experiment_id=experiment_id)["experiment"]
        return experiment


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@dataclass
class Seeded:
    """Ids and facts the tests check beyond what MLflow's own listings answer."""

    runs: dict[str, str] = field(default_factory=dict)  # label → run id
    experiments: dict[str, str] = field(default_factory=dict)  # label → experiment id
    logged_model_uri: str = ""
    missing_run: str = ""
    unlinked_runs: set[str] = field(default_factory=set)
    unlinked_experiments: set[str] = field(default_factory=set)


def seed(mlflow: MlflowClient) -> Seeded:
    s = Seeded()
    training = mlflow.experiment("fraud-training", description="Fraud detection training runs", team="risk")
    s.experiments["training"] = training
    s.runs["a"] = mlflow.run(
        training,
        "baseline",
        user="alice",
        start=T0,
        params={"lr": "0.1", "epochs": "10"},
        metrics=[("acc", 0.8, 0), ("acc", 0.91, 1), ("loss", 0.3, 1)],
        git_commit="abc123",
    )
    s.runs["b"] = mlflow.run(  # the same name as run a: MLflow allows it, modelreg names it apart
        training, "baseline", user="bob", start=T0 + 100_000, params={"lr": "0.01"}, metrics=[("acc", 0.93, 0)]
    )
    s.runs["unlinked"] = mlflow.run(training, "exploration", user="alice", start=T0 + 200_000, status="FAILED")
    scratch = mlflow.experiment("scratch")
    s.unlinked_runs = {s.runs["unlinked"], mlflow.run(scratch, "lonely", user="carol", start=T0)}
    s.unlinked_experiments = {scratch}
    old = mlflow.experiment("old-experiment")
    s.experiments["old"] = old
    s.runs["deleted"] = mlflow.run(old, "legacy", user="dave", start=T0 - 86_400_000, params={"depth": "4"})
    mlflow.delete_run(s.runs["deleted"])
    mlflow.delete_experiment(old)

    mlflow.model("fraud-detector", description="Flags fraudulent payments", domain="payments", team="risk")
    mlflow.version(
        "fraud-detector", "s3://models/fraud/1", run_id=s.runs["a"], stage="Archived", user="alice", framework="sklearn"
    )
    mlflow.version(
        "fraud-detector",
        "s3://models/fraud/2",
        run_id=s.runs["b"],
        description="better",
        stage="Production",
        user="bob",
    )
    mlflow.version("fraud-detector", "s3://models/fraud/3", stage="Staging", user="carol")
    model_id, s.logged_model_uri = mlflow.logged_model(training, "fraud-lm", s.runs["b"])
    mlflow.version("fraud-detector", f"models:/{model_id}", run_id=s.runs["b"], model_id=model_id)
    mlflow.alias("fraud-detector", "champion", "2")
    mlflow.alias("fraud-detector", "challenger", "3")
    mlflow.model("churn", owner="growth")
    mlflow.version("churn", "gs://bucket/churn/1", run_id=s.runs["deleted"], description="from an old run")
    gone = mlflow.version("churn", "s3://bucket/churn/2")
    s.missing_run = uuid.uuid4().hex  # a run MLflow no longer has (garbage-collected): the version keeps its id
    mlflow.server.sql("UPDATE model_versions SET run_id = ? WHERE name = 'churn' AND version = ?", s.missing_run, gone)
    mlflow.model("empty-model", description="no versions yet")
    return s


_SEEDED: dict[str, tuple[MlflowClient, Seeded]] = {}


def seeded_once(server: MlflowServer) -> tuple[MlflowClient, Seeded]:
    """The server's client and seed, made at the first call (the server outlives its module's fixtures, see
    mlflow_server.py, and must not be seeded twice)."""
    if server.url not in _SEEDED:
        client = MlflowClient(server)
        _SEEDED[server.url] = (client, seed(client))
    return _SEEDED[server.url]
