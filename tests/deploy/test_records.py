"""deploy/records.py: the registry records the platform's controller writes, idempotent and race-safe."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import empty
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, inference_services, serving_environments
from modelreg.deploy import records
from modelreg.errors import NotFound
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")


@pytest.fixture
def registry(database: Database) -> Iterator[RegistryService]:
    empty(database)
    yield RegistryService(database)


@pytest.fixture
def model(registry: RegistryService) -> tuple[int, int]:
    rm = registry.create(e.REGISTERED_MODEL, {"name": "churn-predictor"}, {})
    mv = registry.create_model_version({"registered_model_id": rm.row["id"], "name": "v3"}, {})
    return int(rm.row["id"]), int(mv.row["id"])


def isvc(model: tuple[int, int], *, name: str = "churn", namespace: str = "retail", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "labels": {
                "modelregistry.opendatahub.io/registered-model-id": str(model[0]),
                "modelregistry.opendatahub.io/model-version-id": str(model[1]),
                **labels,
            },
        },
        "spec": {"predictor": {"model": {"runtime": "churn", "modelFormat": {"name": "sklearn"}}}},
    }


def counts(database: Database) -> tuple[int, int, int]:
    with database.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(serving_environments)).scalar_one(),
            conn.execute(select(func.count()).select_from(inference_services)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
        )


def test_creates_environment_and_record_like_the_controller(
    registry: RegistryService, model: tuple[int, int], database: Database
) -> None:
    obj = isvc(model)
    record_id = records.ensure(registry, obj, "http://churn-predictor.retail.svc.cluster.local")
    record = registry.get(e.INFERENCE_SERVICE, record_id)
    environment = registry.get(e.SERVING_ENVIRONMENT, record.row["serving_environment_id"])
    assert environment.row["name"] == "retail"
    assert record.row["name"] == f"churn/{obj['metadata']['uid']}"
    assert (record.row["registered_model_id"], record.row["model_version_id"]) == model
    assert (record.row["runtime"], record.row["desired_state"]) == ("churn", "DEPLOYED")
    assert record.props == {"url": PropValue("string", "http://churn-predictor.retail.svc.cluster.local")}
    with database.read() as conn:
        actors = set(
            conn.execute(select(audit_log.c.actor).where(audit_log.c.entity_kind != "model_version")).scalars()
        )
    assert actors == {"system:tests"}  # written as the caller


def test_twice_is_one_record_and_writes_nothing_new(
    registry: RegistryService, model: tuple[int, int], database: Database
) -> None:
    obj = isvc(model)
    first = records.ensure(registry, obj, "http://a")
    before = counts(database)
    assert records.ensure(registry, obj, "http://a") == first
    assert counts(database) == before
    assert before[:2] == (1, 1)


def test_url_and_desired_state_follow(registry: RegistryService, model: tuple[int, int]) -> None:
    obj = isvc(model)
    record_id = records.ensure(registry, obj, None)
    assert registry.get(e.INFERENCE_SERVICE, record_id).props == {}
    records.ensure(registry, obj, "https://churn-retail.apps.example.net")
    records.mark_undeployed(registry, record_id)
    assert registry.get(e.INFERENCE_SERVICE, record_id).row["desired_state"] == "UNDEPLOYED"
    assert records.ensure(registry, obj, None) == record_id  # a URL that went away keeps the last one
    record = registry.get(e.INFERENCE_SERVICE, record_id)
    assert record.row["desired_state"] == "DEPLOYED"
    assert record.props["url"] == PropValue("string", "https://churn-retail.apps.example.net")


def test_the_label_names_the_record(registry: RegistryService, model: tuple[int, int]) -> None:
    """A record the platform's controller made (another name) is found through the label it wrote back."""
    environment = registry.create(e.SERVING_ENVIRONMENT, {"name": "retail"}, {})
    theirs = registry.create_inference_service(
        {"name": "made-elsewhere", "serving_environment_id": environment.row["id"], "registered_model_id": model[0]},
        {},
    )
    labelled = isvc(model, **{"modelregistry.opendatahub.io/inference-service-id": str(theirs.row["id"])})
    assert records.ensure(registry, labelled, "http://x") == theirs.row["id"]
    stale = isvc(model, **{"modelregistry.opendatahub.io/inference-service-id": "987654"})
    created = records.ensure(registry, stale, None)
    assert created != theirs.row["id"]
    assert registry.get(e.INFERENCE_SERVICE, created).row["name"] == records.record_name(stale)


def test_unknown_model_is_not_found(registry: RegistryService, model: tuple[int, int]) -> None:
    with pytest.raises(NotFound):
        records.ensure(registry, isvc((model[0] + 1000, model[1])), None)
    unlabelled = isvc(model)
    del unlabelled["metadata"]["labels"]["modelregistry.opendatahub.io/registered-model-id"]
    with pytest.raises(NotFound, match="names no registered model"):
        records.ensure(registry, unlabelled, None)


def test_mark_undeployed_is_idempotent_and_tolerates_a_missing_record(
    registry: RegistryService, model: tuple[int, int], database: Database
) -> None:
    record_id = records.ensure(registry, isvc(model), None)
    records.mark_undeployed(registry, record_id)
    before = counts(database)
    records.mark_undeployed(registry, record_id)
    records.mark_undeployed(registry, record_id + 1000)
    assert counts(database) == before


def test_concurrent_ensures_make_one_record(
    registry: RegistryService, model: tuple[int, int], database: Database
) -> None:
    """Two processes seeing the same InferenceService at once (here: threads, each its own caller)."""
    objects = [isvc(model, name=f"svc-{i}", namespace=f"team-{i % 2}") for i in range(3)]
    callers = 6
    barrier = threading.Barrier(callers)

    def run(obj: dict[str, Any]) -> int:
        with context.acting_as(context.system("deploy-watch")):
            barrier.wait(timeout=10)
            return records.ensure(registry, obj, "http://u")

    for obj in objects:
        with ThreadPoolExecutor(callers) as pool:
            ids = set(pool.map(run, [obj] * callers))
        assert len(ids) == 1
        barrier.reset()
    assert counts(database)[:2] == (2, 3)
