"""What the event tests share: settings that let webhooks reach receivers on 127.0.0.1 and retry quickly, a real
receiver (`receivers.Receiver`), databases of their own (a server started by another module on the session's
database runs an event worker, which would deliver these tests' events too), and `add_webhook`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from conftest import BACKENDS, _scratch_database
from events.receivers import Receiver
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, webhooks
from modelreg.events.cloudevents import event_type
from modelreg.events.webhooks import WebhookService
from modelreg.services.secrets import SecretBox, generate_key
from modelreg.settings import EventsSettings

LOCAL_EVENTS = {
    "allowed_networks": ["127.0.0.0/8"],
    "allow_http": True,
    "retry_first_interval_seconds": 0.05,
    "retry_max_interval_seconds": 0.2,
    "delivery_timeout_seconds": 2,
    "poll_seconds": 0.05,
    "lease_seconds": 2,
}


@pytest.fixture(scope="module", autouse=True)
def _servers_relay() -> Iterator[None]:
    """Servers started here (in-process or `modelreg serve` subprocesses) run the event worker, which
    tests/conftest.py turns off elsewhere (module scope: set before the modules' own server fixtures)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELREG_EVENTS__RUN_WORKER", "true")
        yield


@pytest.fixture
def events_settings() -> EventsSettings:
    """Receivers on 127.0.0.1 over plain http, short backoff and timeouts, a quick poll."""
    return EventsSettings(**LOCAL_EVENTS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="session")
def secret_box() -> SecretBox:
    return SecretBox.from_key(generate_key())


def _migrated(url: str) -> Database:
    db = Database(url)
    migrations.upgrade(db.engine)
    return db


@pytest.fixture(scope="module", params=BACKENDS)
def events_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database of the module's own, on every backend."""
    scratch = _scratch_database(request.param, tmp_path_factory.mktemp(request.param), suffix="_events")
    db = _migrated(next(scratch))
    yield db
    db.dispose()
    scratch.close()


@pytest.fixture(scope="module")
def sqlite_events_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A SQLite database of the module's own, for tests of the logic rather than the database."""
    db = _migrated(f"sqlite:///{tmp_path_factory.mktemp('events') / 'registry.db'}")
    yield db
    db.dispose()


def audit_head(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.max(audit_log.c.seq))).scalar() or 0)


def event_seqs_in_audit(db: Database, after: int = 0) -> list[str]:
    """The sequence numbers of the audit records after ``after`` that are events (as webhook-ids), in order."""
    a = audit_log.c
    with db.read() as conn:
        rows = conn.execute(select(a.seq, a.entity_kind, a.action).where(a.seq > after).order_by(a.seq)).all()
    return [str(seq) for seq, kind, action in rows if event_type(kind, action) is not None]


def add_webhook(
    db: Database, secrets: SecretBox, url: str, *, name: str = "hook", event_types: list[str] | None = None, **row: Any
) -> tuple[int, str]:
    """Create a webhook with ``WebhookService`` (as ``system:tests``; receivers on 127.0.0.1 allowed) and return
    its id and secret. ``row``: model_filter, stage_filter, active, or columns the service sets itself (a pause:
    paused_time, paused_reason), written over its row."""
    fields = {k: row.pop(k) for k in ("model_filter", "stage_filter", "active") if k in row}
    service = WebhookService(db, secrets, EventsSettings(**LOCAL_EVENTS))
    with context.acting_as(context.system("tests")):
        created, secret = service.create(name, url, event_types, **fields)
    if row:
        with db.write() as conn:
            conn.execute(update(webhooks).where(webhooks.c.id == created.id).values(**row))
    return created.id, secret
