"""Remote Kubeflow registries as bridge sources. The remote registry is a real second modelreg (in-process
`ServerThread`, token auth, its own database); a small `http.server` stands in for a registry that answers 500."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import select

from conftest import ServerThread, free_port
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.bridge import store
from modelreg.bridge.remote import RemotePoller, RemoteRegistry, prune
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import bridge_records, bridge_sources
from modelreg.services.access import AccessService
from modelreg.settings import BridgeSettings, RemoteRegistrySettings, Settings
from processes import ServeProcess

from .fake_http import FakeHTTP, JsonHandler

API = "/api/model_registry/v1alpha3"


class Remote:
    """A second modelreg with token auth; `api` writes to it as an admin, `token` is a viewer's."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = Database(f"sqlite:///{tmp_path / 'remote.db'}")
        migrations.upgrade(self.db.engine)
        access = AccessService(self.db)
        with context.acting_as(context.cli_context()):
            admin, _ = access.create_token("writer")
            access.create_binding("user", "writer", "admin")
            self.token, _ = access.create_token("bridge")
            access.create_binding("user", "bridge", "viewer")
        settings = Settings(
            database_url=self.db.url,
            data_dir=tmp_path / "remote",
            auth={"methods": ["token"]},
            bridge=BridgeSettings(enabled=False),
        )
        self.server = ServerThread(create_app(settings, self.db)).__enter__()
        self.url = self.server.url
        self.api = httpx.Client(base_url=f"{self.url}{API}", headers={"Authorization": f"Bearer {admin}"}, timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def register(self, model: str, versions: tuple[str, ...] = ("v1",)) -> tuple[str, list[str]]:
        rm = self.post("/registered_models", {"name": model, "owner": "kube:admin"})
        ids = []
        for version in versions:
            mv = self.post("/model_versions", {"name": version, "registeredModelId": rm["id"]})
            self.post(
                f"/model_versions/{mv['id']}/artifacts",
                {"artifactType": "model-artifact", "name": f"{model}-{version}", "uri": "s3://user:pw@bucket/m"},
            )
            ids.append(mv["id"])
        return rm["id"], ids

    def close(self) -> None:
        self.api.close()
        self.server.__exit__(None, None, None)
        self.db.dispose()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    running = Remote(tmp_path)
    yield running
    running.close()


@pytest.fixture
def connect() -> Iterator[Callable[..., RemoteRegistry]]:
    """`RemoteRegistry(...)`, closed after the test (its client holds pooled connections)."""
    made: list[RemoteRegistry] = []

    def make(settings: RemoteRegistrySettings, **kwargs: Any) -> RemoteRegistry:
        made.append(RemoteRegistry(settings, **kwargs))
        return made[-1]

    yield make
    for registry in made:
        registry.close()


def source(url: str, token: str | None = None, **extra: Any) -> RemoteRegistrySettings:
    return RemoteRegistrySettings(name="up", url=url, token=token, **extra)


def records(db: Database) -> dict[str, dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(bridge_records.c.key, bridge_records.c.document).where(bridge_records.c.source == "up")
        )
        return {key: orjson.loads(doc) for key, doc in rows}


def status(db: Database, name: str = "up") -> store.SourceStatus:
    with db.read() as conn:
        return next(s for s in store.status(conn) if s.name == name)


def test_records_carry_the_source_prefix_and_validate(
    db: Database, remote: Remote, catalog_validator: Callable[[Any], None], connect: Callable[..., RemoteRegistry]
) -> None:
    model_id, (version_id,) = remote.register("mnist")
    env = remote.post("/serving_environments", {"name": "team-a"})
    remote.post(
        "/inference_services",
        {
            "name": "mnist-v1/1",
            "runtime": "mnist-v1",
            "servingEnvironmentId": env["id"],
            "registeredModelId": model_id,
            "modelVersionId": version_id,
            "desiredState": "DEPLOYED",
            "customProperties": {
                "url": {"metadataType": "MetadataStringValue", "string_value": "https://mnist.example.com"}
            },
        },
    )
    archived, _ = remote.register("archived")
    remote.api.patch(f"/registered_models/{archived}", json={"state": "ARCHIVED"}).raise_for_status()

    poller = RemotePoller(db, [connect(source(remote.url, remote.token))])
    assert poller.poll(poller.sources[0]) == 60
    found = records(db)
    assert list(found) == ["up.mnist.v1"]
    for document in found.values():
        catalog_validator(document)
    document = found["up.mnist.v1"]
    assert document["modelServer"]["API"]["url"] == "https://mnist.example.com"
    assert "user:pw" not in orjson.dumps(document).decode()  # credentials in URIs never reach a record
    assert status(db).last_error is None and status(db).versions == 1


def test_pagination_reads_every_page(db: Database, remote: Remote, connect: Callable[..., RemoteRegistry]) -> None:
    for n in range(3):
        remote.register(f"model-{n}", ("v1", "v2", "v3"))
    tokens: list[str] = []

    class Seen(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            assert request.headers["authorization"] == f"Bearer {remote.token}"
            if token := request.url.params.get("nextPageToken"):
                tokens.append(token)
            return super().handle_request(request)

    registry = connect(source(remote.url, remote.token, page_size=2), transport=Seen())
    poller = RemotePoller(db, [registry])
    poller.poll(poller.sources[0])
    assert len(records(db)) == 9
    assert len(tokens) >= 5  # 3 models in 2 pages, 9 versions in 5 pages


class Failing(JsonHandler):
    """A registry that is down behind its proxy: every request gets a 500 (under /bad-json: 200 with HTML)."""

    def do_GET(self) -> None:
        bad_json = self.path.startswith("/bad-json/")
        self.send_response(200 if bad_json else 500)
        self.end_headers()
        self.wfile.write(b"<html>maintenance</html>" if bad_json else b"upstream down")


@pytest.fixture
def failing_url() -> Iterator[str]:
    server = FakeHTTP()
    server.serve(Failing)
    yield server.url
    server.close()


def test_transient_errors_keep_records_and_recovery_clears_them(
    db: Database, remote: Remote, failing_url: str, connect: Callable[..., RemoteRegistry]
) -> None:
    remote.register("mnist")
    poller = RemotePoller(db, [connect(source(remote.url, remote.token))])
    poller.poll(poller.sources[0])
    before = records(db)
    assert list(before) == ["up.mnist.v1"]

    broken = [
        connect(source(failing_url, remote.token)),  # 5xx
        connect(source(f"http://127.0.0.1:{free_port()}", remote.token, timeout_seconds=2)),  # refused
        connect(source(remote.url, "wrong-token")),  # 401
        connect(source(f"{failing_url}/bad-json", remote.token, api_version="v1alpha3")),  # not JSON
    ]
    for bad in broken:
        assert poller.poll(bad) <= 15  # retried sooner than the interval
        assert records(db) == before
        failed = status(db)
        assert failed.last_error and failed.versions == 1
        assert remote.token not in failed.last_error

    poller.poll(poller.sources[0])
    recovered = status(db)
    assert recovered.last_error is None and recovered.versions == 1


def test_lease_lets_one_process_poll_a_source(
    db: Database, remote: Remote, connect: Callable[..., RemoteRegistry]
) -> None:
    remote.register("mnist")
    first = RemotePoller(db, [connect(source(remote.url, remote.token, interval_seconds=30))])
    second = RemotePoller(db, [connect(source(remote.url, remote.token, interval_seconds=30))])
    assert first.poll(first.sources[0]) == 30
    synced = status(db).last_sync
    time.sleep(0.01)
    wait = second.poll(second.sources[0])
    assert 25 < wait <= 30.1  # told to come back when the first one's lease ends
    assert status(db).last_sync == synced
    with db.write() as conn:  # the first process died: its lease runs out
        conn.execute(bridge_sources.update().values(lease_until=0))
    assert second.poll(second.sources[0]) == 30
    assert status(db).last_sync != synced


def test_start_polls_at_once_and_prune_drops_unconfigured_sources(
    db: Database, remote: Remote, connect: Callable[..., RemoteRegistry]
) -> None:
    remote.register("mnist")
    poller = RemotePoller(db, [connect(source(remote.url, remote.token, interval_seconds=3600))])
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while not records(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(records(db)) == ["up.mnist.v1"]
    finally:
        poller.stop()
    prune(db, {"up"})
    assert records(db)
    with db.write() as conn:
        store.mark_synced(conn, "output:dir", 1, full=False)  # not a source: left alone
    prune(db, set())
    assert not records(db)
    with db.read() as conn:
        assert conn.execute(select(bridge_sources.c.name)).scalars().all() == ["output:dir"]


def test_two_server_processes_poll_a_source_once(db: Database, remote: Remote, tmp_path: Path) -> None:
    """Two real `modelreg serve` processes on one database, both configured with the same remote registry: the
    lease lets only one of them poll it per interval (the token comes from an env variable, not the file)."""
    remote.register("mnist")
    config = tmp_path / "modelreg.yaml"
    registry = {"name": "up", "url": remote.url, "token_env": "UP_TOKEN", "interval_seconds": 3600}
    config.write_text(yaml.safe_dump({"bridge": {"registries": [registry]}}))
    env = {"MODELREG_DATA_DIR": str(tmp_path), "UP_TOKEN": remote.token}
    args = ("--database-url", db.url, "--config", str(config))
    with ServeProcess(free_port(), *args, env=env), ServeProcess(free_port(), *args, env=env):
        deadline = time.monotonic() + 10
        while not records(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(records(db)) == ["up.mnist.v1"]
        first = status(db).last_sync
        time.sleep(1)
        assert status(db).last_sync == first  # the other process saw the lease and did not poll again
        with db.read() as conn:
            owners = conn.execute(select(bridge_sources.c.lease_owner).where(bridge_sources.c.name == "up")).all()
        assert len(owners) == 1 and owners[0][0]
