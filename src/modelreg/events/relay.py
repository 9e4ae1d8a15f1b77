"""The relay: audit records after the cursor → ``events`` rows and one pending delivery per matching webhook, in
one transaction with the cursor's advance (see the package docstring). Also the event log's upkeep (`prune`).

A round has two steps. `prepare` reads the records and builds their events (the lookups, the JSON) in a read
transaction, holding no lock; `commit_prepared` then, in the write transaction, locks the cursor row, checks it has
not moved meanwhile (else the round is dropped and read again), and inserts. So the write lock, which every
registry write needs (SQLite has one for the whole database), is held only for the inserts: building events inside
it cost registration throughput several percent more (bench/events.py). Two relays (a lease holder that lost its
lease mid-round and its successor) take turns on the cursor row, and the unique keys of ``events`` and
``webhook_deliveries`` would refuse a double anyway. A missing cursor (a new or upgraded database) starts at the
audit head, so the history is not replayed, or at the oldest webhook's start if one was created before any relay
ran."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Table, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.db.database import Database
from modelreg.db.tables import audit_log, event_cursors, events, webhook_deliveries, webhooks
from modelreg.events.cloudevents import Event, Lookups, from_audit, matches

CURSOR = "relay"
PENDING, DELIVERED, FAILED, TEST = "pending", "delivered", "failed", "test"
PRUNE_CHUNK = 5000  # rows deleted per transaction, so pruning never holds the write lock for long

_a, _c, _d, _e, _w = audit_log.c, event_cursors.c, webhook_deliveries.c, events.c, webhooks.c
_RECORD_COLUMNS = (_a.seq, _a.time_ms, _a.actor, _a.via, _a.action, _a.entity_kind, _a.entity_id, _a.entity_name)


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the relay needs of an active webhook."""

    id: int
    since_seq: int
    event_types: Sequence[str]
    model_filter: str | None
    stage_filter: str | None
    paused: bool  # its deliveries are queued parked (no next attempt) until it is resumed

    def wants(self, event: Event) -> bool:
        if event.seq <= self.since_seq or not matches(self.event_types, event.type):
            return False
        if self.model_filter and not (event.model_name and matches([self.model_filter], event.model_name)):
            return False
        return not self.stage_filter or event.stage == self.stage_filter


def relay_once(db: Database, source: str, *, limit: int = 500) -> int:
    """Relay up to ``limit`` audit records; returns how many were read (0: caught up, or the cursor was made)."""
    prepared = prepare(db, source, limit)
    if prepared is None:
        return 0
    return db.run_write(commit_prepared, prepared)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A round's events, built outside the write lock from the records after ``after``."""

    after: int  # the cursor they were read from
    last: int  # the last record read: the cursor's next position
    read: int  # how many records
    made: Sequence[Event]


def prepare(db: Database, source: str, limit: int) -> Prepared | None:
    """The events of up to ``limit`` records after the cursor, read without a lock; None when there is nothing to
    relay (or there was no cursor yet: it is made now, at the head)."""
    with db.read() as conn:
        after = cursor(conn)
        if after is not None:
            query = select(*_RECORD_COLUMNS, _a.changes, _a.request_id).where(_a.seq > after).order_by(_a.seq)
            records = conn.execute(query.limit(limit)).mappings().all()
            if not records:
                return None
            lookups = Lookups(conn)
            lookups.prefetch(records)
            made = [event for record in records if (event := from_audit(conn, record, source, lookups)) is not None]
            return Prepared(after, int(records[-1]["seq"]), len(records), made)
    ensure_cursor(db)
    return None


def commit_prepared(conn: Connection, prepared: Prepared) -> int:
    """Insert a prepared round in the caller's write transaction (the worker records its attempts in the same one)
    and advance the cursor; 0 when another relay moved the cursor meanwhile (the round is read again)."""
    if cursor(conn, lock=True) != prepared.after:
        return 0
    if prepared.made:
        conn.execute(insert(events), [_event_row(event) for event in prepared.made])
        deliveries = _deliveries(prepared.made, subscriptions(conn), now_ms())
        if deliveries:
            conn.execute(insert(webhook_deliveries), deliveries)
    conn.execute(update(event_cursors).where(_c.name == CURSOR).values(seq=prepared.last))
    return prepared.read


def behind(db: Database) -> bool:
    """Whether the audit log has records the relay has not read (or there is no cursor yet): a cheap read, so an
    idle relay never takes the write lock."""
    with db.read() as conn:
        after = cursor(conn)
        return after is None or conn.execute(select(_a.seq).where(_a.seq > after).limit(1)).first() is not None


def ensure_cursor(db: Database) -> None:
    """Create the cursor if it is missing (the worker's start, before the server takes requests: a change made
    before the first round would otherwise fall before a cursor created at the head after it)."""
    with db.read() as conn:
        if cursor(conn) is not None:
            return
    with contextlib.suppress(IntegrityError):  # another process made it
        db.run_write(_create_cursor)


def cursor(conn: Connection, *, lock: bool = False) -> int | None:
    """The relay's position: the last audit record it has read (None: it has never run on this database)."""
    query = select(_c.seq).where(_c.name == CURSOR)
    found = conn.execute(query.with_for_update() if lock else query).scalar()
    return None if found is None else int(found)


def _create_cursor(conn: Connection) -> None:
    """The cursor at the audit head (or the oldest webhook's start), unless another process made it meanwhile."""
    if cursor(conn, lock=True) is not None:
        return
    head = conn.execute(select(func.max(_a.seq))).scalar() or 0
    oldest_webhook = conn.execute(select(func.min(_w.since_seq))).scalar()
    start = head if oldest_webhook is None else min(head, int(oldest_webhook))
    conn.execute(insert(event_cursors).values(name=CURSOR, seq=start))


def subscriptions(conn: Connection) -> list[Subscription]:
    """The active webhooks (paused ones included: their deliveries wait for the resume)."""
    rows = conn.execute(
        select(_w.id, _w.since_seq, _w.event_types, _w.model_filter, _w.stage_filter, _w.paused_time).where(
            _w.active.is_(True)
        )
    )
    return [
        Subscription(
            r.id, r.since_seq, orjson.loads(r.event_types), r.model_filter, r.stage_filter, r.paused_time is not None
        )
        for r in rows
    ]


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "subject": event.subject,
        "entity_key": event.entity_key,
        "model_name": event.model_name,
        "stage": event.stage,
        "time_ms": event.time_ms,
        "body": event.body.decode(),
    }


def _deliveries(made: Sequence[Event], hooks: Sequence[Subscription], now: int) -> list[Mapping[str, Any]]:
    return [
        {
            "webhook_id": hook.id,
            "seq": event.seq,
            "entity_key": event.entity_key,
            "event_type": event.type,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_ms": None if hook.paused else now,
            "create_time": now,
        }
        for event in made
        for hook in hooks
        if hook.wants(event)
    ]


# --- upkeep ---------------------------------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def prune(db: Database, before_ms: int) -> int:
    """Delete finished deliveries created, and events made, before ``before_ms`` (an event a pending delivery still
    needs stays), in chunks; returns how many rows went."""
    finished = (_d.state.in_((DELIVERED, FAILED, TEST)), _d.create_time < before_ms)
    gone = _delete_chunked(db, webhook_deliveries, _d.id, finished)
    waited_for = exists().where(_d.seq == _e.seq, _d.state == PENDING)
    return gone + _delete_chunked(db, events, _e.seq, (_e.time_ms < before_ms, ~waited_for))


def _delete_chunked(db: Database, table: Table, key: Any, where: Sequence[ColumnElement[bool]]) -> int:
    deleted = 0
    while True:
        with db.write() as conn:
            boundary = conn.execute(select(key).where(*where).order_by(key).offset(PRUNE_CHUNK - 1).limit(1)).scalar()
            bounded = [*where] if boundary is None else [*where, key <= boundary]
            deleted += conn.execute(delete(table).where(*bounded)).rowcount
        if boundary is None:
            return deleted
