"""SELECTs on the hot read path, compiled once per dialect and run on the driver's cursor.

Through ``Connection.execute`` a cached SELECT by primary key costs ~35 µs of SQLAlchemy's execution machinery
(cache-key lookup, execution context, result metadata, Row objects) for ~3 µs of SQLite work; a get-by-id runs two
(the row, its custom properties), and every write reads its entity back. Here SQLAlchemy compiles the statement
once per dialect (the same SQL text and quoting it would send) and applies the same bind and result processors its
column types define (SQLite's booleans come back as ``bool``), so callers get the values ``execute`` would give.
Driver errors are wrapped as SQLAlchemy's (``DBAPIError.instance``) by ``DriverCursor``, which every statement
sent past SQLAlchemy uses (these reads, ``repository.insert_raw``, the audit chain, SQLite's ``BEGIN``), so error
handling upstream (503 on ``OperationalError``, deadlock retries) sees what ``Connection.execute`` would raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CompoundSelect, Connection, Dialect, Select
from sqlalchemy.exc import DBAPIError

from modelreg.db.disconnects import connection_lost

Processor = Callable[[Any], Any]
Statement = Select[Any] | CompoundSelect[Any]


@dataclass(frozen=True)
class Prepared:
    statement: Statement  # kept so that the id() key below stays this statement's
    sql: str
    order: tuple[str, ...] | None  # parameter names in order for positional paramstyles, None for named ones
    binds: tuple[tuple[str, Processor], ...]  # bind processors by parameter name
    columns: tuple[str, ...]
    # Result processors by column position; some depend on the type the driver reports (PostgreSQL's numerics),
    # so they are set from the first cursor's description.
    results: list[tuple[tuple[int, Processor], ...]] = field(default_factory=list)

    def result_processors(self, dialect: Dialect, description: Any) -> tuple[tuple[int, Processor], ...]:
        if not self.results:
            found = []
            for i, column in enumerate(self.statement.selected_columns):
                coltype = description[i][1] if description else None
                processor = column.type.dialect_impl(dialect).result_processor(dialect, coltype)
                if processor is not None:
                    found.append((i, processor))
            self.results.append(tuple(found))
        return self.results[0]


_PREPARED: dict[tuple[int, str, str, str], Prepared] = {}


def prepare(dialect: Dialect, statement: Statement) -> Prepared:
    """``statement`` (a module-level statement with named bind parameters) compiled for ``dialect``."""
    key = (id(statement), dialect.name, dialect.driver, dialect.paramstyle)
    found = _PREPARED.get(key)
    if found is not None and found.statement is statement:
        return found
    compiled = statement.compile(dialect=dialect)
    binds = []
    for name, bind in compiled.binds.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            binds.append((name, processor))
    prepared = Prepared(
        statement,
        compiled.string,
        tuple(compiled.positiontup or ()) if compiled.positional else None,
        tuple(binds),
        tuple(str(c.key) for c in statement.selected_columns),
    )
    _PREPARED[key] = prepared
    return prepared


def fetch(conn: Connection, statement: Statement, params: Mapping[str, Any]) -> tuple[Prepared, list[list[Any]]]:
    """Run ``statement`` with ``params`` in ``conn``'s transaction; its rows as lists of processed values."""
    prepared = prepare(conn.dialect, statement)
    values = dict(params)
    for name, processor in prepared.binds:
        values[name] = processor(values[name])
    args: Any = values if prepared.order is None else tuple(values[name] for name in prepared.order)
    with DriverCursor(conn, prepared.sql, args) as cursor:
        cursor.execute(prepared.sql, args)
        rows = [list(row) for row in cursor.fetchall()]
        processors = prepared.result_processors(conn.dialect, cursor.description)
    for row in rows:
        for i, processor in processors:
            row[i] = processor(row[i])
    return prepared, rows


# A class rather than @contextmanager: it is entered on every hot read and write, and a generator costs more.
class DriverCursor:
    """A cursor of ``conn``'s driver connection (in its transaction), closed afterwards; a driver error inside
    becomes SQLAlchemy's, as from ``conn.execute`` (``statement``/``params`` only label it)."""

    __slots__ = ("conn", "cursor", "dbapi_error", "params", "statement")

    def __init__(self, conn: Connection, statement: str | None = None, params: Any = None) -> None:
        self.conn = conn
        self.dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self.statement, self.params = statement, params
        self.cursor = conn.connection.cursor()

    def __enter__(self) -> Any:
        return self.cursor

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        try:
            self.cursor.close()
        except self.dbapi_error:  # the connection is gone: the error that said so is raised below
            if exc is None:
                raise
        if isinstance(exc, self.dbapi_error):
            # As Connection.execute does: a lost connection is invalidated (the pool discards it) and the error says
            # so (``connection_invalidated``: db/database.py retries such a read once).
            conn = self.conn
            lost = _lost(conn, exc, self.cursor)
            error = DBAPIError.instance(
                self.statement, self.params, exc, self.dbapi_error, connection_invalidated=lost, dialect=conn.dialect
            )
            if lost and not conn.invalidated:
                # and, as SQLAlchemy does, every connection of the pool opened before now: a server restart or a
                # KILL of all sessions took them too, and a retried read must not be handed one of them
                conn.engine.pool._invalidate(conn.connection, error, _checkin=False)
                conn.invalidate(error)
            raise error from exc


def _lost(conn: Connection, exc: BaseException, cursor: Any) -> bool:
    """Whether ``exc`` (a driver error) means the connection is gone: the dialect recognises the error, or
    ``db/disconnects.py`` does (psycopg's "cannot exit pipeline mode while busy" after a killed session, by its
    context), or the driver has marked the connection broken. Unrecognised, the connection would go back to the
    pool and its reset fail at checkin."""
    dbapi_connection: Any = conn.connection.dbapi_connection
    if conn.dialect.is_disconnect(cast(Any, exc), dbapi_connection, cursor):
        return True
    if conn.dialect.name == "postgresql" and connection_lost(exc):  # what the dialect misses (db/disconnects.py)
        return True
    socket_fd = getattr(dbapi_connection, "socket_fd", None)  # db/deadlines.py's connection classes
    return socket_fd is not None and socket_fd() is None
