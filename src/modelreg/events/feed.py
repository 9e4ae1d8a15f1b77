"""`EventFeed`: the ``events`` table read after a sequence number, waiting for more; what the SSE stream serves.

Streams do not poll the database one by one: while any is open, one watcher task per process reads the head of the
table (``max(seq)``, on the primary key) every ``events.poll_seconds``, or at once when this process's relay says it
wrote (`notify`), and wakes the streams waiting below it; each then reads its own rows after its position. Nothing
holds a database connection while it waits: every read is one short read, in a worker thread unless the database
is SQLite (``Database.inline``: answered in microseconds on the event loop).

The events table is filled in audit order by one relay at a time (events/relay.py), so reading ``seq > last``
never skips an event; ids have gaps (audit records that are no event), which is why a `Gap` is worked out from the
audit log rather than from the ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
import orjson
from sqlalchemy import Connection, RowMapping, func, select

from modelreg.db import tables
from modelreg.db.database import Database, retry_read
from modelreg.errors import InvalidInput
from modelreg.events import cloudevents, relay
from modelreg.events.cloudevents import Event
from modelreg.settings import EventsSettings

log = logging.getLogger("modelreg.events")
T = TypeVar("T")

BATCH = 200  # rows per read: a stream far behind catches up in steps, between which it sees the clock
GAP_TYPE = f"{cloudevents.TYPE_PREFIX}stream.gap"


class StreamsFull(Exception):
    """This process already serves ``events.max_streams`` streams."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What a stream sends: event types matching any of ``types`` (``*`` wildcards; none: all) of the registered
    models matching ``model`` (a name or glob, as a webhook's model filter; None: all)."""

    types: tuple[str, ...] = ()
    model: str | None = None

    @classmethod
    def parse(cls, types: str | None, model: str | None) -> Selection:
        """From the query's comma-separated ``types``; a pattern that selects no known type is refused (a typo
        would otherwise be a stream that stays silent)."""
        patterns = tuple(p.strip() for p in (types or "").split(",") if p.strip())
        for pattern in patterns:
            if not cloudevents.selects_any(pattern):
                raise InvalidInput(f"types: {pattern!r} matches no event type (see docs/events.md for the list)")
        return cls(patterns, model or None)

    def admits(self, event: Event) -> bool:
        if self.types and not cloudevents.matches(self.types, event.type):
            return False
        return self.model is None or (
            event.model_name is not None and cloudevents.matches([self.model], event.model_name)
        )


@dataclass(frozen=True, slots=True)
class Gap:
    """Events after ``missed_after`` and before ``resumed_at`` are gone (retention, or made before the relay
    started): a stream resuming there says so instead of pretending nothing happened."""

    missed_after: int
    resumed_at: int

    def body(self, source: str) -> bytes:
        """The ``io.modelreg.stream.gap`` CloudEvent."""
        data = {"missedAfter": str(self.missed_after), "resumedAt": str(self.resumed_at)}
        gap_id = f"gap-{self.missed_after}-{self.resumed_at}"
        return orjson.dumps(cloudevents.envelope(gap_id, source, GAP_TYPE, relay.now_ms(), data))


class EventFeed:
    def __init__(self, db: Database, settings: EventsSettings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        self._open = 0  # streams being served
        self._head = 0  # the newest seq the watcher has seen
        self._moves = 0  # how often the head moved
        self._loop: asyncio.AbstractEventLoop | None = None
        self._moved: asyncio.Event | None = None  # set (and replaced) when the head moves
        self._poke: asyncio.Event | None = None  # look now (`notify`)
        self._watcher: asyncio.Task[None] | None = None

    # --- streams ----------------------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Count a stream in; ``StreamsFull`` beyond ``events.max_streams``. Every acquire needs a `release`."""
        with self._lock:
            if self._open >= self.settings.max_streams:
                raise StreamsFull(f"this server already serves {self.settings.max_streams} event streams")
            self._open += 1

    def release(self) -> None:
        with self._lock:
            self._open -= 1

    @property
    def open_streams(self) -> int:
        return self._open

    # --- reads ------------------------------------------------------------------------------------------------

    async def head(self) -> int:
        """The newest event's id (0: none)."""
        return await self._read(_head)

    async def now(self) -> int:
        """Where a stream without a resume point starts: the position the relay has reached (an id; every event up
        to it is in the table). Resuming from it later reports no gap and misses nothing."""
        return await self._read(_now)

    async def read_after(self, seq: int, limit: int = BATCH) -> list[Event]:
        return await self._read(_after, seq, limit)

    async def gap_after(self, seq: int) -> Gap | None:
        return await self._read(_gap, seq, snapshot=True)

    async def _read(self, fn: Callable[..., T], *args: object, snapshot: bool = False) -> T:
        """``fn(conn, *args)`` in a read; ``snapshot`` when ``fn`` reads more than once and the reads must agree
        (on the server databases each statement of a plain read sees what had committed when it began)."""

        def run() -> T:
            with self.db.snapshot() if snapshot else self.db.read() as conn:
                return fn(conn, *args)

        if self.db.inline:
            return run()
        return await anyio.to_thread.run_sync(retry_read, run)

    # --- waiting ----------------------------------------------------------------------------------------------

    def mark(self) -> int:
        """Where the head stands now, as far as the watcher knows: take it before a read, and `wait_after` it once
        the read found nothing new (a move between the two is not missed)."""
        return self._moves

    async def wait_after(self, mark: int, timeout: float) -> None:
        """Until the head moved since ``mark``, at most ``timeout`` seconds (the caller reads to see what came).
        Always waits for the watcher, which runs on this loop: a stream never spins without yielding to it."""
        moved = self._watch()
        if self._moves != mark:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(moved.wait(), timeout)

    def notify(self) -> None:
        """New events were written (the relay in this process): the watcher looks now. Any thread may call it."""
        loop, poke = self._loop, self._poke
        if loop is not None and poke is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(poke.set)

    def _watch(self) -> asyncio.Event:
        """The event the next head move sets; starts the watcher in the running loop if it is not running."""
        loop = asyncio.get_running_loop()
        if self._watcher is None or self._moved is None or self._loop is not loop:
            self._loop = loop
            self._moved, self._poke = asyncio.Event(), asyncio.Event()
            self._watcher = loop.create_task(self._run_watcher(), name="modelreg-event-feed")
        return self._moved

    async def _run_watcher(self) -> None:
        assert self._poke is not None
        failing = False
        try:
            while self._open > 0:
                self._poke.clear()
                try:
                    head = await self.head()
                except Exception as exc:  # the database is away: streams keep their heartbeats, and retry here
                    if not failing:
                        log.warning("event stream: reading the events table failed: %s", exc)
                    failing = True
                else:
                    failing = False
                    if head != self._head:  # moved on, or back (the table was emptied)
                        self._head = head
                        self._wake_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), self.settings.poll_seconds)
        finally:
            self._watcher = None
            self._wake_all()  # a stream that raced the exit waits on the next watcher's event

    def _wake_all(self) -> None:
        self._moves += 1
        if self._moved is not None:
            self._moved.set()
            self._moved = asyncio.Event()


def _head(conn: Connection) -> int:
    return int(conn.execute(select(func.max(tables.events.c.seq))).scalar() or 0)


def _now(conn: Connection) -> int:
    """The relay's cursor, read first: the events up to it committed with it (a later relay round may have added
    more by the second read, hence the max)."""
    return max(relay.cursor(conn) or 0, _head(conn))


def _after(conn: Connection, seq: int, limit: int) -> list[Event]:
    t = tables.events
    query = select(t).where(t.c.seq > seq).order_by(t.c.seq).limit(limit)
    return [_event(row) for row in conn.execute(query).mappings()]


def _event(row: RowMapping) -> Event:
    body = row["body"]
    return Event(
        seq=int(row["seq"]),
        type=row["type"],
        subject=row["subject"],
        entity_key=row["entity_key"],
        model_name=row["model_name"],
        stage=row["stage"],
        time_ms=int(row["time_ms"]),
        body=body.encode() if isinstance(body, str) else bytes(body),
    )


def _gap(conn: Connection, seq: int) -> Gap | None:
    """Whether events after ``seq`` are missing: the first retained event (or, with none, the relay's position)
    is further on, and the audit log has a record of an event kind in between. Read in one snapshot: a relay round
    committed between the look at the events table and the read of the cursor would otherwise be a false gap."""
    oldest = conn.execute(select(func.min(tables.events.c.seq))).scalar()
    if oldest is None:
        cursor = relay.cursor(conn)
        if cursor is None:  # the relay has not run: it will start at the audit head, so nothing before is coming
            cursor = int(conn.execute(select(func.max(tables.audit_log.c.seq))).scalar() or 0)
        oldest = cursor + 1
    if int(oldest) <= seq + 1:
        return None
    a = tables.audit_log
    missed = conn.execute(
        select(a.c.seq).where(a.c.seq > seq, a.c.seq < oldest, a.c.entity_kind.in_(_event_kinds())).limit(1)
    ).first()
    return Gap(seq, int(oldest)) if missed is not None else None


def _event_kinds() -> Sequence[str]:
    """The audit entity kinds whose records become events (``io.modelreg.<kind>.<what>``)."""
    prefix = len(cloudevents.TYPE_PREFIX)
    return sorted({t[prefix:].rsplit(".", 1)[0] for t in cloudevents.event_types()})
