"""Hot reload: a daemon thread polls the sources files and the catalog files they name, and reloads on a change.

Polling rather than inotify, because a Kubernetes ConfigMap mount changes by swapping a ``..data`` symlink in the
folder: the file's own path never sees an event, but its resolved path (and content) changes. Each round stats
every file through its symlinks and hashes it only when the resolved path, inode, size or mtime moved, so an idle
round costs a few ``stat`` calls; a content hash decides whether anything really changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from modelreg.catalog import heap
from modelreg.catalog.loader import CatalogLoader
from modelreg.catalog.parse_pool import ParsePool
from modelreg.catalog.snapshots import CatalogConfig
from modelreg.telemetry import workers

log = logging.getLogger("modelreg.catalog")

_Stamp = tuple[str, int, int, int, int]  # realpath, device, inode, size, mtime_ns


class SourcesWatcher:
    """Loads ``paths`` on ``start()`` (synchronously, so the server starts with data), then every ``interval``
    seconds looks for changes and calls ``on_change`` with the new config from its thread. Errors are logged,
    never fatal: the last good config stays."""

    def __init__(self, paths: Sequence[Path], interval: float, on_change: Callable[[CatalogConfig], None]) -> None:
        self._paths = [Path(p) for p in paths]
        self._interval = interval
        self._on_change = on_change
        self._pool = ParsePool()
        self._loader = CatalogLoader(pool=self._pool)
        self._config: CatalogConfig | None = None
        self._stamps: dict[Path, _Stamp | None] = {}
        self._digests: dict[Path, bytes | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> CatalogConfig | None:
        return self._config

    def start(self) -> None:
        if self._thread is not None:
            return
        self._reload()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modelreg-catalog-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._pool.close()

    def check(self) -> bool:
        """One polling round (the thread's body; tests may call it directly): reload if a file changed."""
        if not self._changed():
            return False
        self._reload()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception as exc:  # a bug must not end hot reload for the life of the process
                log.exception("catalog reload failed; keeping the last good catalog")
                workers.failed("catalog-watch", exc)
            else:
                workers.beat("catalog-watch")

    def _reload(self) -> None:
        with heap.settling():  # no full GC pass over two catalogs while the new one is built (heap.py)
            self._load()

    def _load(self) -> None:
        # Fingerprints are taken before loading, so an edit made while the load runs is seen by the next round.
        known = dict.fromkeys([*self._paths, *self._loader.watched])
        stamps = {p: _stamp(p) for p in known}
        # A file whose stamp is the one ``_changed`` just saw keeps the digest taken then (one hash of a 44 MB file
        # fewer per reload).
        digests = {
            p: self._digests[p]
            if p in self._digests and stamps[p] is not None and stamps[p] == self._stamps.get(p)
            else _digest(p)
            for p in known
        }
        config = self._loader.load(self._paths, self._config)
        for path in self._loader.watched:
            if path not in stamps:
                stamps[path], digests[path] = _stamp(path), _digest(path)
        self._stamps, self._digests = stamps, digests
        self._config = config
        self._on_change(config)

    def _changed(self) -> bool:
        changed = False
        for path, stamp in self._stamps.items():
            now = _stamp(path)
            if now == stamp:
                continue
            self._stamps[path] = now
            digest = _digest(path)
            if digest != self._digests.get(path):
                self._digests[path] = digest
                changed = True
        return changed


def _stamp(path: Path) -> _Stamp | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except OSError:
        return None
