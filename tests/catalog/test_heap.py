"""A reload freezes the new catalog's objects for the garbage collector (catalog/heap.py): the catalog it replaces
must still be freed, by reference counting alone."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from sources_builders import model, source, write_catalog, write_sources

from modelreg.catalog import heap
from modelreg.catalog.index import CatalogIndex
from modelreg.catalog.snapshots import CatalogConfig
from modelreg.catalog.watcher import SourcesWatcher


@pytest.fixture(autouse=True, scope="module")
def _unfreeze() -> Iterator[None]:
    """A reload freezes the objects it made (catalog/heap.py); the collector sees the tests' objects again after
    the module. Not after each test: the first collection after an unfreeze walks every object of the test process
    (seconds in a worker that has run a thousand tests), and every test here reloads."""
    yield
    gc.unfreeze()


class Holder:
    """What the service does on a reload: build the index and drop the previous one."""

    def __init__(self) -> None:
        self.index: CatalogIndex | None = None

    def __call__(self, config: CatalogConfig) -> None:
        self.index = CatalogIndex.build(config.sources, previous=self.index)
        self.index.filter_options()  # every lazily prepared part, as a page view makes them


def test_the_replaced_catalog_is_freed_after_a_reload(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", [model(f"m{i}", tasks=["chat"]) for i in range(50)])
    sources = write_sources(tmp_path / "sources.yaml", [source("files", catalog.name)])
    holder = Holder()
    watcher = SourcesWatcher([sources], 60, holder)
    watcher.start()
    try:
        first = holder.index
        assert first is not None
        gone = weakref.ref(first)
        parts = [weakref.ref(p) for p in first.prepared]
        del first
        write_catalog(catalog, [model(f"n{i}") for i in range(50)])
        gc.disable()  # only reference counting may free the old catalog from here on
        try:
            assert watcher.check()
            assert gone() is None
            assert all(part() is None for part in parts)
        finally:
            gc.enable()
        assert holder.index is not None
        assert [m.name for m in holder.index.prepared[0].snapshot.models][:2] == ["n0", "n1"]
    finally:
        watcher.stop()


def test_settling_collects_garbage_made_before_the_freeze() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a reference cycle: only the collector frees it

    cycle = Node()
    freed = weakref.ref(cycle)
    del cycle
    with heap.settling():
        pass
    assert freed() is None
