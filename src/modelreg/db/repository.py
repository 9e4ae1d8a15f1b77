"""Generic row access shared by every entity table. Rules live in the services; this layer trusts its callers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Integer,
    RowMapping,
    Select,
    String,
    Subquery,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from modelreg.db import prepared as prepared_sql
from modelreg.db.pagination import PageRequest
from modelreg.db.tables import properties

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


MAX_ID = 2**63 - 1  # ids are BIGINT: a larger number names no row (and must not reach the database)


def row_by_name_or_id(conn: Connection, table: Table, ref: str | int) -> AnyRow | None:
    """The row named ``ref``, else the row whose id ``ref`` is (a number within the id range); None for neither.
    How the CLI and the API take a named resource (a connection, a webhook) by either."""
    if isinstance(ref, str):
        found = conn.execute(select(table).where(table.c.name == ref)).mappings().first()
        if found is not None:
            return found
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit() and len(ref) <= 19):
        number = int(ref)
        if 0 < number <= MAX_ID:
            return get_row(conn, table, number)
    return None


def update_row(conn: Connection, table: Table, id_: int, values: dict[str, Any]) -> None:
    conn.execute(update(table).where(table.c.id == id_).values(**values))


def upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row with primary key `key`, or set `values` on it if it exists (with no values: make sure it
    exists), in one statement. Replicas doing this at the same moment queue on the row's lock instead of failing
    on the duplicate key, and, unlike an insert whose duplicate error is caught, take no shared lock on MariaDB
    that a later update would deadlock on."""
    if conn.dialect.name in ("mysql", "mariadb"):
        mysql = mysql_insert(table).values(**key, **values)
        names = list(values) or list(key)  # nothing to set: a no-op update, which still locks the row
        conn.execute(mysql.on_duplicate_key_update(**{name: mysql.inserted[name] for name in names}))
        return
    native = (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table).values(**key, **values)
    if values:
        conn.execute(native.on_conflict_do_update(index_elements=list(key), set_=values))
    else:
        conn.execute(native.on_conflict_do_nothing(index_elements=list(key)))


@cache
def _id_only(table: Table) -> Select[Any]:
    return select(table.c.id).where(table.c.id == bindparam("id"))


def exists(conn: Connection, table: Table, id_: int) -> bool:
    return conn.execute(_id_only(table), {"id": id_}).first() is not None


# --- entities with their custom properties, in one statement ------------------------------------------------------
#
# A registry entity is its row plus its rows in ``properties``. On a server database, reading both with one
# statement saves a round trip. A plain join would repeat the entity's columns on each of its properties' rows: up
# to 1,000 properties times 64 KB texts (readme, logo, description) per entity, a thousandfold what two statements
# read. So an entity's texts come back once:
# * a get-by-id, and a find by unique columns, is the UNION ALL of the rows and of their properties: primary key
#   (or unique key) lookups, no sort, built once per table and run on the driver's cursor;
# * a page (or another find) picks its ids in a derived table (MariaDB takes a LIMIT there, not in
#   ``IN (subquery)``), with the name of each entity's first property, then joins the table and the properties;
#   the entity's TEXT columns show on the row of its first property only (or on its only row), blank (CASE) on
#   the others, whose other columns (numbers, names of 255 characters at most) repeat. A UNION would run the
#   page's query twice on MariaDB (once per branch, a CTE included), and joining a two-row table to tell the
#   entity's row from its properties' rows makes MariaDB sort in a temporary table. On SQLite, which answers in
#   process, a page is two statements: no round trip to save, and building and folding the joined one costs more.
# Properties come by name, the order of their primary key, in which their own query read them before.

_p = properties.c
# After the entity's columns; labelled, as entity tables have a ``name`` too. ``Entity.properties`` holds them in
# this order: name, value type, then the four typed value columns.
_PROPERTY_COLUMNS = (
    _p.name.label("property_name"),
    _p.value_type.label("property_type"),
    _p.string_value.label("property_string"),
    _p.int_value.label("property_int"),
    _p.double_value.label("property_double"),
    _p.bool_value.label("property_bool"),
)
_FIRST = "first_property"
_PAGE = "entity_page"
_earlier = properties.alias("earlier")
# Not a column object: the CASEs below are built once per table, the page they read from once per call.
_first_name = literal_column(f"{_PAGE}.{_FIRST}", String)
_ids_id = literal_column("ids.id", BigInteger)
_is_entity_row = or_(_p.name.is_(None), _p.name == _first_name)


# SQLite's pages: the properties of a page's entities (one statement object, compiled once)
_PROPERTIES_OF = (
    select(_p.owner_id, *_PROPERTY_COLUMNS)
    .where(_p.owner_kind == bindparam("owner_kind"), _p.owner_id.in_(bindparam("ids", expanding=True)))
    .order_by(_p.owner_id, _p.name)
)


class Entity(NamedTuple):
    row: AnyRow
    properties: list[tuple[Any, ...]]  # (name, value_type, string, int, double, bool), by name


class _Shape(NamedTuple):
    kind: BindParameter[str]  # the owner kind of the table's properties
    blanked: tuple[ColumnElement[Any], ...]  # the table's columns, its texts on the entity's own row only
    owned: ColumnElement[bool]  # how the table's rows join their properties
    first: ColumnElement[Any]  # the name of the first property of the entity whose id is ``ids.id``


@cache
def _shape(table: Table) -> _Shape:
    kind = bindparam("owner_kind", table.name, String)
    blanked = tuple(case((_is_entity_row, c)).label(c.name) if isinstance(c.type, Text) else c for c in table.c)
    earlier = _earlier.c
    first = select(func.min(earlier.name)).where(earlier.owner_kind == kind, earlier.owner_id == _ids_id)
    return _Shape(kind, blanked, and_(_p.owner_kind == kind, _p.owner_id == table.c.id), first.scalar_subquery())


def _fold(width: int, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Entity]:
    """The entities in ``rows``, in the order their ids first come: the first ``width`` columns are the entity's,
    then come those of ``_PROPERTY_COLUMNS``, then maybe ``_FIRST``. The entity's texts are on its row without a
    property, or on that of its first property."""
    names, id_at = columns[:width], columns.index("id")
    first_at = columns.index(_FIRST) if _FIRST in columns else None
    end = width + len(_PROPERTY_COLUMNS)
    own: dict[Any, dict[str, Any]] = {}
    theirs: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        row = tuple(row)  # indexing a tuple costs less than a Row
        entity_id, name = row[id_at], row[width]
        if entity_id not in theirs:
            theirs[entity_id] = []
        if name is None or (first_at is not None and name == row[first_at]):
            own[entity_id] = dict(zip(names, row, strict=False))  # zip stops at the last entity column
        if name is not None:
            theirs[entity_id].append(row[width:end])
    return [Entity(own.get(entity_id, {}), props) for entity_id, props in theirs.items()]


def _union(table: Table, ids: Subquery | None) -> CompoundSelect[Any]:
    """The rows of ``table`` (those whose id is in ``ids``, else the one whose id is the parameter ``id``) and
    their properties, one after the other."""
    kind = _shape(table).kind
    own = select(table, *(type_coerce(null(), c.type).label(c.name) for c in _PROPERTY_COLUMNS))
    theirs = select(*(_p.owner_id if c is table.c.id else null() for c in table.c), *_PROPERTY_COLUMNS)
    if ids is None:
        return union_all(
            own.where(table.c.id == bindparam("id")),
            theirs.where(_p.owner_kind == kind, _p.owner_id == bindparam("id")),
        )
    return union_all(
        own.where(table.c.id.in_(select(ids.c.id))),
        theirs.where(_p.owner_kind == kind, _p.owner_id.in_(select(ids.c.id))),
    )


@cache
def _entity_by_id(table: Table) -> CompoundSelect[Any]:
    return _union(table, None)


def get_entity(conn: Connection, table: Table, id_: int) -> Entity | None:
    """The entity with this id and its custom properties: one statement, on the driver's cursor (``db/prepared.py``)."""
    prepared, rows = prepared_sql.fetch(conn, _entity_by_id(table), {"id": id_, "owner_kind": table.name})
    found = _fold(len(table.c), prepared.columns, rows)
    return found[0] if found and found[0].row else None  # properties without their entity are no entity


def select_entities(
    conn: Connection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    order: Sequence[ColumnElement[Any]],
    limit: int,
) -> list[Entity]:
    """The first ``limit`` rows of ``table`` matching ``where`` in ``order`` (columns of ``table``, ascending or
    descending, ending with the id), each with its custom properties: one statement on a server database (see
    above)."""
    if conn.dialect.name == "sqlite":
        return _then_properties(conn, table, select(table).where(*where).order_by(*order).limit(limit))
    shape = _shape(table)
    sort = [_direction(clause) for clause in order]
    keys = [table.c.id, *(column for column, _ in sort if column is not table.c.id)]
    ids = select(*keys).where(*where).order_by(*order).limit(limit).subquery("ids")
    # Limited again so that PostgreSQL keeps it a subquery, evaluating the first name once per entity and not in
    # each CASE; SQLite and MariaDB evaluate it on the page's rows only this way.
    page = select(*ids.c, shape.first.label(_FIRST)).limit(limit).subquery(_PAGE)
    rows = page.join(table, table.c.id == page.c.id).outerjoin(properties, shape.owned)
    # MariaDB sorts a join in a temporary table unless the ORDER BY names the first table's columns only; then its
    # nested loop reads each entity's properties by primary key, in name order, as their own query did before.
    by_name = [] if conn.dialect.name in ("mysql", "mariadb") else [_p.name]
    by_page = [page.c[column.name].desc() if descending else page.c[column.name].asc() for column, descending in sort]
    statement = select(*shape.blanked, *_PROPERTY_COLUMNS, page.c[_FIRST]).select_from(rows)
    result = conn.execute(statement.order_by(*by_page, *by_name))
    return _fold(len(table.c), tuple(result.keys()), result.all())


def _then_properties(conn: Connection, table: Table, statement: Select[Any]) -> list[Entity]:
    """``select_entities`` on SQLite: the rows, then their properties. SQLite answers in process, so a second
    statement costs no round trip, and less than building the joined one and folding its rows (``bench/
    read_queries.py``: a page of 100 took 1.3 to 1.7 times as long joined)."""
    found = [Entity(row, []) for row in conn.execute(statement).mappings()]
    if found:
        by_id = {entity.row["id"]: entity.properties for entity in found}
        for owner_id, *values in conn.execute(_PROPERTIES_OF, {"owner_kind": table.name, "ids": list(by_id)}):
            by_id[owner_id].append(tuple(values))
    return found


def _direction(clause: ColumnElement[Any]) -> tuple[Column[Any], bool]:
    """``column``, ``column.asc()`` or ``column.desc()`` as (column, descending)."""
    if isinstance(clause, UnaryExpression) and isinstance(clause.element, Column):
        if clause.modifier is operators.desc_op:
            return clause.element, True
        if clause.modifier is operators.asc_op:
            return clause.element, False
    if isinstance(clause, Column):
        return clause, False
    raise ValueError(f"not a column's order: {clause}")


def find_entities(conn: Connection, table: Table, where: Sequence[ColumnElement[bool]], limit: int = 2) -> list[Entity]:
    return select_entities(conn, table, where, [table.c.id.asc()], limit)


@cache
def _entities_where(table: Table, columns: tuple[str, ...]) -> CompoundSelect[Any]:
    """The (at most two) rows whose ``columns`` equal the parameters of the same names, and their properties. A
    LIMIT of two tells one from several; it is a constant so that the statement takes only those parameters."""
    match = [table.c[name] == bindparam(name) for name in columns]
    two, zero = literal_column("2", Integer), literal_column("0", Integer)  # SQLite would bind an OFFSET 0
    ids = select(table.c.id).where(*match).order_by(table.c.id).limit(two).offset(zero)
    return _union(table, ids.subquery("ids"))


def find_entities_by(conn: Connection, table: Table, equal: Mapping[str, Any]) -> list[Entity]:
    """The (at most two) entities whose columns have these values, with their custom properties: one statement
    built once per table and columns, on the driver's cursor (``db/prepared.py``), as find-by-name is frequent."""
    statement = _entities_where(table, tuple(equal))
    prepared, rows = prepared_sql.fetch(conn, statement, {**equal, "owner_kind": table.name})
    return _fold(len(table.c), prepared.columns, rows)


def list_page(
    conn: Connection, table: Table, where: Sequence[ColumnElement[bool]], page: PageRequest
) -> tuple[list[Entity], str]:
    """One page of entities with their custom properties (``select_entities``) and the token of the next page
    (``""`` on the last page)."""
    clauses = list(where)
    after = page.after_clause(table)
    if after is not None:
        clauses.append(after)
    found = select_entities(conn, table, clauses, page.order_clause(table), page.size + 1)
    if len(found) > page.size:
        found = found[: page.size]
        return found, page.token_for(found[-1].row)
    return found, ""
