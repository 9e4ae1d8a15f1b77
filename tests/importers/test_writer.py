"""The import framework with a source that yields given entities: what the writer and `ImportService` make of them
(typed custom properties, kept times, author, stage and state, artifact ownership and links, metric history), and
its decisions (a failed parent fails its children, a dry run plans without writing, an entity deleted here since its
import comes back when the source changes it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select

from conftest import SQLITE_ONLY, empty
from modelreg.auth import context
from modelreg.auth.context import CallContext
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.db.tables import (
    artifact_attributions,
    audit_log,
    import_records,
    metric_history,
    properties,
    registered_models,
)
from modelreg.importers import runner
from modelreg.importers.model import Ref, SourceEntity
from modelreg.importers.runner import Summary
from modelreg.importers.writer import Outcome
from modelreg.services import entities as e
from modelreg.services.imports import PROVENANCE_PROPERTY
from modelreg.services.properties import PropValue

pytestmark = [pytest.mark.usefixtures("as_system"), getattr(pytest.mark, SQLITE_ONLY)("the import's rules")]
SOURCE = "test:listed"
MODEL = SourceEntity("registered_model", "m", {"name": "churn"})
VERSION = SourceEntity("model_version", "v", {"name": "1"}, parents=(Ref("registered_model", "m"),))


class Listed:
    name = SOURCE

    def __init__(self, entities: tuple[SourceEntity, ...]) -> None:
        self.items = entities

    def total(self) -> int:
        return len(self.items)

    def entities(self) -> Iterator[SourceEntity]:
        yield from self.items


@pytest.fixture
def db(database: Database) -> Database:
    empty(database)
    return database


def run(db: Database, *entities: SourceEntity, dry_run: bool = False) -> Summary:
    return runner.run(Listed(entities), db, dry_run=dry_run)


def entity_id(db: Database, kind: str, source_id: str) -> int:
    r = import_records.c
    with db.read() as conn:
        found = conn.execute(select(r.entity_id).where(r.source_kind == kind, r.source_id == source_id)).scalar_one()
    return int(found)


def load(db: Database, kind: e.Kind, source_kind: str, source_id: str) -> e.Record:
    id_ = entity_id(db, source_kind, source_id)
    with db.read() as conn:
        return e.load(conn, kind, id_)


def test_plain_custom_properties_are_typed_as_the_rest_api_types_them(db: Database) -> None:
    props = {
        "text": "x",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "config": {"layers": [1, 2]},
        "typed": {"metadataType": "MetadataIntValue", "int_value": "9"},
        "unset": None,
    }
    assert run(db, SourceEntity("registered_model", "m", {"name": "churn"}, props)).ok
    stored = load(db, e.REGISTERED_MODEL, "registered_model", "m").props
    struct = base64.b64encode(orjson.dumps({"layers": [1, 2]})).decode()
    assert stored == {
        "text": PropValue("string", "x"),
        "count": PropValue("int", 3),
        "ratio": PropValue("double", 0.5),
        "flag": PropValue("bool", True),
        "config": PropValue("struct", struct),
        "typed": PropValue("int", 9),
        PROVENANCE_PROPERTY: PropValue("string", f"{SOURCE}#registered_model/m"),
    }


def test_times_author_stage_and_state_are_the_sources(db: Database) -> None:
    version = SourceEntity(
        "model_version",
        "v",
        {"name": "1", "author": "ana", "state": "ARCHIVED"},
        parents=(Ref("registered_model", "m"),),
        create_time_ms=1_600_000_000_000,
        update_time_ms=1_650_000_000_000,
        stage="production",
    )
    assert run(db, MODEL, version).ok
    row = load(db, e.MODEL_VERSION, "model_version", "v").row
    assert (row["create_time"], row["last_update_time"]) == (1_600_000_000_000, 1_650_000_000_000)
    assert (row["author"], row["state"], row["stage"]) == ("ana", "ARCHIVED", "production")
    with db.read() as conn:
        actions = conn.execute(
            select(audit_log.c.action).where(audit_log.c.entity_kind == "model_version").order_by(audit_log.c.seq)
        ).scalars()
        assert list(actions) == ["create", "promote"]


def test_an_artifact_of_one_version_is_owned_by_it_and_a_shared_one_by_none(db: Database) -> None:
    experiment = SourceEntity("experiment", "x", {"name": "churn"})
    run_ = SourceEntity("experiment_run", "r", {"name": "run-1"}, parents=(Ref("experiment", "x"),))
    second = SourceEntity("model_version", "v2", {"name": "2"}, parents=(Ref("registered_model", "m"),))
    weights = SourceEntity(
        "artifact",
        "w",
        {"artifactType": "model-artifact", "name": "weights", "uri": "s3://b/w"},
        parents=(Ref("model_version", "v"), Ref("experiment_run", "r")),
    )
    card = SourceEntity(
        "artifact",
        "c",
        {"artifactType": "doc-artifact", "name": "card"},
        parents=(Ref("model_version", "v"), Ref("model_version", "v2")),
    )
    assert run(db, experiment, run_, MODEL, VERSION, second, weights, card).ok
    ids = {key: entity_id(db, *key) for key in [("experiment", "x"), ("experiment_run", "r"), ("model_version", "v")]}
    ids |= {key: entity_id(db, *key) for key in [("model_version", "v2"), ("artifact", "w"), ("artifact", "c")]}

    owned = load(db, e.ARTIFACT, "artifact", "w").row
    assert owned["parent_model_version_id"] == ids["model_version", "v"] and owned["parent_experiment_run_id"] is None
    assert (owned["experiment_id"], owned["experiment_run_id"]) == (ids["experiment", "x"], ids["experiment_run", "r"])
    shared = load(db, e.ARTIFACT, "artifact", "c").row
    assert shared["parent_model_version_id"] is None and shared["parent_experiment_run_id"] is None
    assert links(db, ids["artifact", "w"]) == {
        ("model_version", ids["model_version", "v"]),
        ("experiment_run", ids["experiment_run", "r"]),
    }
    assert links(db, ids["artifact", "c"]) == {
        ("model_version", ids["model_version", "v"]),
        ("model_version", ids["model_version", "v2"]),
    }


def links(db: Database, artifact_id: int) -> set[tuple[str, int]]:
    a = artifact_attributions.c
    with db.read() as conn:
        return {(k, i) for k, i in conn.execute(select(a.parent_kind, a.parent_id).where(a.artifact_id == artifact_id))}


def test_an_entity_that_fails_fails_its_children_and_the_rest_goes_on(db: Database) -> None:
    refused = SourceEntity("registered_model", "m", {"name": "churn"}, {"Lifecycle": "production"})
    other = SourceEntity("registered_model", "o", {"name": "other"})
    summary = run(db, refused, VERSION, other)
    assert not summary.ok
    assert summary.count(outcome=Outcome.FAILED) == 2 and summary.count(outcome=Outcome.CREATED) == 1
    assert summary.errors[0].startswith("registered model 'churn' (source id m): ")
    assert summary.errors[1] == "model version '1' (source id v): its parent registered_model m was not imported"
    with db.read() as conn:
        assert list(conn.execute(select(registered_models.c.name)).scalars()) == ["other"]


def test_a_dry_run_plans_children_of_what_it_would_create_and_writes_nothing(db: Database) -> None:
    summary = run(db, MODEL, VERSION, dry_run=True)
    assert summary.ok
    assert summary.planned == [
        "create registered model 'churn' (source id m)",
        "create model version '1' (source id v)",
    ]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(import_records)).scalar_one() == 0


def history(name: str, *values: float) -> tuple[dict[str, Any], ...]:
    return tuple({"name": name, "value": v, "step": n, "timestamp": str(n)} for n, v in enumerate(values))


def test_a_runs_metric_history_follows_the_source(db: Database) -> None:
    experiment = SourceEntity("experiment", "x", {"name": "churn"})

    def run_with(*values: float) -> SourceEntity:
        return SourceEntity(
            "experiment_run",
            "r",
            {"name": "run-1"},
            parents=(Ref("experiment", "x"),),
            metric_history=history("acc", *values),
        )

    assert run(db, experiment, run_with(0.5, 0.6)).ok
    assert logged(db) == [("acc", 0.5, 0), ("acc", 0.6, 1)]
    assert run(db, experiment, run_with(0.5, 0.6, 0.7)).count(outcome=Outcome.UPDATED) == 1
    assert logged(db) == [("acc", 0.5, 0), ("acc", 0.6, 1), ("acc", 0.7, 2)]


def logged(db: Database) -> list[tuple[str, float, int]]:
    h = metric_history.c
    with db.read() as conn:
        return [(n, v, s) for n, v, s in conn.execute(select(h.name, h.number_value, h.step).order_by(h.id))]


def test_an_entity_deleted_here_comes_back_when_the_source_changes_it(db: Database) -> None:
    assert run(db, MODEL).ok
    with db.write() as conn:  # as a hard delete does (services/archive.py)
        conn.execute(delete(registered_models))
        conn.execute(delete(properties))
    assert run(db, MODEL).count(outcome=Outcome.UNCHANGED) == 1  # the ledger says it was brought in: skipped

    changed = SourceEntity("registered_model", "m", {"name": "churn", "description": "now described"})
    assert run(db, changed).count(outcome=Outcome.UPDATED) == 1
    assert load(db, e.REGISTERED_MODEL, "registered_model", "m").row["description"] == "now described"


def test_only_an_admin_imports_a_version_past_the_first_stage(db: Database) -> None:
    developer = CallContext(Principal(Identity("dev"), frozenset({Role.DEVELOPER})))
    staged = SourceEntity("model_version", "v", {"name": "1"}, parents=(Ref("registered_model", "m"),), stage="staging")
    with context.acting_as(developer):
        summary = run(db, MODEL, staged)
    assert summary.count(outcome=Outcome.CREATED) == 1
    assert summary.errors == [
        "model version '1' (source id v): user 'dev' is no admin: only admins import versions in a stage past the first"
    ]
