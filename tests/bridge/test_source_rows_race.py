"""Replicas that start together on a new database create a bridge source's row at the same moment: the first
sync status each records, and the lease of a remote source. One inserts; the others must go on from its row,
never fail on the duplicate key (a CI run saw `UniqueViolation` on `bridge_sources` from three replicas)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from modelreg.bridge import store
from modelreg.bridge.remote import RemotePoller
from modelreg.db.database import Database
from modelreg.db.tables import bridge_sources

CONTENDERS = 8


def fresh_name() -> str:
    return f"race-{uuid.uuid4().hex[:12]}"


def source_rows(database: Database, name: str) -> list[dict[str, object]]:
    query = select(bridge_sources).where(bridge_sources.c.name == name)
    with database.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def test_a_status_recorded_while_another_replica_inserts_the_row_updates_it(database: Database) -> None:
    """The first replica has inserted the row and not committed yet; the second, which found no row, waits for it
    and then records its status on the row the first committed."""
    name = fresh_name()
    inserted, release = threading.Event(), threading.Event()

    def first() -> None:
        with database.write() as conn:
            store.mark_synced(conn, name, 1000, full=True)
            inserted.set()
            release.wait(10)

    def second() -> None:
        with database.write() as conn:
            store.mark_failed(conn, name, 2000, "source unreachable")

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(first)
        assert inserted.wait(10)
        waiting = pool.submit(second)
        time.sleep(0.3)  # the second transaction reaches its write and waits on the first's uncommitted row
        release.set()
        held.result(timeout=30)
        waiting.result(timeout=30)  # raised IntegrityError (duplicate key) before the fix

    [row] = source_rows(database, name)
    assert (row["last_sync"], row["last_full_sync"]) == (1000, 1000)
    assert (row["last_error"], row["last_error_time"]) == ("source unreachable", 2000)


def test_replicas_recording_a_new_source_at_once_all_succeed(database: Database) -> None:
    name = fresh_name()
    barrier = threading.Barrier(CONTENDERS)

    def record(n: int) -> None:
        barrier.wait(timeout=10)
        with database.write() as conn:
            store.mark_synced(conn, name, 1000 + n, full=n % 2 == 0)

    with ThreadPoolExecutor(CONTENDERS) as pool:
        for done in [pool.submit(record, n) for n in range(CONTENDERS)]:
            done.result(timeout=30)
    [row] = source_rows(database, name)
    assert row["last_sync"] in range(1000, 1000 + CONTENDERS)


def test_replicas_racing_for_a_new_remote_source_elect_one_poller(database: Database) -> None:
    """Each replica's poller tries to take the lease of a source nobody polled yet: exactly one gets it (wait 0),
    the others are told how long to wait, and none fails."""
    name = fresh_name()
    pollers = [RemotePoller(database, []) for _ in range(CONTENDERS)]
    barrier = threading.Barrier(CONTENDERS)

    def contend(poller: RemotePoller) -> float:
        barrier.wait(timeout=10)
        return poller._acquire(name, 30)

    with ThreadPoolExecutor(CONTENDERS) as pool:
        waits = list(pool.map(contend, pollers))
    assert waits.count(0.0) == 1, waits
    assert all(25 < wait <= 30.1 for wait in waits if wait), waits
    [row] = source_rows(database, name)
    assert row["lease_owner"] == pollers[waits.index(0.0)].owner
