"""Generic row access shared by every entity table. Rules live in the services; this layer trusts its callers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, Table, bindparam, insert, select, update

from modelreg.db import prepared as prepared_sql
from modelreg.db.pagination import PageRequest

# A row as the services read it: from the database (a RowMapping, whose keys SQLAlchemy types as names or columns)
# or built in code as a dict. Readers index it by column name only.
AnyRow = RowMapping | Mapping[str, Any]


@cache
def _insert(table: Table) -> Any:
    return insert(table)


def insert_row(conn: Connection, table: Table, values: dict[str, Any]) -> int:
    key = conn.execute(_insert(table), values).inserted_primary_key
    if key is None:  # only for statements that are not single-row inserts
        raise RuntimeError(f"insert into {table.name} returned no primary key")
    return int(key[0])


@cache
def _raw_insert_sql(table: str, columns: tuple[str, ...], paramstyle: str) -> str:
    marker = "?" if paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marker for _ in columns)})"


def insert_raw(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]], cursor: Any = None
) -> None:
    """Insert plain rows (str, int, float, bool, None) through the driver's cursor, in the connection's transaction.

    For the rows every write adds (audit records, custom properties): SQLAlchemy's execution machinery costs several
    times what the database needs for such an insert (bench/governance_overhead.py). Driver errors are wrapped as
    SQLAlchemy's, so callers and the error mapping see the same exceptions as from ``conn.execute``. ``cursor``: one
    of the caller's ``prepared_sql.DriverCursor`` on this connection, else one is opened and closed here.
    """
    sql = _raw_insert_sql(table.name, columns, conn.dialect.paramstyle)
    if cursor is None:
        with prepared_sql.DriverCursor(conn, sql, list(rows)) as own:
            _execute_rows(own, sql, rows)
    else:
        _execute_rows(cursor, sql, rows)


def _execute_rows(cursor: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)


@cache
def _by_id(table: Table) -> Select[Any]:
    """Built once per table: reusing the statement object skips SQLAlchemy's per-call construction and cache-key
    work, which is most of the cost of a get-by-id."""
    return select(table).where(table.c.id == bindparam("id"))


def get_row(conn: Connection, table: Table, id_: int) -> dict[str, Any] | None:
    """The row with this id, by column name (run on the driver's cursor: see ``db/prepared.py``)."""
    prepared, rows = prepared_sql.fetch(conn, _by_id(table), {"id": id_})
    return dict(zip(prepared.columns, rows[0], strict=True)) if rows else None


def update_row(conn: Connection, table: Table, id_: int, values: dict[str, Any]) -> None:
    conn.execute(update(table).where(table.c.id == id_).values(**values))


@cache
def _id_only(table: Table) -> Select[Any]:
    return select(table.c.id).where(table.c.id == bindparam("id"))


def exists(conn: Connection, table: Table, id_: int) -> bool:
    return conn.execute(_id_only(table), {"id": id_}).first() is not None


def find_rows(conn: Connection, table: Table, where: Sequence[ColumnElement[bool]], limit: int = 2) -> list[RowMapping]:
    return list(conn.execute(select(table).where(*where).order_by(table.c.id).limit(limit)).mappings())


def list_page(
    conn: Connection, table: Table, where: Sequence[ColumnElement[bool]], page: PageRequest
) -> tuple[list[RowMapping], str]:
    """One page of rows and the token of the next page (``""`` on the last page)."""
    clauses = list(where)
    after = page.after_clause(table)
    if after is not None:
        clauses.append(after)
    stmt = select(table).where(*clauses).order_by(*page.order_clause(table)).limit(page.size + 1)
    rows = list(conn.execute(stmt).mappings())
    if len(rows) > page.size:
        rows = rows[: page.size]
        return rows, page.token_for(rows[-1])
    return rows, ""
