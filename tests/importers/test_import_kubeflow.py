"""``modelreg import kubeflow`` from a second modelreg server (its own SQLite database, token auth) seeded over the
Kubeflow REST API, into the registry under test: the imported registry answers the same questions (every kind,
names, custom properties, states, stages, lineage, metric history, serving), a re-run writes nothing, a change at
the source updates exactly that, an interrupted import resumes, ``--dry-run`` writes nothing, the audit trail names
the importing user and the source, and a source that cannot be read is one line and exit 1 with nothing written."""

from __future__ import annotations

import base64
import getpass
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from cli_runner import invoke_cli, process_on_sqlite
from conftest import SQLITE_ONLY, ServerThread, empty, free_port
from importers.checks import audit_head, audit_since, totals
from importers.sources import Interrupted
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import import_records, registered_models
from modelreg.importers import runner
from modelreg.importers.kubeflow import API_PATH, KubeflowSource
from modelreg.importers.model import SourceError
from modelreg.importers.writer import Outcome
from modelreg.services.access import AccessService
from modelreg.services.imports import PROVENANCE_PROPERTY
from modelreg.settings import AuthSettings, Settings

sqlite_only = getattr(pytest.mark, SQLITE_ONLY)
ANY_STATE = "state = 'LIVE' OR state = 'ARCHIVED'"
TOKEN_ENV = "KUBEFLOW_TOKEN"


@dataclass
class SourceRegistry:
    url: str
    db: Database
    token: str
    api: httpx.Client  # the Kubeflow API as an admin
    governance: httpx.Client

    def post(self, path: str, body: dict[str, Any]) -> str:
        response = self.api.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def patch(self, path: str, body: dict[str, Any]) -> None:
        response = self.api.patch(path, json=body)
        assert response.status_code == 200, response.text

    def promote(self, version_id: str, *stages: str) -> None:
        for stage in stages:
            response = self.governance.post(f"/model_versions/{version_id}/promote", json={"stage": stage})
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def source_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Database]]:
    tmp = tmp_path_factory.mktemp("kubeflow-source")
    db = Database(f"sqlite:///{tmp / 'source.db'}")
    migrations.upgrade(db.engine)
    settings = Settings(
        database_url=db.url, data_dir=tmp / "data", auth=AuthSettings(methods=["token"], cache_seconds=0)
    )
    with ServerThread(create_app(settings, db)) as running:
        yield running, db
    db.dispose()


@pytest.fixture
def source(source_server: tuple[ServerThread, Database]) -> Iterator[SourceRegistry]:
    """An empty source registry and an admin's token for it."""
    server, db = source_server
    empty(db)
    access = AccessService(db)
    with context.acting_as(context.cli_context()):
        access.create_binding("user", "importer", "admin")
        token, _ = access.create_token("importer")
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=server.url + API_PATH, headers=headers, timeout=30) as api,
        httpx.Client(base_url=f"{server.url}/api/governance/v1", headers=headers, timeout=30) as governance,
    ):
        yield SourceRegistry(server.url, db, token, api, governance)


@pytest.fixture
def target(server: ServerThread, database: Database) -> Iterator[httpx.Client]:
    """The registry under test, empty, read through its Kubeflow API."""
    empty(database)
    with httpx.Client(base_url=server.url + API_PATH, timeout=30) as client:
        yield client


def _string(value: str) -> dict[str, str]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def seed(src: SourceRegistry) -> dict[str, str]:
    """One of everything: typed custom properties, metric history, all artifact types and their links (one artifact
    of a version and a run, one shared by two versions), stages, archived entities, serving. Returns some ids."""
    struct = base64.b64encode(orjson.dumps({"layers": 12, "heads": [8, 16]})).decode()
    props = {
        "License": _string("apache-2.0"),
        "epochs": {"metadataType": "MetadataIntValue", "int_value": "12"},
        "loss": {"metadataType": "MetadataDoubleValue", "double_value": 0.25},
        "tuned": {"metadataType": "MetadataBoolValue", "bool_value": True},
        "config": {"metadataType": "MetadataStructValue", "struct_value": struct},
        "blob": {"metadataType": "MetadataProtoValue", "type": "example.Blob", "proto_value": "AAEC"},
    }
    ids: dict[str, str] = {}
    experiment = src.post("/experiments", {"name": "churn", "owner": "ana", "description": "the churn experiment"})
    run = src.post(
        "/experiment_runs",
        {
            "experimentId": experiment,
            "name": "run-1",
            "status": "FINISHED",
            "owner": "ana",
            "startTimeSinceEpoch": "1700000000000",
            "endTimeSinceEpoch": "1700000600000",
            "customProperties": {"seed": {"metadataType": "MetadataIntValue", "int_value": "7"}},
        },
    )
    src.post("/experiment_runs", {"experimentId": experiment, "name": "run-2", "state": "ARCHIVED"})
    for step, value in enumerate((0.5, 0.75, 0.875)):
        metric = {"artifactType": "metric", "name": "accuracy", "value": value, "step": step, "timestamp": str(step)}
        src.post(f"/experiment_runs/{run}/artifacts", metric)
    parameter = {"artifactType": "parameter", "name": "lr", "value": "0.01", "parameterType": "number"}
    src.post(f"/experiment_runs/{run}/artifacts", parameter)
    dataset = {"artifactType": "dataset-artifact", "name": "train", "uri": "s3://data/train", "digest": "sha256:ab"}
    src.post(f"/experiment_runs/{run}/artifacts", dataset)

    model = src.post(
        "/registered_models",
        {"name": "churn-model", "owner": "ana", "description": "predicts churn", "customProperties": props},
    )
    versions = {}
    for name in ("1.0", "2.0", "3.0"):
        versions[name] = src.post(
            f"/registered_models/{model}/versions",
            {"name": name, "author": "ana", "registeredModelId": model, "customProperties": {"tag": _string(name)}},
        )
    weights = {
        "artifactType": "model-artifact",
        "name": "weights",
        "uri": "s3://models/churn/1",
        "modelFormatName": "onnx",
    }
    weights_id = src.post(f"/model_versions/{versions['1.0']}/artifacts", weights)
    src.post(f"/experiment_runs/{run}/artifacts", {"artifactType": "model-artifact", "id": weights_id})
    src.post(
        f"/model_versions/{versions['1.0']}/artifacts",
        {"artifactType": "doc-artifact", "name": "readme", "uri": "https://x/r"},
    )
    card = src.post("/artifacts", {"artifactType": "doc-artifact", "name": "card", "uri": "https://x/card"})
    for name in ("1.0", "2.0"):
        src.post(f"/model_versions/{versions[name]}/artifacts", {"artifactType": "doc-artifact", "id": card})
    src.post("/artifacts", {"artifactType": "dataset-artifact", "name": "loose", "uri": "s3://data/loose"})
    src.promote(versions["1.0"], "staging", "production")
    src.promote(versions["2.0"], "staging")
    src.patch(f"/model_versions/{versions['3.0']}", {"state": "ARCHIVED"})

    old = src.post("/registered_models", {"name": "old-model"})
    src.post(f"/registered_models/{old}/versions", {"name": "0.1", "registeredModelId": old})
    src.patch(f"/registered_models/{old}", {"state": "ARCHIVED"})

    environment = src.post("/serving_environments", {"name": "production", "description": "the prod cluster"})
    service = src.post(
        "/inference_services",
        {
            "name": "churn",
            "servingEnvironmentId": environment,
            "registeredModelId": model,
            "modelVersionId": versions["1.0"],
            "runtime": "kserve",
            "desiredState": "DEPLOYED",
        },
    )
    src.post(f"/inference_services/{service}/serves", {"name": "serve-1", "modelVersionId": versions["1.0"]})
    ids.update(model=model, run=run, **{f"v{name}": id_ for name, id_ in versions.items()})
    return ids


# --- what a registry answers ---------------------------------------------------------------------------------------


def _all(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        response = client.get(path, params={**params, "pageSize": "2", **({"nextPageToken": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        token = body["nextPageToken"]
        if not token:
            return items


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    """An entity without what differs between two registries holding the same thing: ids and the import's own
    provenance property."""
    out = {k: v for k, v in item.items() if k != "id" and not k.endswith("Id")}
    out["customProperties"] = {k: v for k, v in item["customProperties"].items() if k != PROVENANCE_PROPERTY}
    return out


def picture(client: httpx.Client) -> dict[str, Any]:
    """Everything a client can ask the registry, with ids replaced by names (lineage included)."""
    models = {m["id"]: m for m in _all(client, "/registered_models", filterQuery=ANY_STATE)}
    versions = {v["id"]: v for v in _all(client, "/model_versions", filterQuery=ANY_STATE)}
    experiments = {x["id"]: x for x in _all(client, "/experiments")}
    runs = {r["id"]: r for r in _all(client, "/experiment_runs")}
    version_key = {id_: (models[v["registeredModelId"]]["name"], v["name"]) for id_, v in versions.items()}
    run_key = {id_: (experiments[r["experimentId"]]["name"], r["name"]) for id_, r in runs.items()}
    links: defaultdict[str, list[Any]] = defaultdict(list)
    for id_ in versions:
        for artifact in _all(client, f"/model_versions/{id_}/artifacts"):
            links[artifact["id"]].append(("version", *version_key[id_]))
    for id_ in runs:
        for artifact in _all(client, f"/experiment_runs/{id_}/artifacts"):
            links[artifact["id"]].append(("run", *run_key[id_]))
    artifacts = [
        {**_clean(a), "parents": sorted(links[a["id"]]), "run": run_key.get(a.get("experimentRunId", ""))}
        for a in _all(client, "/artifacts")
    ]
    environments = {e["id"]: e for e in _all(client, "/serving_environments")}
    services = {}
    serves = []
    for service in _all(client, "/inference_services"):
        key = (environments[service["servingEnvironmentId"]]["name"], service["name"])
        services[key] = {
            **_clean(service),
            "model": models[service["registeredModelId"]]["name"],
            "version": version_key.get(service.get("modelVersionId", "")),
        }
        for serve in _all(client, f"/inference_services/{service['id']}/serves"):
            serves.append({**_clean(serve), "service": key, "version": version_key[serve["modelVersionId"]]})
    history = {
        run_key[id_]: sorted(
            (_clean(m) for m in _all(client, f"/experiment_runs/{id_}/metric_history")),
            key=lambda m: (m["name"], m["step"]),
        )
        for id_ in runs
    }
    return {
        "registered_models": {m["name"]: _clean(m) for m in models.values()},
        "model_versions": {version_key[id_]: _clean(v) for id_, v in versions.items()},
        "experiments": {x["name"]: _clean(x) for x in experiments.values()},
        "experiment_runs": {run_key[id_]: _clean(r) for id_, r in runs.items()},
        "metric_history": history,
        "artifacts": sorted(artifacts, key=lambda a: orjson.dumps(a, option=orjson.OPT_SORT_KEYS)),
        "serving_environments": {e["name"]: _clean(e) for e in environments.values()},
        "inference_services": services,
        "serve_models": sorted(serves, key=lambda s: s["name"]),
    }


def import_cli(src: SourceRegistry, db: Database, *args: str) -> Any:
    return invoke_cli(
        "import",
        "kubeflow",
        "--url",
        src.url,
        "--token-env",
        TOKEN_ENV,
        "--database-url",
        db.url,
        *args,
        env={TOKEN_ENV: src.token},
    )


# --- tests ---------------------------------------------------------------------------------------------------------


def test_the_imported_registry_answers_the_same_questions(
    source: SourceRegistry, target: httpx.Client, database: Database
) -> None:
    seed(source)
    before = audit_head(database)
    run_cli = process_on_sqlite(database.url)  # once as a real process
    imported = run_cli(
        "import",
        "kubeflow",
        "--url",
        source.url,
        "--token-env",
        TOKEN_ENV,
        "--database-url",
        database.url,
        env={TOKEN_ENV: source.token},
    )
    assert imported.returncode == 0, imported.stderr
    assert source.token not in imported.stdout + imported.stderr
    created, updated, unchanged, failed = totals(imported.stdout)
    assert (updated, unchanged, failed) == (0, 0, 0)

    expected = picture(source.api)
    assert picture(target) == expected
    assert len(expected["artifacts"]) == 7 and len(expected["model_versions"]) == 4
    assert created == sum(len(expected[k]) for k in expected if k != "metric_history")

    model = target.get("/registered_model", params={"name": "churn-model"}).json()
    provenance = model["customProperties"][PROVENANCE_PROPERTY]["string_value"]
    assert provenance.startswith(f"kubeflow:{source.url}#registered_model/")

    records = audit_since(database, before)
    assert {r["actor"] for r in records} == {f"cli:{getpass.getuser()}"}
    assert {r["client"] for r in records} == {f"import kubeflow:{source.url}"}
    assert len({r["request_id"] for r in records}) == 1 and records[0]["request_id"]
    assert ("promote", "model_version", "1.0") in {(r["action"], r["entity_kind"], r["entity_name"]) for r in records}

    head = audit_head(database)
    again = import_cli(source, database)
    assert again.returncode == 0, again.stderr
    assert totals(again.stdout) == (0, 0, created, 0)
    assert audit_head(database) == head
    assert picture(target) == expected


@sqlite_only("the import's decisions")
def test_a_change_at_the_source_updates_exactly_that(
    source: SourceRegistry, target: httpx.Client, database: Database
) -> None:
    ids = seed(source)
    assert import_cli(source, database).returncode == 0
    source.patch(f"/model_versions/{ids['v2.0']}", {"description": "now described"})
    source.promote(ids["v1.0"], "deprecated")

    head = audit_head(database)
    again = import_cli(source, database)
    assert again.returncode == 0, again.stderr
    assert totals(again.stdout)[:2] == (0, 2)
    changes = {(r["action"], r["entity_name"]) for r in audit_since(database, head)}
    assert changes == {("update", "2.0"), ("promote", "1.0")}
    assert picture(target) == picture(source.api)


@sqlite_only("resuming from the ledger")
def test_an_interrupted_import_resumes_and_ends_identical(
    source: SourceRegistry, target: httpx.Client, database: Database
) -> None:
    seed(source)
    with context.acting_as(context.cli_context()), KubeflowSource(source.url, source.token) as kubeflow:
        stopped = runner.run(Interrupted(kubeflow, 12, SourceError("the connection was lost")), database)
    assert stopped.aborted == "the connection was lost"
    assert stopped.count(outcome=Outcome.CREATED) == 12

    resumed = import_cli(source, database)
    assert resumed.returncode == 0, resumed.stderr
    created, updated, unchanged, failed = totals(resumed.stdout)
    assert (updated, unchanged, failed) == (0, 12, 0) and created > 0
    assert picture(target) == picture(source.api)


@sqlite_only("what a dry run writes")
def test_a_dry_run_writes_nothing(source: SourceRegistry, target: httpx.Client, database: Database) -> None:
    seed(source)
    head = audit_head(database)
    planned = import_cli(source, database, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would create registered model 'churn-model'" in planned.stdout
    assert "would create model version '1.0'" in planned.stdout
    assert totals(planned.stdout)[0] > 0
    assert audit_head(database) == head
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(import_records)).scalar_one() == 0
    assert picture(target)["registered_models"] == {}


@sqlite_only("the import's error handling")
@pytest.mark.parametrize(
    ("url", "token", "says"),
    [
        (lambda src: f"http://127.0.0.1:{free_port()}", "right", "cannot reach"),
        (lambda src: src.url, None, "refused the import"),
        (lambda src: src.url, "mr_not-a-token", "refused the import"),
        (lambda src: f"{src.url}/elsewhere", "right", "does not answer as a Kubeflow Model Registry"),
    ],
    ids=["unreachable", "no token", "bad token", "not a registry"],
)
def test_a_source_that_cannot_be_read_is_one_line_and_writes_nothing(
    source: SourceRegistry, database: Database, target: httpx.Client, url: Any, token: str | None, says: str
) -> None:
    seed(source)
    head = audit_head(database)
    secret = source.token if token == "right" else token
    env = {TOKEN_ENV: secret} if secret else {}
    options = ["--token-env", TOKEN_ENV] if secret else []
    result = invoke_cli("import", "kubeflow", "--url", url(source), *options, "--database-url", database.url, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert secret is None or secret not in result.stderr
    assert audit_head(database) == head
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(registered_models)).scalar_one() == 0
