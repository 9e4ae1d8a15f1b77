"""One SQLite registry with token authentication for the SDK tests, and SDK clients for each role.

SQLite only: the SDK's behaviour does not depend on the database, and the API suites cover the other backends.
``sdk.client("developer")`` is a ``ModelRegistry`` sending the developer's token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from blobs.conftest import bucket, s3_server
from conftest import ServerThread, empty
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.client import AsyncModelRegistry, ModelRegistry
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.settings import AuthSettings, Settings

__all__ = ["bucket", "s3_server"]  # moto's S3 server, for the storage tests
USERS = {"admin": "ai-admin", "developer": "ai-developer", "viewer": "ai-viewer"}


@pytest.fixture(scope="session")
def sdk_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('sdk') / 'registry.db'}")
    migrations.upgrade(db.engine)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def sdk_server(sdk_database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=sdk_database.url,
        data_dir=tmp_path_factory.mktemp("sdk-data"),
        auth=AuthSettings(methods=["token"], cache_seconds=0),
    )
    with ServerThread(create_app(settings, sdk_database)) as running:
        yield running


@dataclass
class Sdk:
    """An empty registry behind ``sdk_server``: ai-admin, ai-developer and ai-viewer bound to their roles."""

    url: str
    tokens: dict[str, str]
    _clients: list[ModelRegistry] = field(default_factory=list)

    def client(self, caller: str = "developer", token: str | None = None) -> ModelRegistry:
        registry = ModelRegistry(self.url, author=USERS.get(caller), token=token or self.tokens[caller])
        self._clients.append(registry)
        return registry

    def async_client(self, caller: str = "developer") -> AsyncModelRegistry:
        return AsyncModelRegistry(self.url, author=USERS[caller], token=self.tokens[caller])


@pytest.fixture
def sdk(sdk_server: ServerThread, sdk_database: Database) -> Iterator[Sdk]:
    empty(sdk_database)
    access = AccessService(sdk_database)
    tokens = {}
    with context.acting_as(context.cli_context()):
        for role, user in USERS.items():
            access.create_binding("user", user, role)
            tokens[role], _ = access.create_token(user)
    made = Sdk(sdk_server.url, tokens)
    yield made
    for registry in made._clients:
        registry.close()


@pytest.fixture
def registry(sdk: Sdk) -> ModelRegistry:
    """The developer's client, which may register and promote to staging."""
    return sdk.client("developer")


@pytest.fixture
def admin(sdk: Sdk) -> ModelRegistry:
    return sdk.client("admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
