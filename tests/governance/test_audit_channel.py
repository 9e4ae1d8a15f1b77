"""The audit channel of ``Database.write()``: typed entries staged on a write transaction, numbered at commit and
handed to the ``on_commit`` listeners afterwards; a rollback discards them; staging anywhere else is a clear error."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from conftest import empty
from modelreg.db.audit_channel import AuditEntry, NotInWriteTransaction, stage
from modelreg.db.database import Database
from modelreg.db.prepared import DriverCursor
from modelreg.db.tables import audit_log


def entry(name: str) -> AuditEntry:
    return AuditEntry(
        time_ms=1,
        actor="system:tests",
        via="system",
        action="create",
        entity_kind="registered_model",
        entity_id=7,
        entity_name=name,
        changes='{"after":null,"before":null}',
        request_id=None,
        client=None,
    )


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    empty(database)
    yield database


def committed_rows(db: Database) -> list[tuple[int, str]]:
    with db.read() as conn:
        return [(r.seq, r.entity_name) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def test_listeners_get_the_numbered_entries_once_committed(db: Database) -> None:
    heard: list[tuple[list[AuditEntry], list[tuple[int, str]]]] = []

    def listener(entries: Sequence[AuditEntry]) -> None:
        heard.append((list(entries), committed_rows(db)))  # what another transaction sees at that moment

    unsubscribe = db.on_commit(listener)
    try:
        with db.write() as conn:
            stage(conn, entry("a"))
            stage(conn, entry("b"))
            assert heard == []  # not before the commit
        with db.write() as conn:
            stage(conn, entry("c"))
        with db.write():
            pass  # a write that staged nothing tells no one
    finally:
        unsubscribe()
    first, second = heard[0][0], heard[1][0]
    assert [(e.seq, e.entity_name) for e in first] == [(1, "a"), (2, "b")]
    assert [(e.seq, e.entity_name) for e in second] == [(3, "c")]
    assert first[0] == replace(entry("a"), seq=1)  # every field as staged, plus its number
    assert heard[0][1] == [(1, "a"), (2, "b")], "the listener ran before the commit was visible"
    assert len(heard) == 2


def test_a_rollback_discards_the_staged_entries_and_tells_no_one(db: Database) -> None:
    heard: list[Sequence[AuditEntry]] = []
    unsubscribe = db.on_commit(heard.append)
    try:
        with pytest.raises(RuntimeError, match="the change failed"), db.write() as conn:
            stage(conn, entry("lost"))
            raise RuntimeError("the change failed")
        with db.write() as conn:
            stage(conn, entry("kept"))
    finally:
        unsubscribe()
    assert [[(e.seq, e.entity_name) for e in entries] for entries in heard] == [[(1, "kept")]]
    assert committed_rows(db) == [(1, "kept")]


def test_every_listener_hears_each_commit_until_it_unsubscribes_and_a_failing_one_fails_nothing(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    first: list[str] = []
    second: list[str] = []

    def broken(_entries: Sequence[AuditEntry]) -> None:
        raise ValueError("listener bug")

    stop_first = db.on_commit(lambda entries: first.extend(e.entity_name or "" for e in entries))
    stop_broken = db.on_commit(broken)
    stop_second = db.on_commit(lambda entries: second.extend(e.entity_name or "" for e in entries))
    try:
        with db.write() as conn:
            stage(conn, entry("one"))
        stop_first()
        with db.write() as conn:
            stage(conn, entry("two"))
    finally:
        stop_broken()
        stop_second()
    assert first == ["one"]
    assert second == ["one", "two"]
    assert committed_rows(db) == [(1, "one"), (2, "two")]
    assert "audit commit listener" in caplog.text and "listener bug" in caplog.text


def test_staging_outside_a_write_transaction_is_a_clear_error(db: Database) -> None:
    with db.write() as conn:
        stage(conn, entry("in"))
    # a read transaction (on SQLite the same connection the write just used) takes no entries
    with db.read() as conn, pytest.raises(NotInWriteTransaction, match=r"not inside Database\.write\(\)"):
        stage(conn, entry("out"))
    with db.engine.connect() as raw, pytest.raises(NotInWriteTransaction):
        stage(raw, entry("elsewhere"))
    assert committed_rows(db) == [(1, "in")]


def test_a_driver_error_past_sqlalchemy_is_sqlalchemys_so_503s_and_deadlock_retries_see_it(db: Database) -> None:
    """Statements sent on the driver's cursor (hot reads, raw inserts, the audit chain, SQLite's BEGIN) go through
    ``DriverCursor``: a driver error surfaces as ``DBAPIError``, as from ``Connection.execute``, and the cursor is
    closed either way."""
    with pytest.raises(DBAPIError) as raised, db.write() as conn, DriverCursor(conn, "bad", ()) as cursor:
        opened = cursor
        cursor.execute("SELECT no_such_column FROM audit_log")
    assert not isinstance(raised.value.orig, DBAPIError) and raised.value.statement == "bad"
    with pytest.raises(Exception):  # noqa: B017  closed: every driver refuses, each with its own error type
        opened.execute("SELECT 1")
