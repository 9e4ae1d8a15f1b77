"""The optional outputs: a directory (GitOps), Kubernetes ConfigMaps, Backstage location registration.

No cluster and no Backstage with static tokens run here, so the Kubernetes API and the Backstage catalog's
locations API are small fakes (http.server in a thread) that keep state and answer like the real ones
(resourceVersion conflicts, 409 on a duplicate location, `{"data": ...}` wrapped location lists).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from modelreg.bridge import store
from modelreg.bridge.kube import KubeClient
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
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService
from modelreg.settings import BridgeSettings

from .fake_http import FakeHTTP, JsonHandler
from .test_sync import add_model

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly

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


class FakeKube:
    """ConfigMaps of one namespace, with resourceVersion checks; `conflicts` PUTs answer 409 after a foreign write."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.conflicts = 0

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        base = "/api/v1/namespaces/ns/configmaps"
        name = path[len(base) + 1 :] if path.startswith(base + "/") else None
        if method == "GET" and name is None:
            selector = query.get("labelSelector", [""])[0]
            key, _, value = selector.partition("=")
            items = [m for m in self.maps.values() if m["metadata"].get("labels", {}).get(key) == value]
            return 200, {"kind": "ConfigMapList", "items": items}
        if method == "POST":
            name = body["metadata"]["name"]
            if name in self.maps:
                return 409, {"message": "already exists"}
            return 201, self._store(name, body)
        if name not in self.maps:
            return 404, {"message": "not found"}
        if method == "GET":
            return 200, self.maps[name]
        if method == "DELETE":
            del self.maps[name]
            return 200, {}
        if self.conflicts:  # someone else wrote since the client's GET
            self.conflicts -= 1
            self._store(name, self.maps[name])
            return 409, {"message": "the object has been modified"}
        if body["metadata"].get("resourceVersion") != self.maps[name]["metadata"]["resourceVersion"]:
            return 409, {"message": "the object has been modified"}
        return 200, self._store(name, body)

    def _store(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = json.loads(json.dumps(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.maps[name] = stored
        return stored


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


@pytest.fixture
def kube() -> Iterator[tuple[FakeKube, FakeServer]]:
    fake = FakeKube()
    server = FakeServer(fake.handle)
    yield fake, server
    server.close()


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


def test_configmap_create_replace_and_conflict_retry(db: Database, kube: tuple[FakeKube, FakeServer]) -> None:
    fake, server = kube
    registry = RegistryService(db)
    add_model(registry, "fraud", ("v1", "v2"))
    sync = BridgeSync(db)
    sync.full_sync()
    output = ConfigMapOutput(KubeClient(server.url, token="t0k"), "ns", "bridge", "json")
    assert output.publish(documents(db, "json"))
    assert sorted(fake.maps["bridge"]["data"]) == ["fraud.v1.json", "fraud.v2.json"]
    assert fake.maps["bridge"]["metadata"]["labels"]["modelreg.io/bridge-output"] == "bridge"
    assert all(auth == "Bearer t0k" for *_, auth in server.requests)
    assert not output.publish(documents(db, "json"))  # unchanged: no request at all
    calls = len(server.requests)

    add_model(registry, "late")
    sync.full_sync()
    fake.conflicts = 2  # two foreign writes between our GET and PUT
    assert output.publish(documents(db, "json"))
    assert sorted(fake.maps["bridge"]["data"]) == ["fraud.v1.json", "fraud.v2.json", "late.v1.json"]
    methods = [m for m, *_ in server.requests[calls:]]
    assert methods.count("PUT") == 3 and methods.count("GET") >= 3


def test_configmap_splits_over_the_size_limit(kube: tuple[FakeKube, FakeServer]) -> None:
    fake, server = kube
    doc = "x" * 400_000
    docs = [(f"/m/m.v{i}/model-catalog.json", doc) for i in range(5)]
    output = ConfigMapOutput(KubeClient(server.url), "ns", "bridge", "json")
    output.publish(docs)
    assert sorted(fake.maps) == ["bridge-0", "bridge-1", "bridge-2"]
    assert [len(fake.maps[f"bridge-{i}"]["data"]) for i in range(3)] == [2, 2, 1]
    output.publish(docs[:1])  # shrinks back into one: the shards go
    assert sorted(fake.maps) == ["bridge"]
    with pytest.raises(ValueError, match="over the ConfigMap budget"):
        split_configmaps("bridge", {"big.json": "x" * 1_100_000})


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
    with pytest.raises(ValueError, match="namespace"):
        build_outputs(BridgeSettings(configmap={"api_url": "http://k"}))


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


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_app_wires_the_directory_output(db: Database, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modelreg.app import create_app
    from modelreg.settings import Settings

    out = tmp_path / "out"
    settings = Settings(database_url=str(db.engine.url), data_dir=tmp_path, bridge={"output_dir": out})
    app = create_app(settings, db)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        model = client.post("/api/model_registry/v1alpha3/registered_models", json={"name": "wired"}).json()
        client.post(
            "/api/model_registry/v1alpha3/model_versions", json={"name": "v1", "registeredModelId": model["id"]}
        ).raise_for_status()
        assert app.state.bridge_sync.wait_idle(5) and app.state.bridge_outputs.wait_idle(5)
        assert (out / "wired" / "wired.v1" / "model-catalog.json").is_file()
