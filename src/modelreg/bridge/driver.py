"""The sync's hot statements, run on the database driver's cursor.

A refresh reads a few hundred rows through IN lists of as many ids, several times a second while the registry is
busy. Through SQLAlchemy's execution machinery that costs microseconds per row and per id (Row objects, result
processors, rendering each expanding parameter), which was the largest part of the sync's CPU and, with the GIL,
of what it took from request handlers (bench/bridge_write_tax.py). The statements are still built with SQLAlchemy
and compiled by it once per dialect; only their execution goes to the cursor of the connection's transaction
(`db/audit_chain.py` does the same on every write).

Values come back as the driver returns them: fine for the integer, string and float columns read here (a Boolean
column would come back as 0/1 from SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from modelreg.bridge.pacing import pace

CHUNK = 2000  # values per IN list: well under every backend's bound-parameter limit


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # parameter names in order (positional drivers), None for named ones
    values: Mapping[str, Any]  # the statement's own parameter values (literals in its WHERE clause)
    mark: str  # a positional placeholder


_compiled: dict[tuple[ClauseElement, str], _Compiled] = {}
_lock = threading.Lock()


def _compile(conn: Connection, statement: ClauseElement) -> _Compiled:
    key = (statement, conn.dialect.name)
    found = _compiled.get(key)
    if found is None:
        compiled = statement.compile(dialect=conn.dialect)
        if not isinstance(compiled, SQLCompiler):  # a DDL statement: it has no parameters to order
            raise TypeError(f"not a DML or SELECT statement: {statement!r}")
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        found = _Compiled(compiled.string, order, dict(compiled.params), mark)
        with _lock:
            _compiled[key] = found
    return found


def _prepare(compiled: _Compiled, lists: Mapping[str, Sequence[Any]], values: Mapping[str, Any]) -> tuple[str, Any]:
    """The SQL with each expanding parameter in `lists` spelled out, and the parameters in the driver's form."""
    sql = compiled.sql
    if compiled.order is not None:
        for name, items in lists.items():
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join([compiled.mark] * len(items)) or "NULL")
        params: list[Any] = []
        for name in compiled.order:
            if name in lists:
                params.extend(lists[name])
            else:
                params.append(values[name] if name in values else compiled.values[name])
        return sql, params
    named = {**compiled.values, **values}
    for name, items in lists.items():
        spelled = [f"{name}_{i}" for i in range(len(items))]
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(f"%({s})s" for s in spelled) or "NULL")
        named.update(zip(spelled, items, strict=True))
    return sql, named


def rows(
    conn: Connection, statement: ClauseElement, lists: Mapping[str, Sequence[Any]], **values: Any
) -> Iterator[dict[str, Any]]:
    """Rows (as dicts) of a SELECT whose expanding parameters are given in `lists` (each at most `CHUNK` long)."""
    sql, params = _prepare(_compile(conn, statement), lists, values)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for i, row in enumerate(cursor.fetchall()):
            yield dict(zip(names, row, strict=True))
            if not i & 31:
                pace()
    finally:
        cursor.close()


def rows_in(conn: Connection, statement: ClauseElement, ids: Sequence[Any], **values: Any) -> Iterator[dict[str, Any]]:
    """Rows of a SELECT with one expanding parameter `ids`, for any number of ids (chunked)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield from rows(conn, statement, {"ids": ordered[start : start + CHUNK]}, **values)


def execute(conn: Connection, statement: ClauseElement, lists: Mapping[str, Sequence[Any]], **values: Any) -> None:
    """Run a statement that returns nothing (a DELETE with IN lists)."""
    sql, params = _prepare(_compile(conn, statement), lists, values)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
    finally:
        cursor.close()


def insert_many(conn: Connection, statement: ClauseElement, records: Sequence[Mapping[str, Any]]) -> None:
    """An INSERT of `records` (dicts with every column the statement names), as one executemany."""
    if not records:
        return
    compiled = _compile(conn, statement)
    cursor = conn.connection.cursor()
    try:
        if compiled.order is not None:
            cursor.executemany(compiled.sql, [tuple(r[name] for name in compiled.order) for r in records])
        else:
            cursor.executemany(compiled.sql, list(records))
    finally:
        cursor.close()
