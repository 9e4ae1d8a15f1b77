"""The SDK's ``events()``: the stream's events as typed objects, and across reconnections (this server ends each
stream after a second) every one once, in order: a change made while the client was away arrives after it comes
back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from conftest import ServerThread, empty, free_port
from events.stream_support import EVENTS, WRITE_KINDS, events_server, register, viewer_token, wait_until
from modelreg.auth import context
from modelreg.client import AsyncModelRegistry, Event, ModelRegistry, ServerUnavailable, Unauthorized
from modelreg.db import tables
from modelreg.db.database import Database
from modelreg.events import relay
from modelreg.services.access import AccessService

pytestmark = pytest.mark.sqlite_only("the SDK's side of the stream")


@pytest.fixture(scope="module")
def short_streams(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = EVENTS.model_copy(update={"stream_max_seconds": 1})
    with events_server(database, tmp_path_factory.mktemp("data"), settings) as running:
        yield running


@pytest.fixture
def tokens(short_streams: ServerThread, database: Database) -> dict[str, str]:
    feed = short_streams.app.state.event_feed  # type: ignore[attr-defined]
    wait_until(lambda: feed.open_streams == 0)
    empty(database)
    relay.ensure_cursor(database)  # at 0 before any write (the worker would make it at the head of its next round)
    short_streams.app.state.authenticator.forget()  # type: ignore[attr-defined]
    viewer = viewer_token(database)
    access = AccessService(database)
    with context.acting_as(context.cli_context()):
        access.create_binding("user", "ai-admin", "admin")
        admin, _ = access.create_token("ai-admin")
    return {"admin": admin, "viewer": viewer}


def audit_seqs(database: Database) -> list[int]:
    a = tables.audit_log
    with database.read() as conn:
        return list(conn.execute(select(a.c.seq).where(a.c.entity_kind.in_(WRITE_KINDS)).order_by(a.c.seq)).scalars())


def test_events_reconnect_and_miss_nothing(
    short_streams: ServerThread, database: Database, tokens: dict[str, str]
) -> None:
    feed = short_streams.app.state.event_feed  # type: ignore[attr-defined]
    received: list[Event] = []

    def listen() -> None:
        with ModelRegistry(short_streams.url, token=tokens["viewer"]) as registry:
            for event in registry.events(types=["io.modelreg.registered_model.*", "io.modelreg.model_version.*"]):
                received.append(event)
                if len(received) == 4:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    with httpx.Client(base_url=short_streams.url, headers={"Authorization": f"Bearer {tokens['admin']}"}) as admin:
        listener.start()
        wait_until(lambda: feed.open_streams == 1)
        register(admin, "before")
        wait_until(lambda: len(received) == 2)
        wait_until(lambda: feed.open_streams == 0)  # the server ended the stream; the client waits to reconnect
        register(admin, "while-away")
        listener.join(timeout=30)
    assert [int(e.id) for e in received] == audit_seqs(database)
    assert [e.type for e in received] == [
        "io.modelreg.registered_model.created",
        "io.modelreg.model_version.created",
    ] * 2
    assert [e.data["entity"]["name"] for e in received[::2]] == ["before", "while-away"]
    assert received[0].time is not None and received[0].time.tzinfo is not None
    assert not any(e.is_gap for e in received)


def test_async_events_start_after_since(
    short_streams: ServerThread, database: Database, tokens: dict[str, str]
) -> None:
    with httpx.Client(base_url=short_streams.url, headers={"Authorization": f"Bearer {tokens['admin']}"}) as admin:
        register(admin, "first")
        register(admin, "second")
    seqs = audit_seqs(database)

    async def listen() -> list[Event]:
        found: list[Event] = []
        async with AsyncModelRegistry(short_streams.url, token=tokens["viewer"]) as registry:
            async for event in registry.events(since=seqs[1]):
                found.append(event)
                if len(found) == 2:
                    return found
        return found

    assert [int(e.id) for e in asyncio.run(listen())] == seqs[2:]


def test_events_raise_what_the_server_refuses(short_streams: ServerThread, tokens: dict[str, str]) -> None:
    with ModelRegistry(short_streams.url, token="not-a-token") as registry, pytest.raises(Unauthorized):
        next(registry.events())
    with ModelRegistry(f"http://127.0.0.1:{free_port()}") as registry, pytest.raises(ServerUnavailable):
        next(registry.events())
