"""Registering a catalog model through the services layer, on every backend: one transaction writes the registered
model, its version and the model artifact as the caller (permissions and audit records), and the name refusals say
which name and whether the existing model may take the version instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import empty
from modelreg.auth import context
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.errors import Forbidden, InvalidInput
from modelreg.services import entities as e
from modelreg.services.audit import AuditService
from modelreg.services.catalog_registration import (
    CatalogRegistration,
    NameConflict,
    live_model_named,
    register_from_catalog,
)
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

URI = "oci://registry.example/org/granite:1"


def caller(role: Role) -> context.CallContext:
    return context.CallContext(Principal(Identity(f"ai-{role.value}", (), "token"), frozenset({role})))


@pytest.fixture
def registry(database: Database) -> Iterator[RegistryService]:
    empty(database)
    yield RegistryService(database)


def registration(model: str = "granite", version: str = "Version 1", **more: Any) -> CatalogRegistration:
    return CatalogRegistration(
        model={"name": model, "owner": "ai-developer", "provider": "IBM"},
        version={"name": version, "author": "ai-developer"},
        artifact={"uri": URI},
        source_id="redhat",
        source_model="org/granite",
        version_props={"License": PropValue("string", "Apache 2.0")},
        **more,
    )


def everything(registry: RegistryService) -> tuple[list[e.Record], list[e.Record], list[e.Record]]:
    with context.acting_as(context.system("tests")):
        models, _ = registry.list_entities(e.REGISTERED_MODEL, PageRequest())
        versions, _ = registry.list_entities(e.MODEL_VERSION, PageRequest())
        artifacts, _ = registry.list_artifacts(PageRequest())
    return models, versions, artifacts


def test_writes_model_version_and_artifact_as_the_caller(registry: RegistryService) -> None:
    with context.acting_as(caller(Role.DEVELOPER)):
        version = register_from_catalog(registry, registration())
    [model], [stored], [artifact] = everything(registry)
    assert model.row["provider"] == "IBM" and model.row["owner"] == "ai-developer"
    assert stored.row["id"] == version.row["id"] and stored.row["registered_model_id"] == model.row["id"]
    assert stored.props["License"].value == "Apache 2.0"
    row = artifact.row
    assert (row["name"], row["uri"], row["artifact_type"]) == ("Version 1", URI, "model-artifact")
    assert (row["model_source_kind"], row["model_source_class"], row["model_source_name"]) == (
        "catalog", "redhat", "org/granite",
    )  # fmt: skip
    with context.acting_as(context.system("tests")):
        records, _ = AuditService(registry.db).query()
    kinds = sorted((r["entity_kind"], r["actor"], r["action"]) for r in records)
    assert [k for k, _, _ in kinds] == sorted(["registered_model", "model_version", "artifact"])
    assert {(actor, action) for _, actor, action in kinds} == {("ai-developer", "create")}


def test_a_viewer_is_refused_and_nothing_is_written(registry: RegistryService) -> None:
    with context.acting_as(caller(Role.VIEWER)), pytest.raises(Forbidden):
        register_from_catalog(registry, registration())
    assert everything(registry) == ([], [], [])


def test_a_taken_name_offers_the_existing_model_then_adds_a_version(registry: RegistryService) -> None:
    with context.acting_as(caller(Role.DEVELOPER)):
        first = register_from_catalog(registry, registration())
        with pytest.raises(NameConflict) as taken:
            register_from_catalog(registry, registration(version="Version 2"))
        assert (taken.value.field, taken.value.offer_existing, taken.value.status_code) == ("model", True, 409)
        assert live_model_named(registry, "granite") and not live_model_named(registry, "other")
        second = register_from_catalog(registry, registration(version="Version 2", use_existing=True))
    assert second.row["registered_model_id"] == first.row["registered_model_id"]
    models, versions, artifacts = everything(registry)
    assert (len(models), len(versions), len(artifacts)) == (1, 2, 2)


def test_a_taken_version_name_rolls_back_everything(registry: RegistryService) -> None:
    with context.acting_as(caller(Role.DEVELOPER)):
        register_from_catalog(registry, registration())
        with pytest.raises(NameConflict) as clash:
            register_from_catalog(registry, registration(use_existing=True))
    assert (clash.value.field, clash.value.offer_existing) == ("version", False)
    models, versions, artifacts = everything(registry)
    assert (len(models), len(versions), len(artifacts)) == (1, 1, 1)


def test_a_refused_version_leaves_no_new_model_behind(registry: RegistryService) -> None:
    too_long = "v" * 300  # the registry refuses the version's name after the model row was inserted
    with context.acting_as(caller(Role.DEVELOPER)), pytest.raises(InvalidInput, match="too long"):
        register_from_catalog(registry, registration(version=too_long))
    assert everything(registry) == ([], [], [])


def test_an_archived_model_of_that_name_is_refused(registry: RegistryService) -> None:
    with context.acting_as(caller(Role.DEVELOPER)):
        version = register_from_catalog(registry, registration())
    with context.acting_as(context.system("tests")):
        registry.update(e.REGISTERED_MODEL, version.row["registered_model_id"], {"state": "ARCHIVED"}, None)
    with context.acting_as(caller(Role.DEVELOPER)):
        assert not live_model_named(registry, "granite")
        with pytest.raises(NameConflict, match="archived") as archived:
            register_from_catalog(registry, registration(version="Version 2", use_existing=True))
    assert (archived.value.field, archived.value.offer_existing) == ("model", False)
