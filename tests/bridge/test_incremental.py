"""The sync's cost follows what changed (issue 14 item 12): a refresh reads the changed version, not its model; it
reads outside the writers' lock and writes only rows that differ; a snapshot that a later commit made stale never
overwrites a newer row; the per-model YAML is rendered when read. And the local registry publishes a version's
governance stage as its lifecycle, `development` for one never promoted (item 13)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import orjson
import pytest
import yaml
from sqlalchemy import insert, select, update

from conftest import empty
from modelreg.bridge import sources, store
from modelreg.bridge.normalize import Defaults
from modelreg.bridge.sync import BridgeSync
from modelreg.db.database import Database
from modelreg.db.tables import bridge_records, model_versions
from modelreg.services import clock, properties
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

from .test_sync import add_model

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly


@pytest.fixture
def private(database: Database) -> Iterator[Database]:
    """The session's database of each backend through an engine of its own: the session server's sync listens to
    its own engine's commits only, so it stays out of these tests (as another server process would). Emptied
    afterwards too: a session server started later would export what these tests left in its first full sync."""
    empty(database)
    own = Database(database.url)
    yield own
    own.dispose()
    empty(database)


def document(db: Database, model: str, key: str) -> dict | None:
    with db.read() as conn:
        found = store.document(conn, f"/{model}/{key}/model-catalog.json")
    return orjson.loads(found[0]) if found else None


def many_versions(db: Database, model_id: int, count: int) -> None:
    now = clock.now_ms()
    rows = [
        {"registered_model_id": model_id, "name": f"bulk-{i:05d}", "state": "LIVE", "create_time": now}
        | {"last_update_time": now}
        for i in range(count)
    ]
    with db.write() as conn:
        conn.execute(insert(model_versions), rows)


def fastest(run: Callable[[], object], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def test_refresh_cost_does_not_grow_with_the_model(db: Database) -> None:
    """Before: every change re-read, normalized and rendered its whole model (a new version of a model with 2,000
    versions cost 2,000 versions' work). Now it costs the changed version's."""
    registry = RegistryService(db)
    big, _ = add_model(registry, "big")
    small, _ = add_model(registry, "small")
    many_versions(db, big, 2000)
    sync = BridgeSync(db)
    assert sync.full_sync() == 2002
    (new_big,) = add_model_version(registry, big, "new")
    (new_small,) = add_model_version(registry, small, "new")

    big_s = fastest(lambda: sync.refresh([("model_version", new_big)]))
    small_s = fastest(lambda: sync.refresh([("model_version", new_small)]))
    assert document(db, "big", "big.new") is not None and document(db, "small", "small.new") is not None
    seen = f"a version of a 2,000-version model: {big_s:.4f} s, of a 1-version model: {small_s:.4f} s"
    assert big_s < 4 * small_s + 0.005, seen


def add_model_version(registry: RegistryService, model_id: int, name: str) -> tuple[int]:
    created = registry.create_model_version({"name": name, "registered_model_id": model_id}, {})
    return (created.row["id"],)


def test_a_refresh_that_changes_nothing_does_not_wait_for_writers(db: Database) -> None:
    """Before: every refresh took the writers' lock first, so the bridge queued behind (and held up) registry
    writes even when nothing changed. Now it reads in a read transaction and writes only rows that differ."""
    registry = RegistryService(db)
    model_id, _ = add_model(registry, "steady")
    sync = BridgeSync(db)
    sync.full_sync()
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.write():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(5)
        done = threading.Event()
        refresher = threading.Thread(target=lambda: (sync.refresh([("registered_model", model_id)]), done.set()))
        refresher.start()
        assert done.wait(3), "the refresh waited for the writer"
    finally:
        release.set()
        thread.join(10)
        refresher.join(10)


def test_a_stale_snapshot_never_overwrites_a_newer_row(private: Database) -> None:
    """Two server processes (two syncs) on one database: one reads a version, a commit changes it, the other
    publishes the change; the first one's write must then leave that row alone (and queue it again), while its
    rows that nothing changed since are written."""
    registry = RegistryService(private)
    _, (raced,) = add_model(registry, "raced")
    _, (calm,) = add_model(registry, "calm")
    slow, fast = BridgeSync(private), BridgeSync(private)
    slow.full_sync()
    registry.update(e.MODEL_VERSION, raced, {"description": "older"}, None)
    registry.update(e.MODEL_VERSION, calm, {"description": "calm"}, None)

    plan = slow._plan(0, changes=[("model_version", raced), ("model_version", calm)])  # reads "older"
    registry.update(e.MODEL_VERSION, raced, {"description": "newer"}, None)
    fast.refresh([("model_version", raced)])  # the other process publishes "newer"
    slow._write(plan, full=False)

    assert document(private, "raced", "raced.v1")["models"][0]["description"] == "newer"  # type: ignore[index]
    assert document(private, "calm", "calm.v1")["models"][0]["description"] == "calm"  # type: ignore[index]
    assert ("model_version", raced) in slow._pending  # refreshed again by the next batch
    slow.refresh(list(slow._pending))
    assert document(private, "raced", "raced.v1")["models"][0]["description"] == "newer"  # type: ignore[index]


def test_yaml_is_rendered_from_the_stored_records_when_read(db: Database) -> None:
    registry = RegistryService(db)
    model_id, (v1, v2) = add_model(registry, "fraud", ("v1", "v2"))
    sync = BridgeSync(db)
    sync.full_sync()

    def entities() -> list[tuple[str, str, str | None]] | None:
        with db.read() as conn:
            found = store.document(conn, "/fraud/catalog-info.yaml")
            listed = store.uris(conn, "yaml")
        if found is None:
            assert listed == []
            return None
        assert listed == ["/fraud/catalog-info.yaml"] and found[1] == "application/yaml"
        documents = yaml.safe_load_all(found[0])
        return [(d["kind"], d["metadata"]["name"], d["metadata"].get("description")) for d in documents]

    component = ("Component", "fraud", None)
    assert entities() == [component, ("Resource", "fraud.v1", None), ("Resource", "fraud.v2", None)]
    registry.update(e.MODEL_VERSION, v2, {"description": "second"}, None)
    sync.refresh([("model_version", v2)])
    assert entities() == [component, ("Resource", "fraud.v1", None), ("Resource", "fraud.v2", "second")]
    registry.update(e.MODEL_VERSION, v1, {"state": "ARCHIVED"}, None)
    sync.refresh([("model_version", v1)])
    assert entities() == [component, ("Resource", "fraud.v2", "second")]
    registry.update(e.REGISTERED_MODEL, model_id, {"state": "ARCHIVED"}, None)
    sync.refresh([("registered_model", model_id)])
    assert entities() is None
    with db.read() as conn:
        assert list(store.all_documents(conn, "yaml")) == []


def test_a_never_promoted_version_is_published_in_development(private: Database) -> None:
    """A version governance never moved carries no `Lifecycle` property (item 13), but it is in the first stage:
    the bridge publishes `development`, not the configured DEFAULT_LIFECYCLE; a promoted one its stage."""
    registry = RegistryService(private)
    _, (fresh, promoted) = add_model(registry, "staged", ("fresh", "promoted"))
    with private.write() as conn:
        conn.execute(update(model_versions).where(model_versions.c.id == promoted).values(stage="staging"))
    BridgeSync(private, Defaults.create(lifecycle="experimental")).full_sync()

    for key, stage in (("staged.fresh", "development"), ("staged.promoted", "staging")):
        published = document(private, "staged", key)
        assert published is not None, key
        assert published["models"][0]["lifecycle"] == stage, key
    with private.read() as conn:
        card = conn.execute(select(bridge_records.c.model_card).where(bridge_records.c.key == "staged.fresh")).scalar()
    assert "| Lifecycle | development |" in card
    assert fresh


def test_the_sync_reads_properties_as_the_registry_does(private: Database) -> None:
    """The sync reads custom properties on the driver's cursor (bridge/driver.py) for speed: it must decode every
    value type exactly as `services.properties` does, on every backend."""
    registry = RegistryService(private)
    values = {
        "text": PropValue("string", "a"),
        "count": PropValue("int", 7),
        "ratio": PropValue("double", 0.5),
        "flag": PropValue("bool", True),
        "off": PropValue("bool", False),
        "blob": PropValue("struct", '{"k": 1}'),
    }
    created = registry.create_model_version(
        {"name": "v1", "registered_model_id": registry.create(e.REGISTERED_MODEL, {"name": "typed"}, {}).row["id"]},
        values,
    )
    version_id = created.row["id"]
    with private.read() as conn:
        expected = properties.load(conn, e.MODEL_VERSION.name, [version_id])
        assert sources._properties(conn, e.MODEL_VERSION.name, [version_id]) == expected
    assert {k: v for k, v in expected[version_id].items() if k in values} == values
