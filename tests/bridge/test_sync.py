"""The sync without HTTP: the commit hook, targeted refreshes, full resync, and what an error must not do."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import select

from modelreg.bridge import store
from modelreg.bridge.sources import LocalRegistry
from modelreg.bridge.sync import BridgeSync
from modelreg.db.database import Database
from modelreg.db.tables import bridge_records
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly


def add_model(registry: RegistryService, name: str, versions: tuple[str, ...] = ("v1",)) -> tuple[int, list[int]]:
    model = registry.create(e.REGISTERED_MODEL, {"name": name, "owner": "alice"}, {})
    ids = []
    for version in versions:
        created = registry.create_model_version(
            {"name": version, "registered_model_id": model.row["id"]},
            {"Owner": PropValue("string", "bob")},
        )
        ids.append(created.row["id"])
    return model.row["id"], ids


def keys(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(conn.execute(select(bridge_records.c.key)).scalars())


def test_the_commit_listener_queues_bridge_changes_only(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several syncs on one database (several apps in one process) each hear every commit, once, after it."""
    seen: dict[str, list[Any]] = {"a": [], "b": []}
    syncs = {name: BridgeSync(db) for name in seen}
    for name, sync in syncs.items():
        monkeypatch.setattr(sync, "notify", lambda changes, seq, name=name: seen[name].append((changes, seq)))
        monkeypatch.setattr(sync, "_run", lambda: None)  # no worker: only the listener is under test
        sync.start(full_sync=False)
    try:
        registry = RegistryService(db)
        _, (version_id,) = add_model(registry, "m")
        with db.read() as conn:  # a read after a write must not replay the write's records
            conn.execute(select(1))
        registry.update(e.MODEL_VERSION, version_id, {"description": "changed"}, None)
    finally:
        for sync in syncs.values():
            sync.stop()
    registry.update(e.MODEL_VERSION, version_id, {"description": "after stop"}, None)
    # a model's creation changes no record (it has no version yet); the sequence numbers are the commits' last
    expected = [([("model_version", version_id)], 2), ([("model_version", version_id)], 3)]
    assert seen == {"a": expected, "b": expected}


def test_full_sync_then_targeted_refresh(db: Database) -> None:
    registry = RegistryService(db)
    model_id, (_, v2) = add_model(registry, "fraud", ("v1", "v2"))
    add_model(registry, "other")
    sync = BridgeSync(db)
    assert sync.full_sync() == 3
    assert keys(db) == ["fraud.v1", "fraud.v2", "other.v1"]
    with db.read() as conn:
        document = store.document(conn, "/fraud/fraud.v1/model-catalog.json")
    assert document is not None and orjson.loads(document[0])["models"][0]["owner"] == "bob"

    registry.update(e.MODEL_VERSION, v2, {"state": "ARCHIVED"}, None)
    assert sync.refresh([("model_version", v2)]) == 1
    assert keys(db) == ["fraud.v1", "other.v1"]

    ArchiveService(registry).delete(e.MODEL_VERSION, v2)  # hard delete: found through the records it left
    registry.update(e.REGISTERED_MODEL, model_id, {"state": "ARCHIVED"}, None)
    sync.refresh([("registered_model", model_id)])
    assert keys(db) == ["other.v1"]
    with db.read() as conn:
        (status,) = store.status(conn)
    assert (status.name, status.versions, status.models) == ("local", 1, 1)
    assert status.last_full_sync is not None and status.last_error is None


def test_a_refresh_that_changes_nothing_writes_nothing(db: Database) -> None:
    registry = RegistryService(db)
    model_id, _ = add_model(registry, "steady")
    sync = BridgeSync(db)
    sync.full_sync()

    def rows() -> list[tuple[Any, ...]]:
        with db.read() as conn:
            return [tuple(r) for r in conn.execute(select(bridge_records))]

    before = rows()
    sync.refresh([("registered_model", model_id)])
    assert rows() == before  # synced_at included: untouched


def test_worker_follows_commits_and_heals_with_a_full_sync(db: Database) -> None:
    registry = RegistryService(db)
    add_model(registry, "before-start")  # committed while no sync ran, as after a crash
    sync = BridgeSync(db, batch_seconds=0)
    sync.start()
    try:
        assert sync.wait_idle(5)
        assert keys(db) == ["before-start.v1"]
        add_model(registry, "after-start")
        assert sync.wait_idle(5)
        assert keys(db) == ["after-start.v1", "before-start.v1"]
    finally:
        sync.stop()


def test_an_error_keeps_the_records_and_is_reported(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = RegistryService(db)
    model_id, _ = add_model(registry, "kept")
    sync = BridgeSync(db, batch_seconds=0)
    sync.full_sync()

    def unreachable(*_args: Any) -> Any:
        raise ConnectionError("registry unreachable")

    monkeypatch.setattr(LocalRegistry, "snapshot", unreachable)
    monkeypatch.setattr("modelreg.bridge.sync._RETRY_SECONDS", 0.01)
    sync.start(full_sync=False)
    try:
        sync.notify([("registered_model", model_id)])
        with pytest.raises(ConnectionError):
            sync.refresh([("registered_model", model_id)])
        assert keys(db) == ["kept.v1"]
        monkeypatch.undo()
        assert sync.wait_idle(5)
    finally:
        sync.stop()
    with db.read() as conn:
        (status,) = store.status(conn)
    assert status.versions == 1 and status.last_error is None  # recovered on retry, error cleared


def test_failure_is_recorded(db: Database) -> None:
    sync = BridgeSync(db)
    sync._record_failure(ConnectionError("down"))
    with db.read() as conn:
        (status,) = store.status(conn)
    assert status.last_error == "ConnectionError: down" and status.last_sync is None
