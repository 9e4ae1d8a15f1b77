"""``modelreg db import`` of a SQLite registry's export into SQLite, MariaDB and PostgreSQL: the copy answers the
API as the source does, holds every row as stored, its audit chain verifies (with the source's head as anchor),
new writes get new ids, and a second import into it is refused without changing anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import BACKENDS, _scratch_database
from db_backup.source import REGISTRY, S3_SECRET, Source, answers, row_counts
from modelreg.db.backup import TargetNotEmpty, backup_tables, import_backup
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from processes import run_cli


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, exported: Path) -> Iterator[str]:
    """An empty database of each backend, into which the CLI imported the export."""
    for url in _scratch_database(request.param, tmp_path_factory.mktemp(request.param), "_backup"):
        result = run_cli("db", "import", str(exported), "--database-url", url)
        assert result.returncode == 0, result.stderr
        assert "imported" in result.stderr
        yield url


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return {
                str(t.name): [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in backup_tables()
            }
    finally:
        db.dispose()


def audit_head(url: str) -> tuple[int, str]:
    db = Database(url)
    try:
        with db.read() as conn:
            row = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())).first()
    finally:
        db.dispose()
    assert row is not None
    return int(row.seq), str(row.hash)


def test_the_source_has_rows_in_every_table(source: Source) -> None:
    db = Database(source.url)
    try:
        assert [name for name, count in row_counts(db).items() if count == 0] == []
    finally:
        db.dispose()


@pytest.mark.usefixtures("as_system")
def test_the_copy_answers_the_api_as_the_source(source: Source, source_answers: dict[str, Any], target: str) -> None:
    with source.app(target) as (app, client):
        assert answers(client) == source_answers
        # the same secret key (the data directory's) decrypts the connection secret, which moved encrypted
        assert app.state.connections.resolve("minio-storage").secret_access_key == S3_SECRET


def test_every_row_is_copied_as_stored(source: Source, target: str) -> None:
    source_rows, copied = every_row(source.url), every_row(target)
    for name, rows in source_rows.items():
        assert copied[name] == rows, name


def test_the_audit_chain_verifies_from_the_sources_head(source: Source, target: str) -> None:
    seq, hash_ = audit_head(source.url)
    result = run_cli("audit", "verify", "--anchor", f"{seq}:{hash_}", "--database-url", target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"audit trail intact: {seq} records, last seq {seq} hash {hash_}" in result.stdout


def test_new_writes_get_new_ids(source: Source, target: str) -> None:
    before = every_row(target)
    with source.app(target) as (_, client):

        def created(path: str, **body: Any) -> int:
            answer = client.post(path, json=body)
            assert answer.status_code in (200, 201), answer.text
            return int(answer.json()["id"])

        model = created(f"{REGISTRY}/registered_models", name="after-import")
        version = created(f"{REGISTRY}/model_versions", name="v1", registeredModelId=str(model))
        artifact = created(f"{REGISTRY}/model_versions/{version}/artifacts", artifactType="model-artifact",
                           name="w", uri="s3://models/after")  # fmt: skip
        experiment = created(f"{REGISTRY}/experiments", name="after-import")
        run = created(f"{REGISTRY}/experiment_runs", experimentId=str(experiment), name="r")
        binding = created("/api/governance/v1/rolebindings", subjectKind="user", subject="carol", role="viewer")
        token = created("/api/governance/v1/tokens", user="carol")
        verified = client.get("/api/governance/v1/audit/verify").json()

    def largest(table: str) -> int:
        return max(row[0] for row in before[table])

    assert model > largest("registered_models") and version > largest("model_versions")
    assert artifact > largest("artifacts")
    assert min(experiment, run) > largest("experiment_ids")
    assert binding > largest("role_bindings") and token > largest("api_tokens")
    assert verified["valid"] is True and verified["checked"] == len(before["audit_log"]) + 7


def test_an_import_into_a_database_with_rows_is_refused(exported: Path, target: str) -> None:
    """(The command's exit code and message: test_refusals.py.)"""
    before = every_row(target)
    db = Database(target)
    try:
        with exported.open("rb") as lines, pytest.raises(TargetNotEmpty, match=r"it has rows in api_tokens \(\d+\), "):
            import_backup(db, lines)
    finally:
        db.dispose()
    assert every_row(target) == before
