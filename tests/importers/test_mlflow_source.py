"""The MLflow source alone, against a real MLflow 3.x server (mlflow_server.py) seeded through its REST API: the
entities it yields (parents first, in modelreg's terms, keyed by MLflow's ids), paging, and its one-line errors for
a URL that is not a usable MLflow."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import free_port
from importers.mlflow_seed import MlflowClient, Seeded, seeded_once
from importers.mlflow_server import MlflowServer
from modelreg.importers import mlflow_api
from modelreg.importers.mlflow import MlflowSource
from modelreg.importers.model import SourceEntity, SourceError

TOKEN = "mlflow-TOKEN-7f3e9a"  # distinctive, so a leak into a message is easy to spot


@pytest.fixture(scope="module")
def seeded(mlflow_server: MlflowServer) -> tuple[MlflowClient, Seeded]:
    return seeded_once(mlflow_server)


@pytest.fixture(scope="module")
def entities(mlflow_server: MlflowServer, seeded: tuple[MlflowClient, Seeded]) -> list[SourceEntity]:
    with MlflowSource(mlflow_server.url) as source:
        return list(source.entities())


def by_id(entities: list[SourceEntity], kind: str) -> dict[str, SourceEntity]:
    return {e.source_id: e for e in entities if e.kind == kind}


def test_parents_come_first_and_total_counts_every_entity(
    mlflow_server: MlflowServer, entities: list[SourceEntity]
) -> None:
    seen: set[tuple[str, str]] = set()
    for entity in entities:
        for ref in entity.parents:
            assert (ref.kind, ref.source_id) in seen, f"{entity.kind} {entity.source_id} before its parent {ref}"
        assert (entity.kind, entity.source_id) not in seen
        seen.add((entity.kind, entity.source_id))
    with MlflowSource(mlflow_server.url + "/") as source:
        assert source.total() == len(entities)
        assert source.name == f"mlflow:{mlflow_server.url}"  # the ledger's key: the same with or without a slash
    # 2 experiments, 3 linked runs (2 params + 2 metrics, 1 + 1, 1 + 0), 3 models, 6 versions with 6 model artifacts
    assert Counter(e.kind for e in entities) == {
        "experiment": 2,
        "experiment_run": 3,
        "registered_model": 3,
        "model_version": 6,
        "artifact": 6 + 4 + 2 + 1,
    }


def test_registered_models_keep_descriptions_tags_aliases_and_times(
    seeded: tuple[MlflowClient, Seeded], entities: list[SourceEntity]
) -> None:
    client, _ = seeded
    models = by_id(entities, "registered_model")
    mlflow_models = client.registered_models()
    assert sorted(models) == sorted(m["name"] for m in mlflow_models)
    for m in mlflow_models:
        model = models[m["name"]]
        assert model.fields["name"] == m["name"]
        assert model.fields.get("description", "") == m.get("description", "")
        assert model.create_time_ms == m["creation_timestamp"]
        tags = {t["key"]: t["value"] for t in m.get("tags", [])}
        aliases = {f"mlflow.alias.{a['alias']}": a["version"] for a in m.get("aliases", [])}
        assert dict(model.custom_properties) == tags | aliases
    assert models["fraud-detector"].custom_properties["mlflow.alias.champion"] == "2"


def test_versions_map_stages_authors_and_sources(
    seeded: tuple[MlflowClient, Seeded], entities: list[SourceEntity]
) -> None:
    client, s = seeded
    versions, artifacts = by_id(entities, "model_version"), by_id(entities, "artifact")
    expected_stage = {"None": "development", "Staging": "staging", "Production": "production", "Archived": "deprecated"}
    for v in client.model_versions():
        key = f"{v['name']}/{v['version']}"
        version, artifact = versions[key], artifacts[key]
        assert version.fields["name"] == v["version"]
        assert version.stage == expected_stage[v["current_stage"]]
        assert version.fields["state"] == ("ARCHIVED" if v["current_stage"] == "Archived" else "LIVE")
        assert version.fields.get("description", "") == v.get("description", "")
        assert version.create_time_ms == v["creation_timestamp"]
        assert version.update_time_ms == v["last_updated_timestamp"]
        assert [(r.kind, r.source_id) for r in version.parents] == [("registered_model", v["name"])]
        tags = {t["key"]: t["value"] for t in v.get("tags", [])}
        assert {k: val for k, val in version.custom_properties.items() if not k.startswith("mlflow.")} == tags
        assert version.custom_properties.get("mlflow.run_id") == (v.get("run_id") or None)
        assert artifact.fields["artifactType"] == "model-artifact"
        assert artifact.parents[0].kind == "model_version" and artifact.parents[0].source_id == key
    authors = {k: v.fields.get("author") for k, v in versions.items() if k.startswith("fraud-detector/")}
    assert authors == {
        "fraud-detector/1": "alice",
        "fraud-detector/2": "bob",
        "fraud-detector/3": "carol",
        "fraud-detector/4": None,
    }
    assert artifacts["fraud-detector/2"].fields["uri"] == "s3://models/fraud/2"
    # an MLflow 3 logged model: its files' location, the models:/ reference kept beside it
    logged = versions["fraud-detector/4"]
    assert artifacts["fraud-detector/4"].fields["uri"] == s.logged_model_uri
    assert str(logged.custom_properties["mlflow.source"]).startswith("models:/m-")
    # the artifact is the output of the run the version names, when MLflow still has that run
    assert [(r.kind, r.source_id) for r in artifacts["fraud-detector/2"].parents[1:]] == [
        ("experiment_run", s.runs["b"])
    ]
    assert [r.kind for r in artifacts["churn/2"].parents] == ["model_version"]
    assert versions["churn/2"].custom_properties["mlflow.run_id"] == s.missing_run


def test_only_the_runs_versions_link_to_with_params_and_latest_metrics(
    seeded: tuple[MlflowClient, Seeded], entities: list[SourceEntity]
) -> None:
    client, s = seeded
    runs, experiments, artifacts = (
        by_id(entities, "experiment_run"),
        by_id(entities, "experiment"),
        by_id(entities, "artifact"),
    )
    assert set(runs) == {s.runs["a"], s.runs["b"], s.runs["deleted"]}
    assert set(experiments) == {s.experiments["training"], s.experiments["old"]}
    assert not set(runs) & s.unlinked_runs and not set(experiments) & s.unlinked_experiments
    training = experiments[s.experiments["training"]]
    assert training.fields == {
        "name": "fraud-training",
        "state": "LIVE",
        "description": "Fraud detection training runs",
    }
    assert training.custom_properties["team"] == "risk"
    assert experiments[s.experiments["old"]].fields["state"] == "ARCHIVED"  # deleted in MLflow

    for run_id, run in runs.items():
        info, data = client.get_run(run_id)["info"], client.get_run(run_id)["data"]
        assert [(r.kind, r.source_id) for r in run.parents] == [("experiment", info["experiment_id"])]
        assert run.fields["owner"] == info["user_id"]
        assert run.fields["status"] == info["status"]
        assert run.fields["startTimeSinceEpoch"] == str(info["start_time"])
        assert run.fields["endTimeSinceEpoch"] == str(info["end_time"])
        assert run.fields["state"] == ("ARCHIVED" if info["lifecycle_stage"] == "deleted" else "LIVE")
        params = {k.split("/param/")[1]: a for k, a in artifacts.items() if k.startswith(f"{run_id}/param/")}
        assert {k: a.fields["value"] for k, a in params.items()} == {
            p["key"]: p["value"] for p in data.get("params", [])
        }
        metrics = {k.split("/metric/")[1]: a for k, a in artifacts.items() if k.startswith(f"{run_id}/metric/")}
        latest = {m["key"]: (m["value"], m["step"], str(m["timestamp"])) for m in data.get("metrics", [])}
        assert {k: (a.fields["value"], a.fields["step"], a.fields["timestamp"]) for k, a in metrics.items()} == latest
        assert {h["name"]: (h["value"], h["step"], h["timestamp"]) for h in run.metric_history} == latest
        for artifact in [*params.values(), *metrics.values()]:
            assert [(r.kind, r.source_id) for r in artifact.parents] == [("experiment_run", run_id)]
    a, b = runs[s.runs["a"]], runs[s.runs["b"]]
    assert a.fields["name"] == "baseline"  # the earlier of two runs MLflow named alike keeps the name
    assert b.fields["name"] == f"baseline ({s.runs['b']})"
    assert a.custom_properties["git_commit"] == "abc123"
    assert artifacts[f"{s.runs['a']}/metric/acc"].fields["value"] == 0.91  # the latest step's value


def test_small_pages_and_batches_read_the_same(
    mlflow_server: MlflowServer, entities: list[SourceEntity], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MODELS_PAGE", "VERSIONS_PAGE", "SEARCH_PAGE", "RUN_IDS_PER_SEARCH", "EXPERIMENTS_PER_SEARCH"):
        monkeypatch.setattr(mlflow_api, name, 1)
    with MlflowSource(mlflow_server.url) as source:
        assert list(source.entities()) == entities
        assert source.stats.requests > 20  # one item per page: many requests, the same entities


# --- a URL that is not a usable MLflow ---------------------------------------------------------------------------


class Stub:
    """A tiny HTTP server answering every request with one status and body, recording the requests' headers."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self.headers: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                stub.headers.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_error(url: str, token: str | None = None) -> str:
    with MlflowSource(url, token, timeout=10) as source, pytest.raises(SourceError) as raised:
        source.total()
    message = str(raised.value)
    assert "\n" not in message and TOKEN not in message
    return message


def test_an_unreachable_url_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert read_error(url, TOKEN).startswith(f"cannot reach MLflow at {url}: ConnectError")


def test_a_refused_token_says_so_and_the_token_went_as_bearer() -> None:
    body = b'{"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."}'
    with Stub(401, body, "application/json") as stub:
        message = read_error(stub.url, TOKEN)
    assert message == f"MLflow at {stub.url} refused the request (401): give a valid token (--token or --token-env)"
    assert stub.headers[0]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (404, b"<html>Not Found</html>", "it has no MLflow REST API (404 for /api/2.0/mlflow)"),
        (200, b"<html>a web page</html>", "/registered-models/search did not answer JSON"),
        (
            200,
            b'{"registered_models": "none"}',
            "/registered-models/search answered without a list of registered_models",
        ),
    ],
)
def test_a_server_that_is_not_mlflow_says_so(status: int, body: bytes, why: str) -> None:
    with Stub(status, body, "text/html" if body.startswith(b"<") else "application/json") as stub:
        assert read_error(stub.url) == f"{stub.url} is not an MLflow tracking server: {why}"
        assert "Authorization" not in stub.headers[0]  # no token given, none sent
