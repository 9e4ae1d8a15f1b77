"""prometheus_client's multiprocess mode, for ``modelreg serve --workers N``.

Each worker process writes its metric values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``, and whichever
process answers a scrape reads and sums all of them. ``serve`` gives every run a fresh private directory
(``directory()``), set before the workers start and removed at exit: files left by an earlier run would be counted
again. A worker that exits normally drops its live gauges (``atexit``); one that was killed is found dead at the
next scrape (``sweep_dead``). Counters of exited workers stay, so totals never go backwards.

Custom collectors are not shared between processes: the database pool and the counts are computed by the process
that answers the scrape (``metrics.Telemetry``).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import values
from prometheus_client.multiprocess import mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


@contextmanager
def directory() -> Iterator[Path]:
    """A fresh private directory as ``PROMETHEUS_MULTIPROC_DIR`` while the block runs (the worker processes it
    starts inherit it); removed afterwards."""
    previous = os.environ.get(ENV)
    path = Path(tempfile.mkdtemp(prefix="modelreg-metrics-"))  # mode 0700
    os.environ[ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def active_dir() -> str | None:
    """The directory when this process records into files (prometheus_client decides once, at import, from
    ``PROMETHEUS_MULTIPROC_DIR``), else None."""
    path = os.environ.get(ENV)
    if not path or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return path


def register_exit(path: str) -> None:
    """Drop this process's live gauges when it exits, so the other workers' figures stand alone."""
    atexit.register(mark_process_dead, os.getpid(), path)


def sweep_dead(path: str) -> None:
    """Drop the live gauges of worker processes that died without exiting normally (killed, crashed)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for pid in {int(m.group(1)) for m in map(_LIVE_FILE.fullmatch, names) if m}:
        if not _alive(pid):
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
