"""The registry as the catalog source ``registry``: what a registered model looks like in the catalog, and how
quickly the source follows changes made here (commit listener) and by other processes (the audit head poll)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from conftest import empty
from modelreg.catalog import registry_rows
from modelreg.catalog.models import ArtifactType, CatalogModel, SourceStatus
from modelreg.catalog.registry_source import RegistryCatalogSource
from modelreg.catalog.snapshots import SourceSnapshot
from modelreg.db.database import Database
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.lifecycle import LifecycleService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly

FOLLOW_WITHIN = 1.0  # seconds: the "within a second"


@dataclass
class Follower:
    source: RegistryCatalogSource
    published: list[SourceSnapshot] = field(default_factory=list)

    def models(self) -> dict[str, CatalogModel]:
        return {m.name: m for m in self.source.snapshot().models}

    def until(self, check: Callable[[dict[str, CatalogModel]], bool], within: float = FOLLOW_WITHIN) -> None:
        """Wait until ``check`` holds of the published models, failing after ``within`` seconds."""
        deadline = time.monotonic() + within
        while not check(self.models()):
            if time.monotonic() > deadline:
                pytest.fail(f"not seen within {within} s; the catalog has {sorted(self.models())}")
            time.sleep(0.005)


@pytest.fixture
def registry(database: Database) -> RegistryService:
    empty(database)
    return RegistryService(database)


@pytest.fixture
def follower(registry: RegistryService) -> Iterator[Follower]:
    source = RegistryCatalogSource(registry.db, interval=0.2)
    follower = Follower(source)
    source.start(follower.published.append)
    try:
        deadline = time.monotonic() + 10
        while source.snapshot().source.status is None:
            assert time.monotonic() < deadline, "the first load did not finish"
            time.sleep(0.005)
        yield follower
    finally:
        source.stop()


def s(value: str) -> PropValue:
    return PropValue("string", value)


def add_version(registry: RegistryService, model_id: int, name: str, readme: str, uri: str) -> int:
    version = registry.create_model_version(
        {"name": name, "registered_model_id": model_id, "description": f"{name} notes"}, {"readme": s(readme)}
    )
    version_id = int(version.row["id"])
    registry.upsert_artifact(
        "model_version",
        version_id,
        "model-artifact",
        {"name": f"{name}-weights", "uri": uri, "model_format_name": "onnx", "model_format_version": "1"},
        {"quantized": s("")},
    )
    return version_id


def test_a_registered_model_appears_with_its_card_artifacts_and_stage(
    registry: RegistryService, follower: Follower
) -> None:
    model = registry.create(
        e.REGISTERED_MODEL,
        {"name": "fraud/detector.v2", "description": "Finds fraud", "owner": "alice", "tasks": '["tabular"]'},
        {"team": s("risk")},
    )
    model_id = int(model.row["id"])
    version_id = add_version(registry, model_id, "v1", "# Fraud detector", "s3://bucket/fraud?secretKey=hunter2")
    registry.update(e.MODEL_VERSION, version_id, {}, {"readme": s("# Fraud detector"), "License": s("apache-2.0")})
    LifecycleService(registry).promote(version_id, "staging")

    follower.until(lambda ms: (m := ms.get("fraud/detector.v2")) is not None and m.registry.stage == "staging")
    found = follower.models()["fraud/detector.v2"]
    assert found.id == str(model_id) and found.source_id == "registry"
    assert found.description == "Finds fraud" and found.readme == "# Fraud detector"
    assert found.tasks == ("tabular",) and found.license == "Apache 2.0"  # a version property fills a gap
    assert found.registry.latest_version_id == version_id and found.registry.owner == "alice"
    assert found.custom_properties["team"] == {"metadataType": "MetadataStringValue", "string_value": "risk"}
    assert "readme" not in found.custom_properties
    (artifact,) = found.artifacts
    assert artifact.artifact_type is ArtifactType.MODEL and artifact.custom_properties["modelFormatName"] == {
        "metadataType": "MetadataStringValue",
        "string_value": "onnx",
    }
    assert "quantized" in artifact.custom_properties and artifact.uri is not None
    assert artifact.uri.startswith("s3://bucket/fraud") and "hunter2" not in artifact.uri
    assert found.model_uri == artifact.uri
    assert found.last_update_time_ms >= found.create_time_ms
    source = follower.source.snapshot().source
    assert (source.id, source.name, source.labels, source.status) == (
        "registry",
        "Registered models",
        ("Registered models",),
        SourceStatus.AVAILABLE,
    )


def test_archive_removes_a_model_and_restore_brings_it_back(registry: RegistryService, follower: Follower) -> None:
    archive = ArchiveService(registry)
    keep = registry.create(e.REGISTERED_MODEL, {"name": "keep"}, {})
    model = registry.create(e.REGISTERED_MODEL, {"name": "churn"}, {})
    add_version(registry, int(model.row["id"]), "v1", "card", "s3://b/churn")
    follower.until(lambda ms: "churn" in ms and bool(ms["churn"].artifacts))
    kept = follower.models()["keep"]

    archive.archive(e.REGISTERED_MODEL, int(model.row["id"]))
    follower.until(lambda ms: "churn" not in ms)
    assert follower.models()["keep"] is kept  # an untouched model keeps its object

    archive.restore(e.REGISTERED_MODEL, int(model.row["id"]))
    follower.until(lambda ms: "churn" in ms)
    assert follower.models()["churn"].registry.latest_version_name == "v1"
    assert int(keep.row["id"]) == follower.models()["keep"].registry.registered_model_id


def test_archiving_the_latest_version_makes_the_previous_one_latest(
    registry: RegistryService, follower: Follower
) -> None:
    model_id = int(registry.create(e.REGISTERED_MODEL, {"name": "m"}, {}).row["id"])
    v1 = add_version(registry, model_id, "v1", "first card", "s3://b/m/1")
    v2 = add_version(registry, model_id, "v2", "second card", "s3://b/m/2")
    follower.until(lambda ms: "m" in ms and ms["m"].registry.latest_version_id == v2)
    assert follower.models()["m"].readme == "second card"

    ArchiveService(registry).archive(e.MODEL_VERSION, v2)
    follower.until(lambda ms: ms["m"].registry.latest_version_id == v1)
    found = follower.models()["m"]
    assert found.readme == "first card" and found.model_uri == "s3://b/m/1"

    ArchiveService(registry).archive(e.MODEL_VERSION, v1)  # no live version left: still listed, nothing to show
    follower.until(lambda ms: ms["m"].registry.latest_version_id is None)
    assert follower.models()["m"].artifacts == ()


def test_updates_to_a_model_its_version_and_artifact_are_followed(
    registry: RegistryService, follower: Follower
) -> None:
    model_id = int(registry.create(e.REGISTERED_MODEL, {"name": "m"}, {}).row["id"])  # names are immutable
    version_id = add_version(registry, model_id, "v1", "card", "s3://b/old")
    follower.until(lambda ms: "m" in ms and ms["m"].model_uri == "s3://b/old")

    registry.update(e.REGISTERED_MODEL, model_id, {"description": "now described", "provider": "Acme"}, None)
    follower.until(lambda ms: ms["m"].description == "now described")
    assert follower.models()["m"].provider == "Acme"

    artifact = registry.find_artifact("v1-weights", None, version_id)
    registry.update_artifact(int(artifact.row["id"]), None, {"uri": "s3://b/new"}, None)  # found through its links
    follower.until(lambda ms: ms["m"].model_uri == "s3://b/new")

    registry.update(e.MODEL_VERSION, version_id, {}, {"readme": s("a better card")})
    follower.until(lambda ms: ms["m"].readme == "a better card")


def test_changes_made_by_another_process_are_seen_through_the_poll(
    registry: RegistryService, follower: Follower
) -> None:
    other = Database(registry.db.url)  # another server process's database: our listener does not hear it
    try:
        elsewhere = RegistryService(other)
        model_id = int(elsewhere.create(e.REGISTERED_MODEL, {"name": "remote"}, {}).row["id"])
        add_version(elsewhere, model_id, "v1", "remote card", "s3://b/remote")
        follower.until(lambda ms: "remote" in ms and ms["remote"].readme == "remote card")
        ArchiveService(elsewhere).archive(e.REGISTERED_MODEL, model_id)
        follower.until(lambda ms: "remote" not in ms)
    finally:
        other.dispose()


def test_a_trail_emptied_and_refilled_to_the_same_length_is_reloaded(
    registry: RegistryService, database: Database
) -> None:
    """A trail emptied (a test's reset, a restore) and written again up to the head the source had reached, before
    the source looked: the numbers are the same, the records are not, and the catalog must follow the new ones."""
    source = RegistryCatalogSource(database, interval=3600)  # no poll: only this process's commits wake it
    follower = Follower(source)
    source.start(lambda _: None)
    try:
        registry.create(e.REGISTERED_MODEL, {"name": "before-the-reset"}, {})
        follower.until(lambda ms: "before-the-reset" in ms)
        empty(database)  # tells no one: no audit record
        registry.create(e.REGISTERED_MODEL, {"name": "after-the-reset"}, {})  # the same sequence number again
        follower.until(lambda ms: sorted(ms) == ["after-the-reset"])
    finally:
        source.stop()


def test_a_burst_of_writes_ends_consistent_in_few_refreshes(registry: RegistryService, follower: Follower) -> None:
    ids = [int(registry.create(e.REGISTERED_MODEL, {"name": f"burst-{i}"}, {}).row["id"]) for i in range(20)]
    before = len(follower.published)
    for round_ in range(10):  # 200 writes, as fast as the database takes them
        for id_ in ids:
            registry.update(e.REGISTERED_MODEL, id_, {"description": f"round {round_}"}, None)
    expected = RegistryCatalogSource(registry.db).load().models  # read from scratch
    follower.until(lambda _: follower.source.snapshot().models == expected)
    assert all(m.description == "round 9" for m in expected) and len(expected) == 20
    assert len(follower.published) - before < 100  # debounced: not one rebuild per write


def test_long_stretches_of_changes_reload_every_model(registry: RegistryService) -> None:
    """More unread audit records than ``max_changes`` (from this process or another) cost one full reload."""
    other = Database(registry.db.url)
    source = RegistryCatalogSource(registry.db, interval=0.1, max_changes=5)
    source.start(lambda _: None)
    follower = Follower(source)
    try:
        for i in range(8):
            registry.create(e.REGISTERED_MODEL, {"name": f"here-{i}"}, {})
        for i in range(8):
            RegistryService(other).create(e.REGISTERED_MODEL, {"name": f"there-{i}"}, {})
        follower.until(lambda ms: len(ms) == 16)
        assert source.snapshot().models == RegistryCatalogSource(registry.db).load().models
    finally:
        source.stop()
        other.dispose()


def test_a_failing_database_keeps_the_last_snapshot_and_is_retried(
    registry: RegistryService, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create(e.REGISTERED_MODEL, {"name": "stays"}, {})
    follower.until(lambda ms: "stays" in ms)
    real = registry_rows.read_models
    failures = []

    def failing(*args: object, **kwargs: object) -> dict[int, CatalogModel]:
        if not failures:
            failures.append(1)
            raise OSError("database unreachable")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_rows, "read_models", failing)
    registry.create(e.REGISTERED_MODEL, {"name": "later"}, {})
    follower.until(lambda ms: bool(failures))
    assert "stays" in follower.models()  # the failed refresh took nothing away
    follower.until(lambda ms: "later" in ms, within=FOLLOW_WITHIN + 0.5)  # the retry waits half a second
    assert follower.source.snapshot().source.status is SourceStatus.AVAILABLE


def test_the_first_load_failing_is_shown_as_the_source_status(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty(database)

    def failing(*args: object, **kwargs: object) -> dict[int, CatalogModel]:
        raise OSError("database unreachable")

    monkeypatch.setattr(registry_rows, "read_models", failing)
    source = RegistryCatalogSource(database)
    published: list[SourceSnapshot] = []
    source.start(published.append)
    try:
        deadline = time.monotonic() + 5
        while not published:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        source.stop()
    status = published[0].source
    assert status.status is SourceStatus.ERROR and status.error == "cannot read the registry: OSError"
    assert published[0].models == ()
