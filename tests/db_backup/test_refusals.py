"""What ``db import`` refuses, and that a refused or failed import leaves the target as it was: a file cut short,
edited, damaged, of another format or schema revision; a target with rows; a row the database rejects."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import insert

from conftest import BACKENDS, _scratch_database
from db_backup.source import Source, row_counts
from modelreg.db import migrations
from modelreg.db.backup import (
    BackupRefused,
    CorruptBackup,
    ImportFailed,
    IncompatibleBackup,
    TargetNotEmpty,
    import_backup,
    open_input,
)
from modelreg.db.database import Database
from modelreg.db.tables import registered_models
from processes import run_cli


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def reseal(lines: list[bytes], **header: Any) -> list[bytes]:
    """An export whose rows or header were changed, with counts and checksum made to match again (as someone who
    meant to would): only the database can still refuse it."""
    head = {**orjson.loads(lines[0]), **header}
    rows = lines[1:-1]
    counts = {t["name"]: 0 for t in head["tables"]}
    for line in rows:
        counts[orjson.loads(line)["table"]] += 1
    head["tables"] = [{**t, "rows": counts[t["name"]]} for t in head["tables"]]
    content = [orjson.dumps(head) + b"\n", *rows]
    sha = hashlib.sha256(b"".join(content)).hexdigest()
    return [*content, orjson.dumps({"trailer": {"rows": counts, "sha256": sha}}) + b"\n"]


def load(db: Database, lines: list[bytes]) -> None:
    import_backup(db, iter(lines))


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'target.db'}")
    yield db
    db.dispose()


def assert_untouched(db: Database) -> None:
    """No row in any table (a refusal found once the rows were read comes after the schema's migration)."""
    with db.read() as conn:
        migrated = migrations.current_revision(conn) is not None
    assert not migrated or set(row_counts(db).values()) == {0}


@pytest.fixture(params=BACKENDS)
def any_empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in _scratch_database(request.param, tmp_path, "_refused"):
        db = Database(url)
        yield db
        db.dispose()


def test_a_file_cut_short_leaves_no_row(exported: Path, any_empty: Database) -> None:
    lines = lines_of(exported)
    with pytest.raises(CorruptBackup, match="the file is truncated: it ends after line"):
        load(any_empty, lines[:-1])  # every row inserted, then no trailer
    assert_untouched(any_empty)


def test_a_row_the_database_refuses_leaves_no_row(exported: Path, empty: Database) -> None:
    lines = lines_of(exported)
    model = next(i for i, line in enumerate(lines) if line.startswith(b'{"table":"registered_models"'))
    with pytest.raises(ImportFailed, match=r"the database refused a row of registered_models: .*nothing was imported"):
        load(empty, reseal([*lines[: model + 1], *lines[model:]]))  # the same model twice
    assert_untouched(empty)


def test_an_edited_file_is_refused(exported: Path, empty: Database) -> None:
    lines = lines_of(exported)
    audit = next(i for i, line in enumerate(lines) if b'"table":"audit_log"' in line)
    lines[audit] = lines[audit].replace(b'"actor":"', b'"actor":"x', 1)
    with pytest.raises(CorruptBackup, match="does not match its checksum: it was edited or damaged"):
        load(empty, lines)
    assert_untouched(empty)


def test_a_damaged_row_the_database_refuses_is_reported_as_damage(exported: Path, empty: Database) -> None:
    """Damage that still parses (a flipped byte in a gzip stream can inflate to JSON) may reach the database before
    the checksum at the end: the cause reported is the file's, not the database's."""
    lines = lines_of(exported)
    model = next(i for i, line in enumerate(lines) if line.startswith(b'{"table":"registered_models"'))
    lines.insert(model + 1, lines[model])  # the same model twice, and the checksum not made to match
    with pytest.raises(CorruptBackup, match="does not match its checksum: it was edited or damaged"):
        load(empty, lines)
    assert_untouched(empty)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: [], "the file is empty"),
        (lambda lines: [b"hello\n", *lines[1:]], "line 1 is not JSON"),
        (lambda lines: [b"[1, 2]\n", *lines[1:]], "line 1 is not a JSON object"),
        (lambda lines: [b'{"format": "other"}\n', *lines[1:]], "not a modelreg export"),
        (lambda lines: [*lines[:3], lines[3][:-20]], "the file is truncated: line 4 is incomplete"),
        (lambda lines: [*lines[:3], b"}{\n", *lines[3:]], "line 4 is not JSON"),
        (lambda lines: [*lines, lines[-1]], "the file goes on after its last line"),
        (lambda lines: [lines[0], *lines[-2:0:-1], lines[-1]], "out of the header's table order"),
    ],
)
def test_a_damaged_file_is_refused(exported: Path, empty: Database, damage: Any, message: str) -> None:
    with pytest.raises(CorruptBackup, match=message):
        load(empty, damage(lines_of(exported)))
    assert_untouched(empty)


def test_another_schema_revision_or_format_version_is_refused_before_migrating(exported: Path, empty: Database) -> None:
    lines = lines_of(exported)
    with pytest.raises(
        IncompatibleBackup, match=r"revision 9999 \(modelreg 0\.1\.0\), which this modelreg .* not know"
    ):
        load(empty, reseal(lines, schema_revision="9999"))
    with pytest.raises(
        IncompatibleBackup, match=r"revision 0010 .* Import it with modelreg 0\.1\.0 into an empty database"
    ):
        load(empty, reseal(lines, schema_revision="0010"))
    with pytest.raises(IncompatibleBackup, match="export format version 2: this modelreg reads version 1"):
        load(empty, reseal(lines, version=2))
    with empty.read() as conn:
        assert migrations.current_revision(conn) is None  # not even migrated


def test_a_database_with_rows_is_refused_before_migrating(exported: Path, empty: Database) -> None:
    """An older registry (a wrong --database-url) is neither filled nor migrated."""
    migrations.upgrade(empty.engine, "0010")
    with empty.engine.begin() as conn:
        conn.execute(insert(registered_models), {"name": "m", "state": "LIVE", "create_time": 1, "last_update_time": 1})
    with pytest.raises(TargetNotEmpty, match=r"it has rows in registered_models \(1\)\. Import into a new, empty"):
        load(empty, lines_of(exported))
    with empty.read() as conn:
        assert migrations.current_revision(conn) == "0010"


def test_the_command_exits_2_with_the_reason(exported: Path, source: Source, tmp_path: Path) -> None:
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines_of(exported)[:-1]))
    result = run_cli("db", "import", str(cut), "--database-url", f"sqlite:///{tmp_path / 'target.db'}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: the file is truncated: it ends after line")
    into_source = run_cli("db", "import", str(exported), "--database-url", source.url)
    assert into_source.returncode == 2
    assert into_source.stderr.startswith(
        "error: the target database is not empty, nothing was imported: it has rows in"
    )


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with (
        pytest.raises(BackupRefused, match=r"cannot read .*absent\.jsonl: No such file or directory"),
        open_input(str(tmp_path / "absent.jsonl")),
    ):
        pass


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_gzip_file_is_refused(exported: Path, empty: Database, tmp_path: Path, damage: str) -> None:
    data = bytearray(gzip.compress(exported.read_bytes()))
    if damage == "cut":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path = tmp_path / "registry.jsonl.gz"
    path.write_bytes(data)
    with pytest.raises(CorruptBackup), open_input(str(path)) as lines:
        import_backup(empty, lines)
    assert_untouched(empty)
