"""Audit records → CloudEvents: the type of each kind of change, the CloudEvent's attributes, the entity with its
model, version and stage, the changes in the REST API's names; governance records are no events. Real writes
through the registry services, each record turned into its event right after it commits."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from conftest import empty
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.events import cloudevents
from modelreg.events.cloudevents import Event, event_types, from_audit, matches
from modelreg.services import audit
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.lifecycle import LifecycleService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")
SOURCE = "/modelreg-tests"


@pytest.fixture
def db(sqlite_events_database: Database) -> Database:
    empty(sqlite_events_database)
    return sqlite_events_database


def newest_event(db: Database) -> Event | None:
    with db.read() as conn:
        record = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).mappings().one()
        return from_audit(conn, record, SOURCE)


def body(event: Event | None) -> dict[str, Any]:
    assert event is not None
    data: dict[str, Any] = orjson.loads(event.body)
    return data


def stage_record(db: Database, action: str, kind: str, entity_id: int | None, name: str, after: dict[str, Any]) -> None:
    with db.write() as conn:
        audit.stage(conn, action, kind, entity_id, name, None, after)


def test_event_types_cover_the_registry_and_nothing_of_governance() -> None:
    types = event_types()
    assert list(types) == sorted(set(types))
    for expected in (
        "io.modelreg.registered_model.created",
        "io.modelreg.model_version.stage_changed",
        "io.modelreg.model_version.deleted",
        "io.modelreg.artifact.updated",
        "io.modelreg.experiment_run.archived",
        "io.modelreg.upload.committed",
        "io.modelreg.transfer_job.cancelled",
        "io.modelreg.deployment.status_changed",
    ):
        assert expected in types
    assert not [t for t in types if any(k in t for k in ("api_token", "role_binding", "webhook", "data_connection"))]


def test_patterns_match_with_wildcards_only() -> None:
    assert matches(["*"], "io.modelreg.model_version.created")
    assert matches(["io.modelreg.model_version.*"], "io.modelreg.model_version.stage_changed")
    assert matches(["io.modelreg.upload.committed", "*.deleted"], "io.modelreg.model_version.deleted")
    assert not matches(["io.modelreg.model_version.*"], "io.modelreg.registered_model.created")
    assert not matches(["io.modelreg.model_version"], "io.modelreg.model_version.created")
    assert not matches(["io?modelreg.*"], "io.modelreg.model_version.created")  # only * is special
    assert matches(["fraud-*"], "fraud-detector") and not matches(["fraud-*"], "a-fraud-detector")
    assert not matches([], "io.modelreg.model_version.created")


def test_registry_changes_become_events_with_their_model_version_and_stage(db: Database) -> None:
    registry = RegistryService(db)
    model = registry.create(e.REGISTERED_MODEL, {"name": "fraud"}, {"team": PropValue("string", "risk")})
    created = newest_event(db)
    assert created is not None and created.type == "io.modelreg.registered_model.created"
    model_id = model.row["id"]
    cloud = body(created)
    assert cloud["specversion"] == "1.0" and cloud["id"] == str(created.seq) and cloud["source"] == SOURCE
    assert cloud["subject"] == f"registered_models/{model_id}" == created.subject
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cloud["time"])
    assert cloud["datacontenttype"] == "application/json"
    assert cloud["data"]["entity"] == {"kind": "registered_model", "id": str(model_id), "name": "fraud"}
    assert cloud["data"]["changes"]["before"] is None
    assert cloud["data"]["changes"]["after"] == {
        "id": str(model_id),
        "name": "fraud",
        "state": "LIVE",
        "customProperties": {"team": "risk"},
    }
    assert (cloud["data"]["actor"], cloud["data"]["via"]) == ("system:tests", "system")
    assert (created.entity_key, created.model_name, created.stage) == (f"registered_model:{model_id}", "fraud", None)

    version = registry.create_model_version({"name": "v1", "registered_model_id": model_id}, {})
    version_id = version.row["id"]
    made = newest_event(db)
    assert made is not None and made.type == "io.modelreg.model_version.created"
    assert (made.entity_key, made.model_name, made.subject) == (
        f"model_version:{version_id}",
        "fraud",
        f"model_versions/{version_id}",
    )
    entity = body(made)["data"]["entity"]
    assert entity == {
        "kind": "model_version",
        "id": str(version_id),
        "name": "v1",
        "modelVersionId": str(version_id),
        "modelVersionName": "v1",
        "registeredModelId": str(model_id),
        "registeredModelName": "fraud",
        "stage": "development",  # a stage never set is the first one
    }
    assert body(made)["data"]["changes"]["after"]["registeredModelId"] == str(model_id)

    registry.upsert_artifact("model_version", version_id, "model-artifact", {"name": "m", "uri": "s3://b/m"}, {})
    artifact = newest_event(db)
    assert artifact is not None and artifact.type == "io.modelreg.artifact.created"
    assert artifact.model_name == "fraud"
    assert body(artifact)["data"]["entity"]["modelVersionName"] == "v1"
    assert body(artifact)["data"]["changes"]["after"]["uri"] == "s3://b/m"

    registry.update(e.MODEL_VERSION, version_id, {"description": "better"}, None)
    updated = body(newest_event(db))
    assert updated["type"] == "io.modelreg.model_version.updated"
    assert updated["data"]["changes"]["after"] == {"description": "better"}

    LifecycleService(registry).promote(version_id, "staging", "ready")
    promoted = newest_event(db)
    assert promoted is not None and promoted.type == "io.modelreg.model_version.stage_changed"
    assert promoted.stage == "staging" and body(promoted)["data"]["entity"]["stage"] == "staging"
    assert body(promoted)["data"]["changes"] == {
        "before": {"Lifecycle": "development"},
        "after": {"Lifecycle": "staging", "comment": "ready"},
    }

    archive = ArchiveService(registry)
    archive.archive(e.MODEL_VERSION, version_id)
    archived = newest_event(db)
    assert archived is not None and archived.type == "io.modelreg.model_version.archived"
    assert archived.stage == "staging"  # looked up when relayed
    archive.restore(e.MODEL_VERSION, version_id)
    assert body(newest_event(db))["type"] == "io.modelreg.model_version.restored"
    archive.archive(e.MODEL_VERSION, version_id)
    archive.delete(e.MODEL_VERSION, version_id)
    deleted = newest_event(db)
    assert deleted is not None and deleted.type == "io.modelreg.model_version.deleted"
    assert deleted.model_name == "fraud"  # from the record: the version's row is gone
    assert body(deleted)["data"]["changes"]["after"] is None


def test_experiments_uploads_transfers_and_deployments(db: Database) -> None:
    registry = RegistryService(db)
    registry.create(e.EXPERIMENT, {"name": "tuning"}, {})
    experiment = newest_event(db)
    assert experiment is not None and experiment.type == "io.modelreg.experiment.created"
    assert (experiment.model_name, experiment.stage) == (None, None)

    model_id = registry.create(e.REGISTERED_MODEL, {"name": "scorer"}, {}).row["id"]
    upload_id = "0123456789abcdef0123456789abcdef"
    stage_record(db, "commit", "upload", None, upload_id, {"registered_model_id": model_id, "model_version_id": 999})
    upload = newest_event(db)
    assert upload is not None and upload.type == "io.modelreg.upload.committed"
    assert (upload.subject, upload.entity_key, upload.model_name) == (
        f"uploads/{upload_id}",
        f"upload:{upload_id}",
        "scorer",
    )
    assert body(upload)["data"]["entity"]["id"] == upload_id

    stage_record(db, "create", "transfer_job", None, "copy-scorer", {"intent": "create_model"})
    transfer = newest_event(db)
    assert transfer is not None and transfer.type == "io.modelreg.transfer_job.created"
    assert (transfer.subject, transfer.entity_key) == ("transfer_jobs/copy-scorer", "transfer_job:copy-scorer")

    stage_record(db, "status", "deployment", 5, "ns/scorer", {"status": "Loaded", "registeredModelId": str(model_id)})
    deployment = newest_event(db)
    assert deployment is not None and deployment.type == "io.modelreg.deployment.status_changed"
    assert (deployment.subject, deployment.model_name) == ("deployments/5", "scorer")
    assert body(deployment)["data"]["changes"]["after"] == {"status": "Loaded", "registeredModelId": str(model_id)}


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("api_token", "create"),
        ("role_binding", "create"),
        ("webhook", "create"),
        ("data_connection", "delete"),
        ("deploy_target", "update"),
        ("metric", "create"),
        ("local_user", "create"),
        ("model_version", "frobnicate"),
    ],
)
def test_governance_and_unknown_records_are_no_events(db: Database, kind: str, action: str) -> None:
    stage_record(db, action, kind, 1, "x", {"secret": "never sent"})
    assert newest_event(db) is None
    assert cloudevents.event_type(kind, action) is None
