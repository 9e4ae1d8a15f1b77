"""Keeping Python's cyclic garbage collector from pausing the server over the catalog's objects.

A 10,000-model catalog is a few hundred thousand GC-tracked objects (models, artifacts, the parse cache's raw
items, index entries). Each full collection walks every one of them while holding the GIL: 150 to 370 ms with two
catalogs in memory during a reload, a pause every request thread waits out. The catalog's objects never form
cycles (they are freed by reference counting), so walking them finds nothing.

``settling()`` wraps a reload in the watcher's thread: every ``EVERY`` models (``tick``), and at both ends, it
collects the garbage among the objects made since the last freeze, then freezes the survivors (``gc.freeze``): full
collections skip frozen objects, so each walk covers only what was made since, a few milliseconds' worth. Frozen
objects are still freed by reference counting when the index that holds them is replaced; only a reference cycle
still alive at a freeze and dropped later stays in memory (the collector no longer looks at it), which a reload,
made when a file changes, makes rare.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EVERY = 1000  # models between two settles: each one walks the objects of about this many models

_lock = threading.Lock()
_local = threading.local()


def settle() -> None:
    """Collect the garbage made since the last freeze (the walk skips frozen objects), then freeze what lives."""
    with _lock:
        gc.collect()
        gc.freeze()


@contextmanager
def settling() -> Iterator[None]:
    """The calling thread's ``tick`` calls settle every ``EVERY`` models until the block ends (and settles once at
    each end)."""
    settle()
    _local.count = 0
    try:
        yield
    finally:
        _local.count = None
        settle()


def tick(models: int = 1) -> None:
    """``models`` more models were made; a no-op outside ``settling()``."""
    count = getattr(_local, "count", None)
    if count is None:
        return
    count += models
    if count >= EVERY:
        settle()
        count = 0
    _local.count = count
