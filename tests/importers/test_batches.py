"""Imported writes go in by transactions of several entities: one entity's failed write rolls its transaction back
(its audit records with it) and it fails alone, with its own message, while the entities before and after it land;
parents resolve whether written earlier in the same transaction or in an earlier one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from conftest import SQLITE_ONLY, empty
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, import_records, registered_models
from modelreg.importers import ledger, runner
from modelreg.importers.model import Ref, SourceEntity
from modelreg.importers.writer import Applied, Outcome, Writer
from modelreg.services.audit import AuditService
from modelreg.services.imports import ImportService

pytestmark = pytest.mark.usefixtures("as_system")
SOURCE = "test:batches"
C, F = Outcome.CREATED, Outcome.FAILED


class Listed:
    def __init__(self, name: str, *entities: SourceEntity) -> None:
        self.name = name
        self.items = entities

    def total(self) -> int:
        return len(self.items)

    def entities(self) -> Iterator[SourceEntity]:
        yield from self.items


def model(source_id: str, name: str) -> SourceEntity:
    return SourceEntity("registered_model", source_id, {"name": name})


def version(source_id: str, model_id: str) -> SourceEntity:
    return SourceEntity("model_version", source_id, {"name": source_id}, parents=(Ref("registered_model", model_id),))


@pytest.fixture
def db(database: Database) -> Database:
    empty(database)
    assert runner.run(Listed("test:elsewhere", model("t", "taken")), database).ok  # the name a later model wants
    return database


def test_a_failed_write_rolls_back_only_itself_and_leaves_no_audit_record(db: Database) -> None:
    entities = (model("a", "first"), model("t", "taken"), model("b", "second"))
    entities += (version("a1", "a"), version("t1", "t"), version("b1", "b"))
    summary = runner.run(Listed(SOURCE, *entities), db)

    assert summary.errors == [
        "registered model 'taken' (source id t): registered model with name 'taken' already exists",
        "model version 't1' (source id t1): its parent registered_model t was not imported",
    ]
    assert summary.count(outcome=C) == 4
    r, a = import_records.c, audit_log.c
    with db.read() as conn:
        ledger_rows = conn.execute(select(r.source_kind, r.source_id).where(r.source == SOURCE)).all()
        assert sorted(tuple(row) for row in ledger_rows) == [
            ("model_version", "a1"),
            ("model_version", "b1"),
            ("registered_model", "a"),
            ("registered_model", "b"),
        ]
        records = conn.execute(
            select(a.action, a.entity_kind, a.entity_name, a.actor, a.client, a.request_id)
            .where(a.client == f"import {SOURCE}")
            .order_by(a.seq)
        ).all()
        assert sorted(conn.execute(select(registered_models.c.name)).scalars()) == ["first", "second", "taken"]
    assert [(action, kind, name) for action, kind, name, *_ in records] == [
        ("create", "registered_model", "first"),
        ("create", "registered_model", "second"),
        ("create", "model_version", "a1"),
        ("create", "model_version", "b1"),
    ]
    assert {(actor, request_id) for *_, actor, _, request_id in records} == {
        (context.current().principal.identity.user, summary.run_id)
    }
    assert AuditService(db).verify().valid  # no gap and no stray record where the rolled-back ones were


@getattr(pytest.mark, SQLITE_ONLY)("how the writer cuts and retries its transactions")
def test_transactions_of_a_few_entities_resolve_parents_and_isolate_failures(db: Database) -> None:
    """Three entities per transaction: the second one fails in its second position, the third starts with the
    orphan; parents come from the same transaction (a1 from a) or an earlier one (a3 from a)."""
    entities = (model("a", "first"), version("a1", "a"), version("a2", "a"))
    entities += (version("a3", "a"), model("t", "taken"), version("t1", "t"))
    entities += (model("b", "second"), version("b1", "b"))

    def write_all() -> list[Applied]:
        writer = Writer(ImportService(db), SOURCE, ledger.load(db, SOURCE), batch_size=3)
        return [done for entity in entities for done in writer.apply(entity)] + writer.flush()

    first = write_all()
    assert [(done.entity.source_id, done.result.outcome) for done in first] == [
        ("a", C), ("a1", C), ("a2", C), ("a3", C), ("t", F), ("t1", F), ("b", C), ("b1", C)
    ]  # fmt: skip
    again = {(done.entity.source_id, done.result.outcome) for done in write_all()}
    assert again == {(e.source_id, Outcome.UNCHANGED) for e in entities if e.source_id[0] != "t"} | {
        ("t", F),
        ("t1", F),
    }
