"""What the event stream's tests share: a real server with token authentication whose event worker relays, callers
of each role on an empty registry, and writes whose audit records are all events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select

from conftest import ServerThread, empty
from events.sse import EventStream, Message
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import tables
from modelreg.db.database import Database
from modelreg.events import relay
from modelreg.services.access import AccessService
from modelreg.settings import AuthSettings, EventsSettings, Settings

REGISTRY = "/api/model_registry/v1alpha3"
GOVERNANCE = "/api/governance/v1"
MAX_STREAMS = 3
EVENTS = EventsSettings(poll_seconds=0.05, stream_heartbeat_seconds=0.3, max_streams=MAX_STREAMS)
WRITE_KINDS = ("registered_model", "model_version")  # what the tests write: every record of these is an event


def events_server(database: Database, data_dir: object, events: EventsSettings) -> ServerThread:
    settings = Settings(
        database_url=database.url,
        data_dir=data_dir,
        auth=AuthSettings(methods=["token"], cache_seconds=0),  # a revoked token is refused at the next check
        events=events,
    )
    app = create_app(settings, database)
    server = ServerThread(app)
    server.app = app  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with events_server(database, tmp_path_factory.mktemp("data"), EVENTS) as running:
        yield running


@dataclass
class Callers:
    """An empty registry behind ``server``; clients of an admin, a viewer and a user without a role."""

    url: str
    database: Database
    access: AccessService
    tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, caller: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[caller][0]}"} if caller else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def audit_seqs(self, kinds: tuple[str, ...] = WRITE_KINDS) -> list[int]:
        a = tables.audit_log
        with self.database.read() as conn:
            return list(conn.execute(select(a.c.seq).where(a.c.entity_kind.in_(kinds)).order_by(a.c.seq)).scalars())


@pytest.fixture
def callers(server: ServerThread, database: Database) -> Iterator[Callers]:
    feed = server.app.state.event_feed  # type: ignore[attr-defined]
    wait_until(lambda: feed.open_streams == 0)  # the server has seen the last test's clients go
    empty(database)
    relay.ensure_cursor(database)  # at 0 before any write (the worker would make it at the head of its next round)
    server.app.state.authenticator.forget()  # type: ignore[attr-defined]
    found = Callers(server.url, database, AccessService(database))
    with context.acting_as(context.cli_context()):
        found.access.create_binding("user", "ai-admin", "admin")
        found.access.create_binding("user", "ai-viewer", "viewer")
        for caller, user in (("admin", "ai-admin"), ("viewer", "ai-viewer"), ("nobody", "nobody")):
            secret, info = found.access.create_token(user)
            found.tokens[caller] = (secret, info.id)
    yield found
    for client in found.clients:
        client.close()


def register(admin: httpx.Client, name: str) -> tuple[str, str]:
    """A registered model and its version ``v1``; their ids."""
    model = admin.post(f"{REGISTRY}/registered_models", json={"name": name})
    assert model.status_code == 201, model.text
    version = admin.post(f"{REGISTRY}/model_versions", json={"name": "v1", "registeredModelId": model.json()["id"]})
    assert version.status_code == 201, version.text
    return model.json()["id"], version.json()["id"]


def ids(messages: list[Message]) -> list[int]:
    return [int(m.id) for m in messages if m.id is not None]


def until_ids(stream: EventStream, wanted: set[int], seconds: float = 30) -> list[Message]:
    """Events until every id of ``wanted`` has come (or the time is up)."""
    found: list[Message] = []
    for message in stream.events(seconds):
        found.append(message)
        if wanted <= set(ids(found)):
            break
    return found


def wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def viewer_token(database: Database) -> str:
    """A token of a viewer (bound now) on ``database``."""
    access = AccessService(database)
    with context.acting_as(context.cli_context()):
        access.create_binding("user", "ai-viewer", "viewer")
        token, _ = access.create_token("ai-viewer")
    return token
