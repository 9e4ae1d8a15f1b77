"""Hot reload: the watcher thread sees edits, renames and ConfigMap-style symlink swaps within a few seconds."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sources_builders import model, source, write_catalog, write_sources

from modelreg.catalog.models import SourceStatus
from modelreg.catalog.snapshots import CatalogConfig
from modelreg.catalog.watcher import SourcesWatcher

DEADLINE = 3.0


@pytest.fixture(autouse=True, scope="module")
def _unfreeze() -> Iterator[None]:
    """A reload freezes the objects it made (catalog/heap.py); the collector sees the tests' objects again after
    the module. Not after each test: the first collection after an unfreeze walks every object of the test process
    (seconds in a worker that has run a thousand tests), and every test here reloads."""
    yield
    gc.unfreeze()


class Recorder:
    def __init__(self) -> None:
        self.configs: list[CatalogConfig] = []
        self.changed = threading.Event()

    def __call__(self, config: CatalogConfig) -> None:
        self.configs.append(config)
        self.changed.set()

    def names(self, source_id: str) -> list[str]:
        snapshot = next(s for s in self.configs[-1].sources if s.source.id == source_id)
        return [m.name for m in snapshot.models]

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not predicate():
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the watcher did not reload in time"
            self.changed.wait(remaining)
            self.changed.clear()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def watch(recorder: Recorder) -> Iterator[Callable[[list[Path]], SourcesWatcher]]:
    started: list[SourcesWatcher] = []

    def start(paths: list[Path]) -> SourcesWatcher:
        watcher = SourcesWatcher(paths, 0.05, recorder)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def test_first_load_is_synchronous(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    write_catalog(tmp_path / "c.yaml", [model("a")])
    watcher = watch([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])])
    assert len(recorder.configs) == 1 and recorder.names("s") == ["a"] and watcher.config is recorder.configs[0]


def test_an_edit_of_the_catalog_file_is_seen(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a")])
    watch([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])])
    write_catalog(catalog, [model("a"), model("b")])
    recorder.wait_for(lambda: recorder.names("s") == ["a", "b"])


def test_an_edit_of_the_sources_file_is_seen(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    write_catalog(tmp_path / "c.yaml", [model("a")])
    write_catalog(tmp_path / "d.yaml", [model("d")])
    sources = write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])
    watch([sources])
    write_sources(sources, [source("s", "c.yaml"), source("t", "d.yaml")])
    recorder.wait_for(lambda: len(recorder.configs[-1].sources) == 2)
    assert recorder.names("t") == ["d"]


def test_a_file_replaced_by_rename_is_seen(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a")])
    watch([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])])
    os.replace(write_catalog(tmp_path / "c.yaml.tmp", [model("renamed")]), catalog)
    recorder.wait_for(lambda: recorder.names("s") == ["renamed"])


def test_a_configmap_symlink_swap_is_seen(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    # The kubelet's layout: <mount>/sources.yaml -> ..data/sources.yaml, ..data -> ..<timestamp> (swapped).
    mount = tmp_path / "mount"
    mount.mkdir()
    for version, name in (("..v1", "first"), ("..v2", "second")):
        (mount / version).mkdir()
        write_catalog(mount / version / "c.yaml", [model(name)])
        write_sources(mount / version / "sources.yaml", [source("s", "c.yaml")])
    (mount / "..data").symlink_to("..v1")
    for name in ("sources.yaml", "c.yaml"):
        (mount / name).symlink_to(f"..data/{name}")
    watch([mount / "sources.yaml"])
    assert recorder.names("s") == ["first"]
    (mount / "..data_tmp").symlink_to("..v2")
    os.replace(mount / "..data_tmp", mount / "..data")
    recorder.wait_for(lambda: recorder.names("s") == ["second"])


def test_a_broken_edit_keeps_the_last_good_models(
    tmp_path: Path, recorder: Recorder, watch: Callable[[list[Path]], SourcesWatcher]
) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a")])
    watch([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])])
    catalog.write_text("models:\n  - name: [broken\n")

    def shows_error() -> bool:
        return recorder.configs[-1].sources[0].source.status is SourceStatus.ERROR

    recorder.wait_for(shows_error)
    assert recorder.names("s") == ["a"] and "failed to read yamlCatalogPath file" in (
        recorder.configs[-1].sources[0].source.error or ""
    )
    write_catalog(catalog, [model("fixed")])
    recorder.wait_for(lambda: recorder.names("s") == ["fixed"])
    assert recorder.configs[-1].sources[0].source.status is SourceStatus.AVAILABLE


def test_no_reload_without_a_change(tmp_path: Path, recorder: Recorder) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a")])
    watcher = SourcesWatcher([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])], 60, recorder)
    watcher.start()
    try:
        assert watcher.check() is False
        os.utime(catalog, ns=(1, 1))  # touched, same content: hashed, but no reload
        assert watcher.check() is False
        write_catalog(catalog, [model("b")])
        assert watcher.check() is True and recorder.names("s") == ["b"]
    finally:
        watcher.stop()


def test_an_error_in_the_callback_does_not_stop_the_thread(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a")])
    seen: list[CatalogConfig] = []
    reloaded = threading.Event()

    def flaky(config: CatalogConfig) -> None:
        seen.append(config)
        if len(seen) == 2:
            raise RuntimeError("index build failed")
        if len(seen) == 3:
            reloaded.set()

    watcher = SourcesWatcher([write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml")])], 0.05, flaky)
    watcher.start()
    try:
        write_catalog(catalog, [model("b")])
        deadline = time.monotonic() + DEADLINE
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        write_catalog(catalog, [model("c")])
        assert reloaded.wait(DEADLINE)
    finally:
        watcher.stop()
    assert "catalog reload failed" in caplog.text
