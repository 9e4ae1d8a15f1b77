"""``modelreg import mlflow`` from a real MLflow 3.x server (mlflow_server.py, seeded once per module through its
REST API: mlflow_seed.py) into the registry under test: the imported registry answers what MLflow answers (models,
versions, descriptions, tags and aliases, stages and archive state, authors, creation times, artifact URIs, lineage
to the run with its params and metrics), a re-run writes nothing, a change in MLflow updates exactly that, an
interrupted import resumes, ``--dry-run`` writes nothing and says what it would, the audit trail names the importing
user and the source, and an unreachable MLflow is one line and exit 1."""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from cli_runner import invoke_cli, process_on_sqlite
from conftest import SQLITE_ONLY, ServerThread, empty, free_port
from importers.checks import audit_head, audit_since, totals
from importers.mlflow_seed import MlflowClient, Seeded, seeded_once
from importers.mlflow_server import MlflowServer
from importers.sources import Interrupted
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import import_records
from modelreg.importers import runner
from modelreg.importers.kubeflow import API_PATH
from modelreg.importers.mlflow import MlflowSource
from modelreg.services.imports import PROVENANCE_PROPERTY
from modelreg.stages import LIFECYCLE_PROPERTY

sqlite_only = getattr(pytest.mark, SQLITE_ONLY)
ANY_STATE = "state = 'LIVE' OR state = 'ARCHIVED'"
STAGES = {"None": "development", "Staging": "staging", "Production": "production", "Archived": "deprecated"}
KINDS = "registered model|model version|experiment run|experiment|artifact"


@pytest.fixture(scope="module")
def mlflow(mlflow_server: MlflowServer) -> tuple[MlflowClient, Seeded]:
    return seeded_once(mlflow_server)


@pytest.fixture
def target(server: ServerThread, database: Database) -> Iterator[httpx.Client]:
    """The registry under test, empty, read through its Kubeflow API."""
    empty(database)
    with httpx.Client(base_url=server.url + API_PATH, timeout=30) as client:
        yield client


def import_cli(client: MlflowClient, db: Database, *args: str) -> Any:
    return invoke_cli("import", "mlflow", "--url", client.server.url, "--database-url", db.url, *args)


def rows(stdout: str) -> dict[str, tuple[int, int, int, int]]:
    """The summary table's rows by kind: created, updated, unchanged, failed."""
    found = re.findall(rf"({KINDS})\W+(\d+)\W+(\d+)\W+(\d+)\W+(\d+)", stdout)
    return {kind: (int(c), int(u), int(n), int(f)) for kind, c, u, n, f in found}


# --- the same questions, asked of MLflow and of the registry --------------------------------------------------------


def _tags(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def mlflow_answers(client: MlflowClient) -> dict[str, Any]:
    """What MLflow says about its registry, each version with the run it came from (params and latest metrics)."""
    models = {
        m["name"]: {
            "description": m.get("description", ""),
            "created": m["creation_timestamp"],
            "tags": _tags(m),
            "aliases": {a["alias"]: a["version"] for a in m.get("aliases", [])},
        }
        for m in client.registered_models()
    }
    runs: dict[str, Any] = {}
    versions = {}
    for v in client.model_versions():
        run_id = v.get("run_id") or None
        if run_id and run_id not in runs:
            runs[run_id] = _mlflow_run(client, run_id)
        versions[v["name"], v["version"]] = {
            "description": v.get("description", ""),
            "author": v.get("user_id"),
            "created": v["creation_timestamp"],
            "stage": STAGES[v["current_stage"]],
            "archived": v["current_stage"] == "Archived",
            "tags": _tags(v),
            "uri": v["source"],
            "run": run_id if runs.get(run_id) else None,
        }
    return {"models": models, "versions": versions, "runs": {k: v for k, v in runs.items() if v}}


def _mlflow_run(client: MlflowClient, run_id: str) -> dict[str, Any] | None:
    try:
        run = client.get_run(run_id)
    except AssertionError:  # MLflow no longer has it
        return None
    info, data = run["info"], run["data"]
    return {
        "experiment": client.get_experiment(info["experiment_id"])["name"],
        "owner": info["user_id"],
        "status": info["status"],
        "start": info["start_time"],
        "end": info["end_time"],
        "archived": info["lifecycle_stage"] == "deleted",
        "params": {p["key"]: p["value"] for p in data.get("params", [])},
        "metrics": {m["key"]: (m["value"], m["step"]) for m in data.get("metrics", [])},
    }


def _all(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(path, params={"pageSize": "1000", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["nextPageToken"]
    items: list[dict[str, Any]] = body["items"]
    return items


def _props(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: next(v for key, v in p.items() if key != "metadataType") for k, p in entity["customProperties"].items()}


def _source_id(entity: dict[str, Any]) -> str:
    return str(_props(entity)[PROVENANCE_PROPERTY]).rsplit("/", 1)[1] if entity else ""


def registry_answers(target: httpx.Client, source: str, logged_model_uri: str) -> dict[str, Any]:
    """The same questions asked of the registry's Kubeflow API; the runs keyed by the MLflow id the import records."""
    models = {}
    for m in _all(target, "/registered_models", filterQuery=ANY_STATE):
        props = _props(m)
        assert props.pop(PROVENANCE_PROPERTY) == f"{source}#registered_model/{m['name']}"
        aliases = {k.removeprefix("mlflow.alias."): props.pop(k) for k in list(props) if k.startswith("mlflow.alias.")}
        models[m["name"]] = {
            "description": m.get("description", ""),
            "created": int(m["createTimeSinceEpoch"]),
            "tags": props,
            "aliases": aliases,
        }
    names = {m["id"]: m["name"] for m in _all(target, "/registered_models", filterQuery=ANY_STATE)}
    runs = {r["id"]: r for r in _all(target, "/experiment_runs")}
    experiments = {x["id"]: x["name"] for x in _all(target, "/experiments")}
    versions = {}
    for v in _all(target, "/model_versions", filterQuery=ANY_STATE):
        props = _props(v)
        props.pop(PROVENANCE_PROPERTY)
        stage = props.pop(LIFECYCLE_PROPERTY)
        run_id = props.pop("mlflow.run_id", None)
        (artifact,) = _all(target, f"/model_versions/{v['id']}/artifacts")
        uri = artifact["uri"] if artifact["uri"] != logged_model_uri else props.pop("mlflow.source")
        run = runs.get(artifact.get("experimentRunId", ""), {})
        assert _source_id(run) in ("", run_id)  # the artifact's run is the one the version names
        versions[names[v["registeredModelId"]], v["name"]] = {
            "description": v.get("description", ""),
            "author": v.get("author"),
            "created": int(v["createTimeSinceEpoch"]),
            "stage": stage,
            "archived": v["state"] == "ARCHIVED",
            "tags": props,
            "uri": uri,
            "run": _source_id(run) or None,
        }
    return {
        "models": models,
        "versions": versions,
        "runs": {_source_id(r): _run(target, r, experiments) for r in runs.values()},
    }


def _run(target: httpx.Client, run: dict[str, Any], experiments: dict[str, str]) -> dict[str, Any]:
    artifacts = _all(target, f"/experiment_runs/{run['id']}/artifacts")
    history = _all(target, f"/experiment_runs/{run['id']}/metric_history")
    metrics = {a["name"]: (a["value"], a["step"]) for a in artifacts if a["artifactType"] == "metric"}
    assert {h["name"]: (h["value"], h["step"]) for h in history} == metrics
    return {
        "experiment": experiments[run["experimentId"]],
        "owner": run["owner"],
        "status": run["status"],
        "start": int(run["startTimeSinceEpoch"]),
        "end": int(run["endTimeSinceEpoch"]),
        "archived": run["state"] == "ARCHIVED",
        "params": {a["name"]: a["value"] for a in artifacts if a["artifactType"] == "parameter"},
        "metrics": metrics,
    }


def assert_same(client: MlflowClient, seeded: Seeded, target: httpx.Client) -> dict[str, Any]:
    expected = mlflow_answers(client)
    assert registry_answers(target, f"mlflow:{client.server.url}", seeded.logged_model_uri) == expected
    return expected


# --- tests ---------------------------------------------------------------------------------------------------------


def test_the_imported_registry_answers_what_mlflow_answers(
    mlflow: tuple[MlflowClient, Seeded], target: httpx.Client, database: Database
) -> None:
    client, seeded = mlflow
    before = audit_head(database)
    run_cli = process_on_sqlite(database.url)  # once as a real process
    imported = run_cli("import", "mlflow", "--url", client.server.url, "--database-url", database.url)
    assert imported.returncode == 0, imported.stderr
    created, updated, unchanged, failed = totals(imported.stdout)
    assert (updated, unchanged, failed) == (0, 0, 0)

    expected = assert_same(client, seeded, target)
    assert len(expected["versions"]) >= 6 and len(expected["runs"]) == 3  # the linked runs MLflow still has
    assert {v["stage"] for v in expected["versions"].values()} == set(STAGES.values())
    assert any(v["archived"] for v in expected["versions"].values())
    assert expected["versions"]["fraud-detector", "2"]["author"] == "bob"
    assert expected["models"]["fraud-detector"]["aliases"] == {"champion": "2", "challenger": "3"}
    runs = {r["name"] for r in _all(target, "/experiment_runs")}
    assert not runs & {"exploration", "lonely"}  # runs no version links to stay behind
    assert {x["name"] for x in _all(target, "/experiments")} == {"fraud-training", "old-experiment"}

    records = audit_since(database, before)
    assert {r["actor"] for r in records} == {f"cli:{getpass.getuser()}"}
    assert {r["client"] for r in records} == {f"import mlflow:{client.server.url}"}
    assert len({r["request_id"] for r in records}) == 1
    stages = [(r["entity_name"], orjson.loads(r["changes"])) for r in records if r["action"] == "promote"]
    promoted = {(name, changes["after"][LIFECYCLE_PROPERTY]) for name, changes in stages}
    assert {("2", "production"), ("3", "staging"), ("1", "deprecated")} <= promoted

    head = audit_head(database)
    again = import_cli(client, database)
    assert again.returncode == 0, again.stderr
    assert totals(again.stdout) == (0, 0, created, 0)
    assert audit_head(database) == head


@sqlite_only("the import's decisions")
def test_a_change_in_mlflow_updates_exactly_that(
    mlflow: tuple[MlflowClient, Seeded], target: httpx.Client, database: Database
) -> None:
    client, seeded = mlflow
    client.model("changing", description="changes after its import")
    client.version("changing", "s3://models/changing/1", stage="Staging")
    assert import_cli(client, database).returncode == 0

    client.tag_version("changing", "1", "validated", "yes")
    client.transition("changing", "1", "Production")
    client.version("changing", "s3://models/changing/2")
    head = audit_head(database)
    again = import_cli(client, database)
    assert again.returncode == 0, again.stderr
    changed = {kind: counts[:2] for kind, counts in rows(again.stdout).items() if counts[:2] != (0, 0)}
    # version 1 updated, version 2 and its artifact created; MLflow moved the model's last update time too
    assert changed == {"registered model": (0, 1), "model version": (1, 1), "artifact": (1, 0)}
    changes = {(r["action"], r["entity_kind"], r["entity_name"]) for r in audit_since(database, head)}
    assert changes == {
        ("update", "model_version", "1"),
        ("promote", "model_version", "1"),
        ("create", "model_version", "2"),
        ("create", "artifact", "changing"),
    }
    assert_same(client, seeded, target)


@sqlite_only("resuming from the ledger")
def test_an_interrupted_import_resumes_and_ends_identical(
    mlflow: tuple[MlflowClient, Seeded], target: httpx.Client, database: Database
) -> None:
    client, seeded = mlflow
    with context.acting_as(context.cli_context()), MlflowSource(client.server.url) as source:
        with pytest.raises(KeyboardInterrupt):
            runner.run(Interrupted(source, 10, KeyboardInterrupt()), database)
        total = source.total()
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(import_records)).scalar_one() == 10

    resumed = import_cli(client, database)
    assert resumed.returncode == 0, resumed.stderr
    created, updated, unchanged, failed = totals(resumed.stdout)
    assert (created, updated, unchanged, failed) == (total - 10, 0, 10, 0)
    assert_same(client, seeded, target)
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(import_records)).scalar_one() == total


@sqlite_only("what a dry run writes")
def test_a_dry_run_writes_nothing_and_prints_what_would_change(
    mlflow: tuple[MlflowClient, Seeded], target: httpx.Client, database: Database
) -> None:
    client, _ = mlflow
    head = audit_head(database)
    planned = import_cli(client, database, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would create registered model 'fraud-detector' (source id fraud-detector)" in planned.stdout
    assert "would create model version '2' (source id fraud-detector/2)" in planned.stdout
    assert "nothing was written" in planned.stdout
    assert audit_head(database) == head
    assert _all(target, "/registered_models", filterQuery=ANY_STATE) == []

    assert import_cli(client, database).returncode == 0
    client.tag_version("fraud-detector", "3", "reviewed", "no")
    head = audit_head(database)
    planned = import_cli(client, database, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would update model version '3' (source id fraud-detector/3)" in planned.stdout
    assert "would create" not in planned.stdout
    assert audit_head(database) == head
    assert import_cli(client, database).returncode == 0
    assert audit_head(database) > head  # what the dry run announced, done


@sqlite_only("the import's error handling")
def test_an_unreachable_mlflow_is_one_line_and_writes_nothing(target: httpx.Client, database: Database) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    head = audit_head(database)
    result = process_on_sqlite(database.url)(
        "import", "mlflow", "--url", url, "--token", "s3cret-TOKEN", "--database-url", database.url
    )
    assert result.returncode == 1
    assert (
        result.stderr.startswith(f"error: cannot reach MLflow at {url}: ConnectError")
        and result.stderr.count("\n") == 1
    )
    assert "s3cret-TOKEN" not in result.stderr
    assert result.stdout == ""
    assert audit_head(database) == head
