"""Appending to the audit trail as a hash chain.

Each record's ``hash`` is SHA-256 over its fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it (``services/audit.py`` verifies). Appends happen inside the
write transaction that made the change, just before commit (``Database.write``), so a change and its record
commit or roll back together, and sequence numbers have no gaps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection

from modelreg.db import prepared as prepared_sql
from modelreg.db import repository
from modelreg.db.audit_channel import AuditEntry
from modelreg.db.tables import audit_head, audit_log

GENESIS = "0" * 64  # the prev_hash of record 1
# The hashed fields, in this order; every one is a str, an int or None, so the encoding is canonical.
HASHED_FIELDS = (
    "seq",
    "time_ms",
    "actor",
    "via",
    "action",
    "entity_kind",
    "entity_id",
    "entity_name",
    "changes",
    "request_id",
    "client",
    "prev_hash",
)

_COLUMNS = (*HASHED_FIELDS, "hash")
# Every write runs these, so they go straight to the driver's cursor: through SQLAlchemy's execution machinery
# each statement costs ~40 µs more than the database needs for it (measured: bench/governance_overhead.py).
#
# On the server databases, concurrent writers queue on the lock of the ``audit_head`` row, at the very end of
# their transactions, and hold it until they commit: every round trip made while holding it is a round trip that
# every other writer waits for, so registration throughput is bound by how few there are (bench/README.md).
# - MariaDB/MySQL, one statement to lock and read the last record: the head row is a const table, read and locked
#   (waiting for the holder to commit) while the statement is optimized, so audit_log is read only afterwards, by
#   a locking read, which sees the latest committed record. Then the INSERT and the COMMIT: three round trips.
# - PostgreSQL evaluates a join before it locks, so the lock and the read are two statements, sent together in
#   one pipeline (the server runs the second once the first has its lock), and the INSERT and the COMMIT another:
#   two round trips.
# - SQLite writers hold the database's write lock for the whole transaction already: no lock statement.
_LAST = f"SELECT seq, hash FROM {audit_log.name} ORDER BY seq DESC LIMIT 1"
_LOCK_HEAD = f"SELECT id FROM {audit_head.name} WHERE id = 1 FOR UPDATE"
_LOCK_AND_LAST = (
    f"SELECT a.seq, a.hash FROM {audit_head.name} h STRAIGHT_JOIN {audit_log.name} a"
    " WHERE h.id = 1 ORDER BY a.seq DESC LIMIT 1 FOR UPDATE"
)


def record_hash(record: Mapping[str, Any]) -> str:
    return _hash(tuple(record[name] for name in HASHED_FIELDS))


def _hash(values: tuple[Any, ...]) -> str:
    """SHA-256 of the hashed fields in ``HASHED_FIELDS`` order (a tuple encodes as the same JSON array a list does)."""
    return hashlib.sha256(orjson.dumps(values)).hexdigest()


def append(conn: Connection, entries: list[AuditEntry], *, commit: bool = False) -> list[AuditEntry]:
    """Number, chain and insert the staged ``entries``; returns them numbered (``seq`` set). With ``commit``, the
    transaction is committed too, in the insert's round trip where the database allows it (PostgreSQL), so that
    the ``Connection``'s own commit then finds nothing to do."""
    backend = conn.dialect.name
    with prepared_sql.DriverCursor(conn, "append to the audit chain") as cursor:
        if backend == "postgresql":
            last = _pipelined(conn.connection.dbapi_connection, cursor, (_LOCK_HEAD, _LAST))
        else:
            cursor.execute(_LAST if backend == "sqlite" else _LOCK_AND_LAST)
            last = cursor.fetchone()
        seq, prev = (int(last[0]), str(last[1])) if last is not None else (0, GENESIS)
        rows = []
        numbered = []
        for e in entries:
            seq += 1
            fields = (e.time_ms, e.actor, e.via, e.action, e.entity_kind, e.entity_id, e.entity_name, e.changes)
            hashed = (seq, *fields, e.request_id, e.client, prev)  # HASHED_FIELDS, in order
            prev = _hash(hashed)
            rows.append((*hashed, prev))
            numbered.append(AuditEntry(*fields, e.request_id, e.client, seq))
        if backend == "postgresql" and commit:
            dbapi_connection: Any = conn.connection.dbapi_connection
            with dbapi_connection.pipeline():  # one Sync for both: commit() would add one of its own
                repository.insert_raw(conn, audit_log, _COLUMNS, rows, cursor)
                cursor.execute("COMMIT")
        else:
            repository.insert_raw(conn, audit_log, _COLUMNS, rows, cursor)
    return numbered


def _pipelined(dbapi_connection: Any, cursor: Any, statements: tuple[str, str]) -> Any:
    """Send both statements in one round trip (psycopg's pipeline mode); the first row of the second's result."""
    first = dbapi_connection.cursor()
    try:
        with dbapi_connection.pipeline():
            first.execute(statements[0])
            cursor.execute(statements[1])
        return cursor.fetchone()
    finally:
        first.close()
