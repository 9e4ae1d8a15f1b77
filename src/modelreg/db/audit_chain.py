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
_LAST = f"SELECT seq, hash FROM {audit_log.name} ORDER BY seq DESC LIMIT 1"
_LOCK_HEAD = f"SELECT id FROM {audit_head.name} WHERE id = 1 FOR UPDATE"


def record_hash(record: Mapping[str, Any]) -> str:
    return _hash(tuple(record[name] for name in HASHED_FIELDS))


def _hash(values: tuple[Any, ...]) -> str:
    """SHA-256 of the hashed fields in ``HASHED_FIELDS`` order (a tuple encodes as the same JSON array a list does)."""
    return hashlib.sha256(orjson.dumps(values)).hexdigest()


def append(conn: Connection, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Number, chain and insert the staged ``entries``; returns them numbered (``seq`` set)."""
    with prepared_sql.DriverCursor(conn, "append to the audit chain") as cursor:
        if conn.dialect.name != "sqlite":
            # Server databases: concurrent writers queue here, at the very end of their transactions. SQLite
            # writers already hold the database's write lock for the whole transaction.
            cursor.execute(_LOCK_HEAD)
            cursor.fetchall()
        cursor.execute(_LAST)
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
        repository.insert_raw(conn, audit_log, _COLUMNS, rows, cursor)
    return numbered
