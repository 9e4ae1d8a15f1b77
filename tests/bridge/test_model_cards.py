"""Model cards from a Kubeflow Model Catalog API. modelreg does not serve `/api/model_catalog` (yet), so a small
fake (`http.server` in a thread) answers `GET /api/model_catalog/v1alpha1/sources/{source}/models/{name+}`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from conftest import ServerThread
from modelreg.app import create_app
from modelreg.bridge import store
from modelreg.bridge.cards import CatalogCards, coordinates
from modelreg.bridge.normalize import RegistrySnapshot
from modelreg.bridge.remote import RemotePoller
from modelreg.db.database import Database
from modelreg.db.tables import bridge_sources
from modelreg.settings import BridgeSettings, RemoteCatalogSettings, RemoteRegistrySettings, Settings

from .fake_http import FakeHTTP, JsonHandler, eventually

TOKEN = "catalog-token"
PREFIX = "/api/model_catalog/v1alpha1/sources/"


class FakeCatalog(FakeHTTP):
    """`readmes` maps (source, model name) to a readme; `fail` makes every answer a 503."""

    def __init__(self) -> None:
        self.readmes: dict[tuple[str, str], str] = {}
        self.fail = False
        self.requests = 0
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"code": "401", "message": "unauthorized"})
                if fake.fail:
                    return self._send(503, {"code": "503", "message": "down"})
                path = self.path.split("?")[0]
                source, _, name = path[len(PREFIX) :].partition("/models/") if path.startswith(PREFIX) else ("", "", "")
                readme = fake.readmes.get((unquote(source), unquote(name)))
                if readme is None:
                    return self._send(404, {"code": "404", "message": "not found"})
                self._send(200, {"name": name, "source_id": source, "readme": readme})

        self.serve(Handler)


@pytest.fixture
def catalog() -> Iterator[FakeCatalog]:
    fake = FakeCatalog()
    fake.readmes[("redhat_ai", "ibm-granite/granite 3b")] = "# Granite\n\nA model card."
    yield fake
    fake.close()


def prop(value: str) -> dict[str, str]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def test_coordinates_from_artifacts_and_properties() -> None:
    artifact = {
        "modelSourceKind": "catalog",
        "modelSourceClass": "src",
        "modelSourceGroup": "repo",
        "modelSourceName": "m",
    }
    assert coordinates([artifact]) == ("src", "repo/m")
    assert coordinates([{**artifact, "modelSourceKind": "kfp"}]) is None
    props = {
        "_registeredFromCatalogSourceName": prop("src"),
        "_registeredFromCatalogRepositoryName": prop("repo"),
        "_registeredFromCatalogModelName": prop("m"),
    }
    assert coordinates([], None, props) == ("src", "repo/m")
    assert coordinates([{"name": "plain"}], {}, {}) is None


class StaticSource:
    """A remote source whose fetch returns a fixed snapshot (the registry side is tested in test_remote_sources)."""

    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self.settings = RemoteRegistrySettings(name="up", url="http://unused", interval_seconds=60)
        self.name = "up"
        self.snapshot = snapshot

    def fetch(self) -> RegistrySnapshot:
        return self.snapshot

    def close(self) -> None:
        pass


# a model artifact registered from the catalog (id and artifactType are added where it is used)
GRANITE = {
    "name": "granite",
    "uri": "oci://quay.io/granite:1",
    "modelSourceKind": "catalog",
    "modelSourceClass": "redhat_ai",
    "modelSourceGroup": "ibm-granite",
    "modelSourceName": "granite 3b",
}

SNAPSHOT = RegistrySnapshot(
    registered_models=[{"id": "1", "name": "granite"}],
    model_versions=[{"id": "2", "name": "v1", "registeredModelId": "1"}],
    artifacts_by_version={"2": [{"id": "3", **GRANITE}]},
)


def card(db: Database, key: str = "up.granite.v1") -> str | None:
    with db.read() as conn:
        return store.card(conn, key)


def test_remote_records_get_catalog_cards_and_keep_them_on_errors(db: Database, catalog: FakeCatalog) -> None:
    cards = CatalogCards(RemoteCatalogSettings(url=catalog.url, token=TOKEN))
    source = StaticSource(SNAPSHOT)
    poller = RemotePoller(db, [source], cards=cards)  # type: ignore[list-item]
    assert poller.poll(source) == 60  # type: ignore[arg-type]
    assert "A model card." in (card(db) or "")
    calls = catalog.requests
    poller.poll(source)  # type: ignore[arg-type]
    assert catalog.requests == calls  # cached

    # a restarted process (empty cache) while the catalog is down keeps the stored card
    catalog.fail = True
    restarted = RemotePoller(db, [source], cards=CatalogCards(RemoteCatalogSettings(url=catalog.url, token=TOKEN)))  # type: ignore[list-item]
    with db.write() as conn:
        conn.execute(bridge_sources.update().values(lease_until=0))
    restarted.poll(source)  # type: ignore[arg-type]
    assert "A model card." in (card(db) or "")

    # the catalog is back with a new readme; a zero cache time picks it up
    catalog.fail = False
    catalog.readmes[("redhat_ai", "ibm-granite/granite 3b")] = "# Granite\n\nRevised."
    fresh = RemotePoller(
        db, [source], cards=CatalogCards(RemoteCatalogSettings(url=catalog.url, token=TOKEN, cache_seconds=0))
    )  # type: ignore[list-item]
    with db.write() as conn:
        conn.execute(bridge_sources.update().values(lease_until=0))
    fresh.poll(source)  # type: ignore[arg-type]
    assert "Revised." in (card(db) or "") and "A model card." not in (card(db) or "")


def test_local_records_get_catalog_cards_in_the_background(
    db: Database, catalog: FakeCatalog, tmp_path: Path, catalog_validator: Callable[[Any], None]
) -> None:
    bridge = BridgeSettings(access="open", catalog=RemoteCatalogSettings(url=catalog.url, token=TOKEN))
    with (
        ServerThread(create_app(Settings(database_url=db.url, data_dir=tmp_path, bridge=bridge), db)) as server,
        httpx.Client(base_url=f"{server.url}/api/model_registry/v1alpha3", timeout=10) as api,
    ):
        rm = api.post("/registered_models", json={"name": "granite"}).json()
        mv = api.post("/model_versions", json={"name": "v1", "registeredModelId": rm["id"]}).json()
        artifact = {"artifactType": "model-artifact", **GRANITE}
        assert api.post(f"/model_versions/{mv['id']}/artifacts", json=artifact).status_code == 201
        text = eventually(
            lambda: (
                (r := httpx.get(f"{server.url}/bridge/modelcards/granite.v1.md")).status_code == 200
                and "A model card." in r.text
                and r.text
            ),
            "the catalog model card",
        )
        assert text.startswith("# granite v1")
        catalog_validator(httpx.get(f"{server.url}/bridge/granite/granite.v1/model-catalog.json").json())
