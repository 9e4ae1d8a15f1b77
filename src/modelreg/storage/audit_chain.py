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
from sqlalchemy import Connection, insert, select

from modelreg.storage.tables import audit_head, audit_log

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

_a = audit_log.c
_LAST = select(_a.seq, _a.hash).order_by(_a.seq.desc()).limit(1)
_LOCK_HEAD = select(audit_head.c.id).where(audit_head.c.id == 1).with_for_update()
_INSERT = insert(audit_log)


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps([record[name] for name in HASHED_FIELDS])).hexdigest()


def append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Number, chain and insert ``entries`` (dicts of every hashed field but seq and prev_hash)."""
    if conn.dialect.name != "sqlite":
        # Server databases: concurrent writers queue here, at the very end of their transactions. SQLite
        # writers already hold the database's write lock for the whole transaction.
        conn.execute(_LOCK_HEAD)
    last = conn.execute(_LAST).first()
    seq, prev = (int(last[0]), str(last[1])) if last is not None else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        row = {**entry, "seq": seq, "prev_hash": prev}
        row["hash"] = prev = record_hash(row)
        rows.append(row)
    conn.execute(_INSERT, rows)
