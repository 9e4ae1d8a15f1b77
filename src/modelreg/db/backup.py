"""``modelreg db export`` / ``db import``: every table as JSON Lines, to back up, restore and move a registry
between SQLite, MariaDB and PostgreSQL (docs/backup.md).

The file is a header line (format, schema revision, tables with their columns and row counts), one line per row
(``{"table": ..., "row": {...}}``, tables parents first, rows by primary key, NULL columns left out) and a trailer
(row counts and the SHA-256 of every line before it), so a truncated or edited file is refused. Values are copied
as stored, never re-derived: the audit chain's hashes cover the stored strings and integers, so the target's chain
verifies, with the same head as the source's. Secrets move as stored too (connection secrets as ciphertext,
token and password hashes as hashes).

Both directions stream: the export reads each table in batches from one snapshot (server-side cursors on
PostgreSQL and MariaDB), the import inserts in batches in one transaction that commits only once the trailer has
checked out, so a refused or failed import leaves the target as it was.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import JSON, Column, Connection, Engine, Table, func, inspect, literal, select, text
from sqlalchemy import table as table_named
from sqlalchemy.exc import DBAPIError

from modelreg.db import migrations
from modelreg.db.database import Database, begun_as
from modelreg.db.prepared import DriverCursor
from modelreg.db.tables import audit_head, audit_log, metadata
from modelreg.errors import Conflict, InvalidInput, RegistryError

FORMAT = "modelreg-db-export"
FORMAT_VERSION = 1
BATCH = 2000  # rows per fetch on export and per executemany on import
# Rows that migrations insert themselves (the one row that audit appenders lock): not data, so not exported, and
# not what makes a target "non-empty".
SEEDED_BY_MIGRATIONS = frozenset({audit_head.name})
_GZIP_MAGIC = b"\x1f\x8b"


class BackupRefused(RegistryError):
    """The import was refused before anything changed (exit code 2)."""


class TargetNotEmpty(BackupRefused, Conflict):
    pass


class IncompatibleBackup(BackupRefused, InvalidInput):
    pass


class CorruptBackup(BackupRefused, InvalidInput):
    pass


class ImportFailed(RegistryError):
    """The database refused a row; the transaction was rolled back."""


class Progress(Protocol):
    """Where the commands show how far they are (a progress bar, or nothing)."""

    def begin(self, totals: Mapping[str, int]) -> None: ...

    def advance(self, table: str, rows: int) -> None: ...


class Sink(Protocol):
    """Where an export is written: a file, gzip, stdout."""

    def write(self, data: bytes, /) -> object: ...


class _Silent:
    def begin(self, totals: Mapping[str, int]) -> None:
        pass

    def advance(self, table: str, rows: int) -> None:
        pass


@dataclass
class Summary:
    rows: dict[str, int]
    seconds: float
    audit_head: tuple[int, str] | None  # the chain's last (seq, hash): an anchor for `modelreg audit verify`

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def backup_tables() -> list[Table]:
    """Every table of the schema, parents before children (foreign keys; the schema has no cycles)."""
    return [t for t in metadata.sorted_tables if t.name not in SEEDED_BY_MIGRATIONS]


# --- values -----------------------------------------------------------------------------------------------------

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _encode_float(value: float) -> float | str:
    """Finite doubles are JSON numbers (orjson writes the shortest text that reads back as the same double); JSON
    has no NaN or infinities, so those are their names."""
    return value if math.isfinite(value) else repr(value)


def _decode_float(value: Any) -> float:
    return float(value)


def _encode_datetime(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


# Python types that JSON does not hold as they are, by the column type's python_type. Columns of other types
# (int, str, bool, and JSON columns) are JSON values already and are copied untouched.
_CODECS: dict[type, Codec] = {
    float: (_encode_float, _decode_float),
    bytes: (lambda v: base64.b64encode(v).decode("ascii"), base64.b64decode),
    datetime: (_encode_datetime, datetime.fromisoformat),
    date: (date.isoformat, date.fromisoformat),
    time_of_day: (time_of_day.isoformat, time_of_day.fromisoformat),
    Decimal: (str, Decimal),
}
_PLAIN = (int, str, bool)


def column_codec(column: Column[Any]) -> Codec | None:
    """How ``column``'s values become JSON and back, or None when they are JSON values already (int, str, bool,
    JSON columns). A column type without an encoding is refused, not exported lossily."""
    if isinstance(column.type, JSON):
        return None
    python_type = column.type.python_type
    codec = next((c for t, c in _CODECS.items() if issubclass(python_type, t)), None)
    if codec is None and not issubclass(python_type, _PLAIN):
        raise TypeError(f"{column.table.name}.{column.name}: no JSON encoding for {python_type.__name__} columns")
    return codec


def _codecs(tbl: Table) -> dict[str, Codec]:
    """The columns of ``tbl`` that need a conversion."""
    return {str(c.name): codec for c in tbl.columns if (codec := column_codec(c)) is not None}


# --- export -----------------------------------------------------------------------------------------------------


def export_backup(db: Database, out: Sink, *, modelreg_version: str, progress: Progress | None = None) -> Summary:
    """Write every table of ``db`` to ``out``, from one consistent snapshot."""
    progress = progress or _Silent()
    started = time.perf_counter()
    tables = backup_tables()
    writer = _HashingWriter(out)
    rows: dict[str, int] = {}
    last_audit: tuple[int, str] | None = None
    with _unlimited(db) as engine, _snapshot(engine) as conn:
        totals = {str(t.name): int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables}
        progress.begin(totals)
        writer.line(_header(db, conn, tables, totals, modelreg_version))
        for tbl in tables:
            name = str(tbl.name)  # a quoted_name, which orjson does not take as a key
            rows[name] = 0
            for batch in _batches(conn, tbl):
                for row in batch:
                    writer.line({"table": name, "row": row})
                if tbl is audit_log and batch:
                    last_audit = (int(batch[-1]["seq"]), str(batch[-1]["hash"]))
                rows[name] += len(batch)
                progress.advance(name, len(batch))
            if rows[name] != totals[name]:  # the snapshot makes this impossible; a file saying so would be wrong
                raise RuntimeError(f"{name}: counted {totals[name]} rows, read {rows[name]}")
    writer.line({"trailer": {"rows": rows, "sha256": writer.digest()}}, hashed=False)
    return Summary(rows, time.perf_counter() - started, last_audit)


def _batches(conn: Connection, tbl: Table) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``tbl`` by primary key, encoded for JSON without their NULL columns, ``BATCH`` at a time (a
    server-side cursor on PostgreSQL and MariaDB, so memory stays flat)."""
    names = [str(c.name) for c in tbl.columns]
    codecs = _codecs(tbl)
    ordered = select(tbl).order_by(*tbl.primary_key.columns)
    for partition in conn.execution_options(yield_per=BATCH).execute(ordered).partitions():
        batch = []
        for values in partition:
            row = {n: v for n, v in zip(names, values, strict=True) if v is not None}
            for column, (encode, _) in codecs.items():
                if column in row:
                    row[column] = encode(row[column])
            batch.append(row)
        yield batch


def _header(
    db: Database, conn: Connection, tables: list[Table], totals: Mapping[str, int], modelreg_version: str
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "modelreg": modelreg_version,
        "schema_revision": migrations.current_revision(conn),
        "backend": db.backend,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": [
            {"name": str(t.name), "rows": totals[str(t.name)], "columns": [str(c.name) for c in t.columns]}
            for t in tables
        ],
    }


class _HashingWriter:
    def __init__(self, out: Sink) -> None:
        self.out = out
        self.sha = hashlib.sha256()

    def line(self, obj: Mapping[str, Any], *, hashed: bool = True) -> None:
        data = orjson.dumps(obj) + b"\n"
        if hashed:
            self.sha.update(data)
        self.out.write(data)

    def digest(self) -> str:
        return self.sha.hexdigest()


@contextmanager
def _unlimited(db: Database) -> Iterator[Engine]:
    """The database without statement and lock timeouts: one export or import statement may rightly run long."""
    with db.migration_engine() as engine:
        yield engine


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction that sees one state of the whole database: REPEATABLE READ on the server databases (the
    engine's READ COMMITTED would let a table read later see writes made after an earlier one was read); on SQLite
    a read transaction is a snapshot already."""
    with engine.connect() as conn, begun_as(conn, "snapshot"), conn.begin():
        yield conn


# --- import -----------------------------------------------------------------------------------------------------


def import_backup(db: Database, source: Iterable[bytes], *, progress: Progress | None = None) -> Summary:
    """Load a file written by ``export_backup`` into the empty database ``db``: refuse (``BackupRefused``) and
    change nothing unless the file is whole, of this schema revision, and ``db`` holds no rows; migrate ``db``;
    insert every row in one transaction; move the id sequences past the imported ids."""
    progress = progress or _Silent()
    started = time.perf_counter()
    reader = _Reader(source)
    header = _check_header(reader.header())
    with _unlimited(db) as engine:
        with engine.connect() as conn:
            _require_empty(conn, migrated=False)
        migrations.upgrade(engine)
        with engine.connect() as conn, begun_as(conn, "write"), conn.begin():
            _require_empty(conn, migrated=True)
            progress.begin(header.rows)
            rows, last_audit = _load(conn, reader, header, progress)
            _advance_sequences(conn)
    return Summary(rows, time.perf_counter() - started, last_audit)


@dataclass(frozen=True)
class _TableIn:
    """How the rows of one table are read from the file and written to the database."""

    table: Table
    names: tuple[str, ...]  # every column, in the table's order: rows become tuples in this order
    known: frozenset[str]
    decoders: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position in ``names``, decoder)

    @classmethod
    def of(cls, tbl: Table) -> _TableIn:
        names = tuple(str(c.name) for c in tbl.columns)
        codecs = _codecs(tbl)
        return cls(tbl, names, frozenset(names), tuple((names.index(n), c[1]) for n, c in codecs.items()))

    def decode(self, row: dict[str, Any], line_no: int) -> tuple[Any, ...]:
        if not row.keys() <= self.known:
            raise CorruptBackup(
                f"line {line_no}: {self.table.name} has no column {sorted(row.keys() - self.known)[0]!r}"
            )
        values = [row.get(name) for name in self.names]
        for i, decode in self.decoders:
            if values[i] is not None:
                try:
                    values[i] = decode(values[i])
                except (TypeError, ValueError) as exc:
                    raise CorruptBackup(f"line {line_no}: {self.table.name}.{self.names[i]}: {exc}") from None
        return tuple(values)


@dataclass
class _Header:
    tables: dict[str, _TableIn]  # in the file's order
    rows: dict[str, int]


def _check_header(header: Mapping[str, Any]) -> _Header:
    if header.get("format") != FORMAT:
        raise CorruptBackup(f"not a modelreg export: the first line does not say format {FORMAT!r}")
    if header.get("version") != FORMAT_VERSION:
        raise IncompatibleBackup(
            f"export format version {header.get('version')!r}: this modelreg reads version {FORMAT_VERSION}"
        )
    revision, head = header.get("schema_revision"), migrations.head_revision()
    if revision != head:
        made_by = f"modelreg {header.get('modelreg', '?')}"
        if _known_revision(revision):
            raise IncompatibleBackup(
                f"the export is of schema revision {revision} ({made_by}); this modelreg is at {head}. Import it with "
                f"{made_by} into an empty database, start this modelreg on that database (it migrates the schema), "
                "and export again"
            )
        raise IncompatibleBackup(
            f"the export is of schema revision {revision} ({made_by}), which this modelreg (schema {head}) does not "
            "know: import it with that version or a newer one"
        )
    ours = {str(t.name): t for t in backup_tables()}
    try:
        listed = {str(t["name"]): t for t in header["tables"]}
        rows = {name: int(t["rows"]) for name, t in listed.items()}
        columns = {name: list(t["columns"]) for name, t in listed.items()}
    except (KeyError, TypeError, ValueError):
        raise CorruptBackup("the header's table list is malformed") from None
    if set(listed) != set(ours):
        raise CorruptBackup(f"the header lists tables {sorted(listed)}, schema {head} has {sorted(ours)}")
    for name, tbl in ours.items():
        if columns[name] != [str(c.name) for c in tbl.columns]:
            raise CorruptBackup(f"the header's columns of {name} are not those of schema {head}")
    return _Header({name: _TableIn.of(ours[name]) for name in listed}, rows)


def _known_revision(revision: Any) -> bool:
    try:
        return ScriptDirectory.from_config(migrations.alembic_config()).get_revision(str(revision)) is not None
    except CommandError:
        return False


def _require_empty(conn: Connection, *, migrated: bool) -> None:
    """Refuse a database holding any row of the registry's tables (those that exist yet, before migrating)."""
    present = set(inspect(conn).get_table_names()) if not migrated else None
    filled = []
    for tbl in backup_tables():
        if present is not None and tbl.name not in present:
            continue
        probe = select(literal(1)).select_from(table_named(tbl.name)).limit(1)
        if conn.execute(probe).first() is not None:
            count = conn.execute(select(func.count()).select_from(table_named(tbl.name))).scalar_one()
            filled.append(f"{tbl.name} ({count})")
    if filled:
        raise TargetNotEmpty(
            "the target database is not empty, nothing was imported: it has rows in " + ", ".join(filled) + ". "
            "Import into a new, empty database (one that no modelreg server has used yet)"
        )


def _load(
    conn: Connection, reader: _Reader, header: _Header, progress: Progress
) -> tuple[dict[str, int], tuple[int, str] | None]:
    """Insert the rows; the counts per table and the audit chain's last (seq, hash)."""
    order = list(header.tables)
    position = 0  # index in ``order`` of the table being loaded: rows come table by table, in the header's order
    table = header.tables[order[0]] if order else None
    rows = dict.fromkeys(order, 0)
    batch: list[tuple[Any, ...]] = []
    last_audit = None
    lines = reader.rows()
    try:
        for line_no, obj in lines:
            name = obj.get("table")
            row = obj.get("row")
            if not isinstance(name, str) or not isinstance(row, dict):
                raise CorruptBackup(f"line {line_no} is not a row: {{'table': ..., 'row': {{...}}}}")
            if table is None or name != order[position]:
                if name not in header.tables or order.index(name) < position:
                    raise CorruptBackup(f"line {line_no}: a row of {name!r} out of the header's table order")
                _flush(conn, table, batch, progress)
                position = order.index(name)
                table = header.tables[name]
            batch.append(table.decode(row, line_no))
            rows[name] += 1
            if table.table is audit_log:
                last_audit = batch[-1]
            if len(batch) >= BATCH:
                _flush(conn, table, batch, progress)
        _flush(conn, table, batch, progress)
    except ImportFailed:
        _blame_the_file(reader, lines)
        raise
    _check_checksum(reader)
    counted = reader.trailer().get("rows")
    for name in order:
        if not isinstance(counted, dict) or not rows[name] == header.rows[name] == counted.get(name):
            raise CorruptBackup(f"the row count of {name} does not match the header and trailer")
    if last_audit is None:
        return rows, None
    names = header.tables[audit_log.name].names
    return rows, (last_audit[names.index("seq")], last_audit[names.index("hash")])


def _check_checksum(reader: _Reader) -> None:
    if reader.trailer().get("sha256") != reader.digest():
        raise CorruptBackup("the file's content does not match its checksum: it was edited or damaged")


def _blame_the_file(reader: _Reader, lines: Iterator[tuple[int, dict[str, Any]]]) -> None:
    """The database refused a row: read the rest of the file (the transaction is lost anyway) and raise
    ``CorruptBackup`` if it is damaged, which is then the cause (damage can parse: a flipped byte in a gzip stream
    may inflate to JSON that reaches the database before the checksum at the end). A whole file returns."""
    for _ in lines:
        pass
    _check_checksum(reader)


def _flush(conn: Connection, table: _TableIn | None, batch: list[tuple[Any, ...]], progress: Progress) -> None:
    """Insert ``batch`` through the driver: SQLAlchemy's executemany costs more than the database does here."""
    if not batch or table is None:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    name, columns = dialect.identifier_preparer.format_table(table.table), ", ".join(quote(n) for n in table.names)
    try:
        if dialect.name == "postgresql":
            sql = f"COPY {name} ({columns}) FROM STDIN"
            with DriverCursor(conn, sql, None) as cursor, cursor.copy(sql) as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marker = "?" if dialect.paramstyle == "qmark" else "%s"
            sql = f"INSERT INTO {name} ({columns}) VALUES ({', '.join(marker for _ in table.names)})"
            with DriverCursor(conn, sql, None) as cursor:
                cursor.executemany(sql, batch)
    except (DBAPIError, TypeError, ValueError) as exc:  # PyMySQL raises TypeError for a value it cannot quote
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ImportFailed(
            f"the database refused a row of {table.table.name}: {cause[0] if cause else type(exc).__name__}; "
            "nothing was imported"
        ) from exc
    progress.advance(str(table.table.name), len(batch))
    batch.clear()


def _advance_sequences(conn: Connection) -> None:
    """Move PostgreSQL's id sequences past the imported ids, so the next insert does not collide. MariaDB's
    AUTO_INCREMENT follows explicit ids itself, and SQLite's rowid is the largest id plus one."""
    if conn.dialect.name != "postgresql":
        return
    for tbl in backup_tables():
        column = tbl.autoincrement_column
        if column is None:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), coalesce(max({column.name}), 1), "
                f"max({column.name}) IS NOT NULL) FROM {tbl.name}"
            ),
            {"table": tbl.name, "column": column.name},
        )


class _Reader:
    """The lines of an export: the header, then the rows, then the trailer; hashes every line before the trailer."""

    def __init__(self, source: Iterable[bytes]) -> None:
        self.lines = _lines(source)
        self.sha = hashlib.sha256()
        self.line_no = 0
        self._trailer: dict[str, Any] | None = None

    def _next(self) -> tuple[bytes, dict[str, Any]] | None:
        data = next(self.lines, None)
        if data is None:
            return None
        self.line_no += 1
        if not data.endswith(b"\n"):
            raise CorruptBackup(f"the file is truncated: line {self.line_no} is incomplete")
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise CorruptBackup(f"line {self.line_no} is not JSON: the file is damaged") from None
        if not isinstance(obj, dict):
            raise CorruptBackup(f"line {self.line_no} is not a JSON object: the file is damaged")
        return data, obj

    def header(self) -> dict[str, Any]:
        first = self._next()
        if first is None:
            raise CorruptBackup("the file is empty")
        self.sha.update(first[0])
        return first[1]

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        while (item := self._next()) is not None:
            data, obj = item
            if "trailer" in obj and "table" not in obj:
                self._trailer = obj["trailer"] if isinstance(obj["trailer"], dict) else {}
                if next(self.lines, None) is not None:
                    raise CorruptBackup(f"the file goes on after its last line ({self.line_no})")
                return
            self.sha.update(data)
            yield self.line_no, obj
        raise CorruptBackup(f"the file is truncated: it ends after line {self.line_no} without its trailer")

    def trailer(self) -> dict[str, Any]:
        assert self._trailer is not None  # rows() ends only at the trailer
        return self._trailer

    def digest(self) -> str:
        return self.sha.hexdigest()


def _lines(source: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of ``source``; a damaged gzip stream is a corrupt file, not a crash."""
    try:
        yield from source
    except (EOFError, OSError, zlib.error) as exc:
        raise CorruptBackup(f"the file cannot be read to its end: {exc}") from None


# --- files ------------------------------------------------------------------------------------------------------


@contextmanager
def open_output(name: str) -> Iterator[Sink]:
    """``-``: stdout; a name ending in ``.gz``: gzip. Written beside the target and renamed once complete, so a
    failed export leaves no file that looks whole."""
    if name == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(name)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb", buffering=1 << 20) as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(filename=path.stem, mode="wb", fileobj=raw, compresslevel=6) as zipped:
                    yield zipped
            else:
                yield raw
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def open_input(name: str) -> Iterator[Iterable[bytes]]:
    """``-``: stdin; gzip is recognised by its magic number, whatever the name."""
    with _raw_input(name) as raw:
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(mode="rb", fileobj=raw) as zipped:
                yield zipped
        else:
            yield raw


@contextmanager
def _raw_input(name: str) -> Iterator[io.BufferedReader[Any]]:
    if name == "-":
        stdin: Any = sys.stdin.buffer
        yield stdin if isinstance(stdin, io.BufferedReader) else io.BufferedReader(stdin)  # replaced by a test runner
        return
    try:
        stream = io.BufferedReader(io.FileIO(name, "rb"), buffer_size=1 << 20)
    except OSError as exc:
        raise BackupRefused(f"cannot read {name}: {exc.strerror}") from None
    with stream:
        yield stream
