"""A server whose catalog the tests fill in directly (``app.state.catalog.set_config``), with token authentication
on: every test reads as a viewer, the least role that may read.

The registry source is off, so the catalog holds exactly what a test gives it; the database is a SQLite file of its
own (the catalog keeps nothing in the database).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from api_catalog.catalog_data import config, snapshot, zoo
from conftest import ServerThread
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.catalog.models import Label
from modelreg.catalog.service import CatalogService
from modelreg.catalog.snapshots import CatalogConfig
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.settings import AuthSettings, CatalogSettings, Settings

PREFIX = "/api/model_catalog/v1alpha1"


@dataclass
class CatalogServer:
    url: str
    app: FastAPI
    viewer_token: str
    developer_token: str

    @property
    def catalog(self) -> CatalogService:
        service: CatalogService = self.app.state.catalog
        return service


@pytest.fixture(scope="session")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogServer]:
    tmp = tmp_path_factory.mktemp("catalog-api")
    db = Database(f"sqlite:///{tmp / 'registry.db'}")
    migrations.upgrade(db.engine)
    settings = Settings(
        database_url=db.url,
        data_dir=tmp / "data",
        auth=AuthSettings(methods=["token"], cache_seconds=0),
        catalog=CatalogSettings(registry_source=False),
    )
    access = AccessService(db)
    with context.acting_as(context.cli_context()):
        access.create_binding("user", "ai-viewer", "viewer")
        access.create_binding("user", "ai-developer", "developer")
        token, _ = access.create_token("ai-viewer")
        developer, _ = access.create_token("ai-developer")
    app = create_app(settings, db)
    with ServerThread(app) as running:
        yield CatalogServer(running.url, app, token, developer)


def default_config() -> CatalogConfig:
    return config(
        snapshot("files", zoo(), labels=("Community",)),
        snapshot("validated", [], labels=("Red Hat AI validated",)),
        snapshot("off", [], enabled=False, labels=("Community",)),
        labels=(
            Label("Red Hat AI validated", description="Verified by Red Hat."),
            Label(None, display_name="Community and custom"),
            Label("Community", extra={"color": "blue"}),
        ),
    )


@pytest.fixture
def loaded(catalog_server: CatalogServer) -> CatalogServer:
    """The session's server with the default catalog (zoo() as source ``files``) loaded."""
    catalog_server.catalog.set_config(default_config())
    catalog_server.catalog.set_registry(None)
    return catalog_server


@pytest.fixture
def cat(loaded: CatalogServer) -> Iterator[httpx.Client]:
    """A viewer's client for the catalog API."""
    headers = {"Authorization": f"Bearer {loaded.viewer_token}"}
    with httpx.Client(base_url=f"{loaded.url}{PREFIX}", headers=headers, timeout=30) as client:
        yield client
