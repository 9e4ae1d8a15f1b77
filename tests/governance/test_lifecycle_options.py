"""``LifecycleService.options``: the stages a caller may move a version to, and the rule that refuses each other
one, must agree with what ``promote`` then does (the web UI offers exactly these moves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import empty
from modelreg.auth import context
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.errors import RegistryError
from modelreg.services import entities as e
from modelreg.services.lifecycle import LifecycleService, Policy
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService


def caller(role: Role) -> context.CallContext:
    return context.CallContext(Principal(Identity(f"ai-{role.value}", (), "token"), frozenset({role})))


@pytest.fixture
def lifecycle(database: Database) -> Iterator[LifecycleService]:
    empty(database)
    yield LifecycleService(RegistryService(database), Policy.default())


def new_version(lifecycle: LifecycleService, *, license: bool, uri: bool) -> int:
    registry = lifecycle.registry
    with context.acting_as(context.system("tests")):
        props = {"License": PropValue("string", "apache-2.0")} if license else {}
        model = registry.create(e.REGISTERED_MODEL, {"name": "m"}, props)
        version = registry.create_model_version({"name": "v1", "registered_model_id": model.row["id"]}, {})
        version_id = int(version.row["id"])
        if uri:
            registry.upsert_artifact(
                "model_version", version_id, "model-artifact", {"name": "weights", "uri": "s3://b/m/v1"}, {}
            )
    return version_id


def options(lifecycle: LifecycleService, role: Role, version_id: int) -> dict[str, str | None]:
    with context.acting_as(caller(role)):
        return {o.stage: o.refused for o in lifecycle.options(version_id)}


def promote_outcome(lifecycle: LifecycleService, role: Role, version_id: int, stage: str) -> str | None:
    """None when the promotion went through, else the service's message."""
    with context.acting_as(caller(role)):
        try:
            lifecycle.promote(version_id, stage)
        except RegistryError as exc:
            return exc.message
    return None


def test_developer_may_enter_staging_only_and_is_told_why_not_the_others(lifecycle: LifecycleService) -> None:
    version_id = new_version(lifecycle, license=True, uri=True)
    got = options(lifecycle, Role.DEVELOPER, version_id)
    assert set(got) == {"staging", "production", "deprecated"}  # never the stage it is in
    assert got["staging"] is None
    assert got["production"] == "production needs the admin role"
    assert got["deprecated"] == "deprecated needs the admin role"


def test_admin_is_refused_by_the_source_stage_and_then_by_the_checks(lifecycle: LifecycleService) -> None:
    version_id = new_version(lifecycle, license=False, uri=False)
    got = options(lifecycle, Role.ADMIN, version_id)
    assert got["production"] == "production can only be entered from staging or deprecated"
    assert got["deprecated"] is None
    assert promote_outcome(lifecycle, Role.ADMIN, version_id, "staging") is None
    got = options(lifecycle, Role.ADMIN, version_id)
    assert set(got) == {"development", "production", "deprecated"}
    refusal = got["production"]
    assert refusal is not None and "no model artifact with a URI" in refusal and "'License'" in refusal


def test_options_agree_with_promote_for_every_role_and_stage(lifecycle: LifecycleService) -> None:
    version_id = new_version(lifecycle, license=True, uri=True)
    for role in (Role.VIEWER, Role.DEVELOPER, Role.ADMIN):
        for stage, refused in options(lifecycle, role, version_id).items():
            outcome = promote_outcome(lifecycle, role, version_id, stage)
            assert (outcome is None) == (refused is None), (role, stage, refused, outcome)
            if outcome is None:  # back where it was, so every pair starts from development
                with context.acting_as(context.system("tests")):
                    lifecycle.registry.update(e.MODEL_VERSION, version_id, {"stage": None}, None)


def test_viewer_is_offered_nothing(lifecycle: LifecycleService) -> None:
    version_id = new_version(lifecycle, license=True, uri=True)
    got = options(lifecycle, Role.VIEWER, version_id)
    assert got and all(reason == "changing the stage needs the developer or admin role" for reason in got.values())


def test_archived_version_must_be_restored_first(lifecycle: LifecycleService) -> None:
    version_id = new_version(lifecycle, license=True, uri=True)
    with context.acting_as(context.system("tests")):
        lifecycle.registry.update(e.MODEL_VERSION, version_id, {"state": "ARCHIVED"}, None)
    assert options(lifecycle, Role.DEVELOPER, version_id)["staging"] == "the version is archived: restore it first"
