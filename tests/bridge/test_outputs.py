"""The optional outputs: a directory (GitOps), Kubernetes ConfigMaps, Backstage location registration.

No cluster runs here: the ConfigMap output writes through modelreg's one client to the Kubernetes API emulator
(kmock over real HTTP, tests/kube_emulator, with server-side apply's field ownership). No Backstage with static
tokens runs either: its locations API is a small fake (http.server in a thread) that keeps state and answers like
the real one (409 on a duplicate location, `{"data": ...}` wrapped location lists).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI

from kube_emulator import Emulator, wait_until
from kube_emulator.fixtures import kube_for
from modelreg.bridge import store
from modelreg.bridge.outputs import (
    MANIFEST,
    BackstageLocations,
    ConfigMapOutput,
    DirectoryOutput,
    Publisher,
    attach,
    build_outputs,
    split_configmaps,
    write_documents,
)
from modelreg.bridge.sync import BridgeSync
from modelreg.db.database import Database
from modelreg.kube import connection
from modelreg.kube.client import Kube
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService
from modelreg.settings import BridgeSettings

from .fake_http import FakeHTTP, JsonHandler
from .test_sync import add_model

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly

SECRET = "k8s-s3cret-token"  # a cluster bearer token that must never show in an error

Handler = Callable[[str, str, dict[str, list[str]], Any], tuple[int, Any]]


class FakeServer(FakeHTTP):
    """Serves `handler(method, path, query, json body) -> (status, json)` on a free port."""

    def __init__(self, handler: Handler) -> None:
        outer = self
        self.requests: list[tuple[str, str, str | None]] = []

        class _H(JsonHandler):
            def _do(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                outer.requests.append((self.command, url.path, self.headers.get("Authorization")))
                status, answer = handler(self.command, url.path, parse_qs(url.query), body)
                self._send(status, answer)

            do_GET = do_POST = do_PUT = do_DELETE = _do

        self.serve(_H)


class FakeBackstage:
    """The catalog's locations API: POST (409 when the target exists), GET list, DELETE by id."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.locations: dict[str, dict[str, str]] = {"other": {"id": "other", "type": "url", "target": "http://x/y"}}
        self.next_id = 0
        self.fail_posts = 0

    def handle(self, method: str, path: str, _query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        assert path.startswith("/api/catalog/locations")
        if method == "GET":
            return 200, [{"data": loc} for loc in self.locations.values()]
        if method == "POST":
            if self.fail_posts:
                self.fail_posts -= 1
                return 503, {"error": {"message": "catalog busy"}}
            if any(loc["target"] == body["target"] for loc in self.locations.values()):
                return 409, {"error": {"name": "ConflictError"}}
            self.next_id += 1
            location = {"id": f"id-{self.next_id}", "type": body["type"], "target": body["target"]}
            self.locations[location["id"]] = location
            return 201, {"location": location, "entities": []}
        location_id = path.rsplit("/", 1)[1]
        if self.locations.pop(location_id, None) is None:
            return 404, {"error": {"name": "NotFoundError"}}
        return 204, None


def documents(db: Database, fmt: store.Format) -> list[tuple[str, str]]:
    with db.read() as conn:
        return list(store.all_documents(conn, fmt))


def test_directory_follows_create_update_archive_delete(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "gitops"
    out.mkdir()
    (out / "README.md").write_text("not ours")
    registry = RegistryService(db)
    sync = BridgeSync(db, batch_seconds=0)
    publisher = attach(sync, db, BridgeSettings(output_dir=out))
    assert publisher is not None
    sync.start()
    publisher.start()

    def settle() -> list[str]:
        assert sync.wait_idle(5) and publisher.wait_idle(5)
        return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())

    try:
        assert settle() == [MANIFEST, "README.md"]
        model_id, (v1, v2) = add_model(registry, "fraud", ("v1", "v2"))
        other_id, _ = add_model(registry, "other")
        files = settle()
        assert files == [
            MANIFEST,
            "README.md",
            "fraud/fraud.v1/model-catalog.json",
            "fraud/fraud.v2/model-catalog.json",
            "other/other.v1/model-catalog.json",
        ]
        assert (out / "fraud/fraud.v1/model-catalog.json").read_text() == dict(documents(db, "json"))[
            "/fraud/fraud.v1/model-catalog.json"
        ]

        registry.update(e.MODEL_VERSION, v1, {}, {"License": PropValue("string", "https://license.example/x")})
        settle()
        assert "https://license.example/x" in (out / "fraud/fraud.v1/model-catalog.json").read_text()

        registry.update(e.MODEL_VERSION, v2, {"state": "ARCHIVED"}, None)
        assert "fraud/fraud.v2/model-catalog.json" not in settle()
        assert not (out / "fraud/fraud.v2").exists()  # emptied directories go too

        (out / "other" / "notes.txt").write_text("keep me")  # an unrelated file inside one of our directories
        ArchiveService(registry).delete(e.MODEL_VERSION, v2)
        registry.update(e.REGISTERED_MODEL, other_id, {"state": "ARCHIVED"}, None)
        assert settle() == [MANIFEST, "README.md", "fraud/fraud.v1/model-catalog.json", "other/notes.txt"]
        assert json.loads((out / MANIFEST).read_text())["files"].keys() == {"fraud/fraud.v1/model-catalog.json"}
        assert model_id
    finally:
        publisher.stop()
        sync.stop()
    assert not list(out.rglob("*.tmp"))


def test_directory_rewrites_a_file_deleted_behind_its_back(db: Database, tmp_path: Path) -> None:
    add_model(RegistryService(db), "m")
    BridgeSync(db).full_sync()
    output = DirectoryOutput(tmp_path, "yaml")
    assert output.publish(documents(db, "yaml"))
    assert not output.publish(documents(db, "yaml"))
    (tmp_path / "m" / "catalog-info.yaml").unlink()
    assert DirectoryOutput(tmp_path, "yaml").publish(documents(db, "yaml"))  # a restart reads the manifest
    assert (tmp_path / "m" / "catalog-info.yaml").is_file()


def test_documents_are_written_whole_and_never_outside_the_directory(tmp_path: Path) -> None:
    """The writer `modelreg bridge export` and the directory output share."""
    out = tmp_path / "export"
    assert write_documents([("/m/catalog-info.yaml", "old")], out) == 1
    with pytest.raises(UnicodeEncodeError):  # fails half-way through writing
        write_documents([("/m/catalog-info.yaml", "new \ud800")], out)
    assert (out / "m" / "catalog-info.yaml").read_text() == "old"  # not truncated
    assert [p.name for p in (out / "m").iterdir()] == ["catalog-info.yaml"]  # no temporary file left

    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    for uri in ("/../escaped.yaml", "/link/escaped.yaml"):
        with pytest.raises(ValueError, match="leaves"):
            write_documents([(uri, "x")], out)
    assert not (tmp_path / "escaped.yaml").exists() and not list((tmp_path / "elsewhere").iterdir())


def configmaps(emulator: Emulator) -> dict[str, dict[str, Any]]:
    return {cm["metadata"]["name"]: cm for cm in emulator.objects("configmaps", "team-a")}


def test_configmap_follows_the_documents(db: Database, emulator: Emulator, kube: Kube) -> None:
    unrelated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated", "namespace": "team-a"}}
    emulator.put_object({**unrelated, "data": {"keep.json": "{}"}})
    registry = RegistryService(db)
    _, (v1, _) = add_model(registry, "fraud", ("v1", "v2"))
    sync = BridgeSync(db)
    sync.full_sync()
    output = ConfigMapOutput(kube, "team-a", "bridge", "json")
    assert output.publish(documents(db, "json"))
    stored = configmaps(emulator)["bridge"]
    assert sorted(stored["data"]) == ["fraud.v1.json", "fraud.v2.json"]
    assert stored["data"]["fraud.v1.json"] == dict(documents(db, "json"))["/fraud/fraud.v1/model-catalog.json"]
    assert stored["metadata"]["labels"]["modelreg.io/bridge-output"] == "bridge"
    assert {(f["manager"], f["operation"]) for f in stored["metadata"]["managedFields"]} == {("modelreg", "Apply")}
    emulator.clear_requests()
    assert not output.publish(documents(db, "json"))  # unchanged: no request at all
    assert emulator.requests == []

    add_model(registry, "late")
    registry.update(e.MODEL_VERSION, v1, {"state": "ARCHIVED"}, None)
    sync.full_sync()
    assert output.publish(documents(db, "json"))
    assert sorted(configmaps(emulator)["bridge"]["data"]) == ["fraud.v2.json", "late.v1.json"]

    # another writer's key goes at the next change: the data is exactly the documents
    emulator.put_object({**configmaps(emulator)["bridge"], "data": {"foreign.json": "{}", "late.v1.json": "old"}})
    add_model(registry, "later")
    sync.full_sync()
    assert output.publish(documents(db, "json"))
    data = configmaps(emulator)["bridge"]["data"]
    assert sorted(data) == ["fraud.v2.json", "late.v1.json", "later.v1.json"] and data["late.v1.json"] != "old"
    assert configmaps(emulator)["unrelated"]["data"] == {"keep.json": "{}"}


def test_configmap_splits_over_the_size_limit(emulator: Emulator, kube: Kube) -> None:
    doc = "x" * 400_000
    docs = [(f"/m/m.v{i}/model-catalog.json", doc) for i in range(5)]
    output = ConfigMapOutput(kube, "team-a", "bridge", "json")
    output.publish(docs)
    assert sorted(configmaps(emulator)) == ["bridge-0", "bridge-1", "bridge-2"]
    assert [len(configmaps(emulator)[f"bridge-{i}"]["data"]) for i in range(3)] == [2, 2, 1]
    other = ConfigMapOutput(kube, "team-a", "other", "json")  # another output's shards are not ours
    other.publish(docs[:1])
    output.publish(docs[:1])  # shrinks back into one: the shards go
    assert sorted(configmaps(emulator)) == ["bridge", "other"]
    output.publish([])  # nothing to publish: the ConfigMap stays, empty
    assert not configmaps(emulator)["bridge"].get("data")
    with pytest.raises(ValueError, match="over the ConfigMap budget"):
        split_configmaps("bridge", {"big.json": "x" * 1_100_000})


def test_configmap_errors_are_recorded_and_retried(db: Database, emulator: Emulator) -> None:
    add_model(RegistryService(db), "fraud")
    BridgeSync(db).full_sync()
    kube = kube_for(emulator, token=SECRET)
    publisher = Publisher(db, [ConfigMapOutput(kube, "team-a", "bridge", "json")])
    try:
        emulator.unreachable()
        assert not publisher.publish_once()  # recorded, not raised
        assert "ClusterUnreachable" in publisher.errors["configmap"] and SECRET not in publisher.errors["configmap"]
        with db.read() as conn:
            row = next(s for s in store.status(conn) if s.name == "output:configmap")
        assert row.last_error and "ConfigMap team-a/bridge" in row.last_error and SECRET not in row.last_error
        emulator.reachable()
        assert publisher.publish_once()
        assert sorted(configmaps(emulator)["bridge"]["data"]) == ["fraud.v1.json"]
        with db.read() as conn:
            assert next(s for s in store.status(conn) if s.name == "output:configmap").last_error is None
    finally:
        kube.close()


def test_configmap_needs_a_cluster_and_a_namespace(kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = BridgeSettings(configmap={})
    with pytest.raises(ValueError, match="needs a Kubernetes cluster"):
        build_outputs(settings)
    monkeypatch.setattr(connection, "SERVICE_ACCOUNT", tmp_path)
    with pytest.raises(ValueError, match="namespace is required"):
        build_outputs(settings, kube)
    (tmp_path / "namespace").write_text("team-b\n")  # in a pod: the service account's namespace
    (output,) = build_outputs(settings, kube)
    assert isinstance(output, ConfigMapOutput) and output.namespace == "team-b"
    (output,) = build_outputs(BridgeSettings(configmap={"namespace": "team-a", "name": "cm"}), kube)
    assert isinstance(output, ConfigMapOutput) and (output.namespace, output.configmap) == ("team-a", "cm")


def test_backstage_registers_and_removes_locations(db: Database) -> None:
    fake = FakeBackstage("s3cret")
    server = FakeServer(fake.handle)
    registry = RegistryService(db)
    sync = BridgeSync(db)
    try:
        add_model(registry, "fraud")
        other_id, _ = add_model(registry, "team_a/Granite 3.1")
        sync.full_sync()
        settings = BridgeSettings(
            public_url="http://modelreg:8080/", backstage={"url": server.url + "/", "token": "s3cret"}
        )
        publisher = attach(sync, db, settings)
        assert publisher is not None
        fake.fail_posts = 1
        assert not publisher.publish_once()  # the error is recorded, not raised
        assert "503" in publisher.errors["backstage"]
        with db.read() as conn:
            row = next(s for s in store.status(conn) if s.name == "output:backstage")
        assert row.last_error and "catalog busy" in row.last_error
        assert publisher.publish_once()  # retried: whatever was registered already answers 409, fine
        targets = sorted(loc["target"] for loc in fake.locations.values())
        yaml_uris = [uri for uri, _ in documents(db, "yaml")]
        assert targets == sorted(["http://x/y"] + [f"http://modelreg:8080/bridge{u}" for u in yaml_uris])
        assert all(loc["type"] == "url" for loc in fake.locations.values())
        assert all(auth == "Bearer s3cret" for *_, auth in server.requests)
        with db.read() as conn:
            row = next(s for s in store.status(conn) if s.name == "output:backstage")
        assert row.last_error is None

        registry.update(e.REGISTERED_MODEL, other_id, {"state": "ARCHIVED"}, None)
        sync.full_sync()
        assert publisher.publish_once()
        assert sorted(loc["target"] for loc in fake.locations.values()) == [
            "http://modelreg:8080/bridge/fraud/catalog-info.yaml",
            "http://x/y",  # somebody else's location is never touched
        ]
    finally:
        server.close()


def test_backstage_needs_a_public_url() -> None:
    with pytest.raises(ValueError, match="public_url"):
        build_outputs(BridgeSettings(backstage={"url": "http://b"}))


def test_publisher_retries_failed_outputs(db: Database, tmp_path: Path) -> None:
    class Flaky:
        name = "flaky"
        format: store.Format = "json"

        def __init__(self) -> None:
            self.calls = 0

        def publish(self, _docs: list[tuple[str, str]]) -> bool:
            self.calls += 1
            if self.calls < 3:
                raise OSError("disk full")
            return True

        def close(self) -> None:
            pass

    flaky = Flaky()
    publisher = Publisher(db, [flaky], retry_seconds=0.05)
    publisher.start()
    try:
        assert publisher.wait_idle(5)
        assert flaky.calls == 3 and not publisher.errors
    finally:
        publisher.stop()


def test_backstage_location_client_reads_unwrapped_lists() -> None:
    locations = BackstageLocations("http://b", "http://m")
    assert locations.targets([("/a/catalog-info.yaml", "")]) == {"http://m/bridge/a/catalog-info.yaml"}
    locations.close()


@contextmanager
def registering(db: Database, tmp_path: Path, **settings: Any) -> Iterator[FastAPI]:
    """An app on `db` with these settings, running, in which version `wired` v1 was just registered over the API."""
    from fastapi.testclient import TestClient

    from modelreg.app import create_app
    from modelreg.settings import Settings

    app = create_app(Settings(database_url=str(db.engine.url), data_dir=tmp_path, **settings), db)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        model = client.post("/api/model_registry/v1alpha3/registered_models", json={"name": "wired"}).json()
        client.post(
            "/api/model_registry/v1alpha3/model_versions", json={"name": "v1", "registeredModelId": model["id"]}
        ).raise_for_status()
        yield app


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_app_wires_the_directory_output(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with registering(db, tmp_path, bridge={"output_dir": out}) as app:
        assert app.state.bridge_sync.wait_idle(5) and app.state.bridge_outputs.wait_idle(5)
        assert (out / "wired" / "wired.v1" / "model-catalog.json").is_file()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_app_wires_the_configmap_output(db: Database, tmp_path: Path, emulator: Emulator) -> None:
    """Through the process's one client, configured by the top-level kubernetes settings."""
    cluster = {"api_url": emulator.url, "token": SECRET}
    with registering(db, tmp_path, kubernetes=cluster, bridge={"configmap": {"namespace": "team-a"}}):

        def published() -> bool:
            stored = emulator.get("configmaps", "team-a", "modelreg-bridge") or {}
            return "wired.v1.json" in (stored.get("data") or {})

        wait_until(published, 5)
