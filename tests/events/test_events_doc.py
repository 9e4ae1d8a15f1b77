"""docs/events.md stays true: its event type table is `cloudevents.event_types()`, its settings table is
`EventsSettings`, and its GitHub Actions receiver, run verbatim, verifies real signed deliveries (made by the
worker's own sender and `signing`) of real events, and starts the documented workflow through a stand-in for
GitHub's API."""

from __future__ import annotations

import json
import re
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from starlette.testclient import TestClient

from modelreg.app import create_app
from modelreg.db import migrations, tables
from modelreg.db.database import Database
from modelreg.events import cloudevents, signing
from modelreg.events.delivery import send
from modelreg.settings import EventsSettings, Settings

DOC = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
REGISTRY = "/api/model_registry/v1alpha3"
LOCAL = EventsSettings(allow_http=True, allowed_networks=["127.0.0.0/8"])
REPOSITORY = "acme/serving"


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def table_rows(text: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # after the header and its rule


def test_the_type_table_is_every_event_type() -> None:
    documented = set()
    for kinds, verbs, _ in table_rows(section("Event types")):
        for kind in re.findall(r"`(\w+)`", kinds):
            documented |= {f"io.modelreg.{kind}.{verb}" for verb in re.findall(r"`(\w+)`", verbs)}
    assert documented == set(cloudevents.event_types())


def test_the_settings_table_is_every_events_setting() -> None:
    documented = {row[0].strip("`") for row in table_rows(section("Settings")) if row[0].startswith("`events.")}
    assert documented == {f"events.{name}" for name in EventsSettings.model_fields}


# --- the receiver ---------------------------------------------------------------------------------------------------


def receiver_module() -> types.ModuleType:
    """The receiver's code from the doc, as a module (not run as ``__main__``: no server of its own)."""
    (code,) = code_blocks(section("A GitHub Actions receiver"), "python")
    module = types.ModuleType("receiver")
    exec(compile(code, "docs/events.md (receiver)", "exec"), module.__dict__)
    return module


@dataclass
class FakeGitHub:
    """GitHub's REST API as far as the receiver uses it: records each dispatch; answers 204, or ``fail_with``."""

    url: str = ""
    dispatches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Api(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            status = fake.fail_with or 204
            if status == 204:
                fake.dispatches.append((self.path, self.headers["authorization"], body))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server, fake.url = serve(Api)
    yield fake
    server.shutdown()
    server.server_close()


@dataclass
class Receiver:
    url: str
    secret: str
    module: types.ModuleType


@pytest.fixture
def receiver(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    secret = signing.new_secret()
    for name, value in {
        "WEBHOOK_SECRET": secret,
        "GITHUB_TOKEN": "github-test-token",
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": github.url,
    }.items():
        monkeypatch.setenv(name, value)
    module = receiver_module()
    module.Receiver.log_message = lambda *args: None  # quiet
    server, url = serve(module.Receiver)
    yield Receiver(url, secret, module)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def promotion(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real events made by a registry: its relay's bodies by type, for a version promoted to staging and then
    production (the stage change's body is the production one)."""
    data_dir = tmp_path_factory.mktemp("registry")
    db = Database(f"sqlite:///{data_dir / 'registry.db'}")
    migrations.upgrade(db.engine)
    app = create_app(Settings(database_url=db.url, data_dir=data_dir), db)
    license_ = {"License": {"string_value": "Apache-2.0", "metadataType": "MetadataStringValue"}}
    with TestClient(app, client=("127.0.0.1", 50000)) as client:  # local mode: the loopback caller is an admin
        model = client.post(
            f"{REGISTRY}/registered_models", json={"name": "fraud-detector", "customProperties": license_}
        )
        version = client.post(
            f"{REGISTRY}/model_versions", json={"name": "v3", "registeredModelId": model.json()["id"]}
        )
        version_id = version.json()["id"]
        artifact = {"name": "model", "uri": "s3://models/fraud-detector/v3", "artifactType": "model-artifact"}
        assert client.post(f"{REGISTRY}/model_versions/{version_id}/artifacts", json=artifact).status_code == 201
        for stage in ("staging", "production"):
            promoted = client.post(f"/api/governance/v1/model_versions/{version_id}/promote", json={"stage": stage})
            assert promoted.status_code == 200, promoted.text
        assert app.state.event_worker.wait_idle(30)
    with db.read() as conn:
        bodies = {
            row.type: row.body.encode() for row in conn.execute(select(tables.events).order_by(tables.events.c.seq))
        }
    db.dispose()
    return bodies


def deliver(receiver: Receiver, body: bytes, secret: str | None = None) -> int | None:
    """A delivery as the worker makes it (its sender, its signature); the receiver's status code."""
    event_id = json.loads(body)["id"]
    return send(f"{receiver.url}/modelreg", secret or receiver.secret, event_id, body, LOCAL).status_code


def test_a_promotion_to_production_starts_the_workflow_once(
    receiver: Receiver, github: FakeGitHub, promotion: dict[str, bytes]
) -> None:
    body = promotion["io.modelreg.model_version.stage_changed"]
    event = json.loads(body)
    assert event["data"]["entity"]["stage"] == "production"
    assert deliver(receiver, body) == 204
    assert deliver(receiver, body) == 204  # delivered again (at least once): no second rollout
    assert len(github.dispatches) == 1
    path, authorization, payload = github.dispatches[0]
    assert path == f"/repos/{REPOSITORY}/dispatches"
    assert authorization == "Bearer github-test-token"
    assert payload == {
        "event_type": "model-promoted",
        "client_payload": {
            "model": "fraud-detector",
            "version": "v3",
            "versionId": event["data"]["entity"]["id"],
            "eventId": event["id"],
        },
    }
    (workflow,) = code_blocks(section("A GitHub Actions receiver"), "yaml")
    triggers = yaml.safe_load(workflow)[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["repository_dispatch"]["types"] == [payload["event_type"]]


def test_other_events_are_acknowledged_and_start_nothing(
    receiver: Receiver, github: FakeGitHub, promotion: dict[str, bytes]
) -> None:
    for event_type in ("io.modelreg.registered_model.created", "io.modelreg.model_version.created"):
        assert deliver(receiver, promotion[event_type]) == 204
    assert github.dispatches == []


def test_a_delivery_signed_with_another_secret_is_refused(
    receiver: Receiver, github: FakeGitHub, promotion: dict[str, bytes]
) -> None:
    body = promotion["io.modelreg.model_version.stage_changed"]
    assert deliver(receiver, body, secret=signing.new_secret()) == 401
    assert github.dispatches == []


def test_github_failing_makes_the_delivery_fail_so_it_is_retried(
    receiver: Receiver, github: FakeGitHub, promotion: dict[str, bytes]
) -> None:
    body = promotion["io.modelreg.model_version.stage_changed"]
    github.fail_with = 500
    assert deliver(receiver, body) == 502
    github.fail_with = None
    assert deliver(receiver, body) == 204
    assert len(github.dispatches) == 1


def test_verify_follows_the_signing_recipe_and_refuses_old_timestamps(promotion: dict[str, bytes]) -> None:
    verify = receiver_module().verify
    secret = signing.new_secret()
    body = promotion["io.modelreg.model_version.stage_changed"]
    sent_at = int(time.time())
    headers = {
        "webhook-id": "1287",
        "webhook-timestamp": str(sent_at),
        "webhook-signature": signing.sign(secret, "1287", sent_at, body),
    }
    assert verify(secret, headers, body, now=sent_at + 299)
    assert signing.verify(secret, headers, body, now=sent_at + 299)  # the same answer as modelreg's own
    assert not verify(secret, headers, body, now=sent_at + 301)  # more than five minutes old: a replay
    assert not verify(secret, headers, body + b" ", now=sent_at)
    assert not verify(secret, {**headers, "webhook-id": "1288"}, body, now=sent_at)
    assert not verify(signing.new_secret(), headers, body, now=sent_at)
    rotated = {**headers, "webhook-signature": f"v1,bm90IGl0 {headers['webhook-signature']}"}
    assert verify(secret, rotated, body, now=sent_at)  # one of several signatures matches
