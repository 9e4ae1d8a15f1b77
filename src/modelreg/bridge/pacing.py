"""Cooperative pacing for the bridge's background threads: they hand the GIL back to request handlers often.

A thread that computes in Python keeps the GIL until the interpreter forces a switch, every
`sys.getswitchinterval()` (5 ms). Meanwhile each request handler that released the GIL for I/O (every socket
read and SQLite call does) waits up to that long to get it back, so a sync using a tenth of the CPU cost the server
a fifth of its throughput (bench/bridge_write_tax.py). `pace()` sleeps a moment once the calling thread has
computed for `SLICE` seconds: handlers then wait at most about that long, and the sync simply takes a little longer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SLICE = 0.002  # seconds of work between two pauses
PAUSE = 0.0001  # a real sleep: `time.sleep(0)` lets the same thread take the GIL straight back

_last = threading.local()


def background() -> None:
    """Make the calling thread a paced one (the sync's worker): elsewhere (a CLI export, a test) `pace` does
    nothing, since nobody waits for the GIL there."""
    _last.active = True
    _last.time = time.perf_counter()


def pace() -> None:
    """Call often (per item) in loops that may run in a background thread; costs a clock read, and in a paced
    thread a short sleep every `SLICE`."""
    if not getattr(_last, "active", False):
        return
    now = time.perf_counter()
    if now - _last.time >= SLICE and not getattr(_last, "held", False):
        time.sleep(PAUSE)
        _last.time = time.perf_counter()


@contextmanager
def holding_writers() -> Iterator[None]:
    """No pauses while this thread holds the writers' lock: a pause would hold up every registry write."""
    _last.held = True
    try:
        yield
    finally:
        _last.held = False
