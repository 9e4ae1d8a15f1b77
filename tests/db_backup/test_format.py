"""The export file: its header, table order and values; secrets stay as stored; gzip and stdin; an empty
registry; values JSON has no literal for (infinite doubles, bytes, times, decimals) survive the round trip."""

from __future__ import annotations

import gzip
import io
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import JSON, Column, DateTime, Float, Integer, LargeBinary, MetaData, Numeric, Table, insert, select

from db_backup.source import PASSWORD, S3_SECRET, Source, row_counts
from modelreg.db import migrations
from modelreg.db.backup import backup_tables, column_codec, export_backup, import_backup, open_input, open_output
from modelreg.db.database import Database
from modelreg.db.tables import data_connections, properties


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_the_header_lists_every_table_parents_first(exported: Path, source: Source) -> None:
    lines = rows_of(exported)
    header, trailer = lines[0], lines[-1]
    assert {k: header[k] for k in ("format", "version", "schema_revision", "backend")} == {
        "format": "modelreg-db-export",
        "version": 1,
        "schema_revision": migrations.head_revision(),
        "backend": "sqlite",
    }
    order = [t["name"] for t in header["tables"]]
    assert sorted(order) == sorted(str(t.name) for t in backup_tables())
    for tbl in backup_tables():
        for fk in tbl.foreign_keys:
            assert order.index(fk.column.table.name) < order.index(tbl.name), (tbl.name, fk.column.table.name)
    db = Database(source.url)
    try:
        counts = row_counts(db)
    finally:
        db.dispose()
    assert {t["name"]: t["rows"] for t in header["tables"]} == counts == trailer["trailer"]["rows"]
    assert [line["table"] for line in lines[1:-1]] == [name for name in order for _ in range(counts[name])]


def test_secrets_move_as_stored_and_never_in_clear(exported: Path, source: Source) -> None:
    content = exported.read_bytes()
    for secret in (S3_SECRET, PASSWORD, source.token):
        assert secret.encode() not in content
    db = Database(source.url)
    try:
        with db.read() as conn:
            ciphertext = conn.execute(
                select(data_connections.c.secret_ciphertext).where(data_connections.c.name == "minio-storage")
            ).scalar_one()
    finally:
        db.dispose()
    (moved,) = (
        r["row"] for r in rows_of(exported) if r.get("table") == "data_connections" and "secret_ciphertext" in r["row"]
    )
    assert moved["secret_ciphertext"] == ciphertext and ciphertext.startswith("v1:")


def test_gzip_and_stdin(exported: Path, source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``.gz`` export holds the same rows; the import recognises gzip by its content, here read from stdin (``-``).
    (``db export -`` to stdout: the ``exported`` fixture.)"""
    zipped = tmp_path / "registry.jsonl.gz"
    source_db, copy = Database(source.url), Database(f"sqlite:///{tmp_path / 'gz.db'}")
    try:
        with open_output(str(zipped)) as sink:
            export_backup(source_db, sink, modelreg_version="test")
        assert gzip.decompress(zipped.read_bytes()).splitlines()[1:-1] == exported.read_bytes().splitlines()[1:-1]
        with zipped.open("rb") as stdin:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
            with open_input("-") as lines:
                import_backup(copy, lines)
        assert row_counts(copy) == row_counts(source_db)
    finally:
        source_db.dispose()
        copy.dispose()


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.jsonl"
    with pytest.raises(RuntimeError), open_output(str(path)) as sink:
        sink.write(b'{"format": "modelreg-db-export"}\n')
        raise RuntimeError("the database went away")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_registry_round_trips(tmp_path: Path) -> None:
    empty, copy = Database(f"sqlite:///{tmp_path / 'empty.db'}"), Database(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        migrations.upgrade(empty.engine)
        path = tmp_path / "empty.jsonl"
        with open_output(str(path)) as sink:
            exported = export_backup(empty, sink, modelreg_version="test")
        with open_input(str(path)) as lines:
            imported = import_backup(copy, lines)
        assert exported.total == imported.total == 0 and imported.audit_head is None
        assert set(row_counts(copy).values()) == {0}
        with copy.read() as conn:
            assert migrations.current_revision(conn) == migrations.head_revision()
    finally:
        empty.dispose()
        copy.dispose()


def test_infinite_doubles_round_trip(tmp_path: Path) -> None:
    """JSON has no infinity; SQLite and PostgreSQL store it (MariaDB refuses it on the way in)."""
    source, copy = Database(f"sqlite:///{tmp_path / 'inf.db'}"), Database(f"sqlite:///{tmp_path / 'copy.db'}")
    values = {"up": float("inf"), "down": float("-inf"), "third": 1 / 3}
    try:
        migrations.upgrade(source.engine)
        with source.engine.begin() as conn:
            conn.execute(
                insert(properties),
                [
                    {
                        "owner_kind": "registered_models",
                        "owner_id": 1,
                        "name": k,
                        "value_type": "double",
                        "double_value": v,
                    }
                    for k, v in values.items()
                ],
            )
        path = tmp_path / "inf.jsonl"
        with open_output(str(path)) as sink:
            export_backup(source, sink, modelreg_version="test")
        assert {
            r["row"]["name"]: r["row"]["double_value"] for r in rows_of(path) if r.get("table") == "properties"
        } == {
            "up": "inf",
            "down": "-inf",
            "third": 1 / 3,
        }
        with open_input(str(path)) as lines:
            import_backup(copy, lines)
        with copy.read() as conn:
            assert dict(conn.execute(select(properties.c.name, properties.c.double_value)).all()) == values
    finally:
        source.dispose()
        copy.dispose()


def test_values_json_cannot_hold_survive_the_encoding() -> None:
    """Column types the schema may gain: each value is JSON once encoded and the same value once decoded."""
    table = Table(
        "future",
        MetaData(),
        Column("blob", LargeBinary),
        Column("at", DateTime(timezone=True)),
        Column("amount", Numeric(20, 10)),
        Column("ratio", Float),
        Column("doc", JSON),
        Column("n", Integer),
    )
    samples = {
        "blob": b"\x00\xff modelreg",
        "at": datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=-5))),
        "amount": Decimal("1234567890.0123456789"),
        "ratio": 0.1 + 0.2,
    }
    for name, value in samples.items():
        codec = column_codec(table.c[name])
        assert codec is not None
        encode, decode = codec
        assert decode(orjson.loads(orjson.dumps(encode(value)))) == value
    assert column_codec(table.c.doc) is None and column_codec(table.c.n) is None
    naive = column_codec(table.c.at)
    assert naive is not None and naive[0](datetime(2024, 1, 1, 12)) == datetime(2024, 1, 1, 12, tzinfo=UTC).isoformat()
