"""CPU used by some of this process's threads: idleness tests measure the threads under test, not the process (an
xdist worker also runs emulators and what earlier tests left behind, which a loaded machine makes look busy)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def threads_cpu_share(wanted: Callable[[str], bool], seconds: float) -> float:
    """The share of one core the threads whose name ``wanted`` accepts use over ``seconds`` of waiting."""
    clocks = [
        time.pthread_getcpuclockid(t.ident) for t in threading.enumerate() if wanted(t.name) and t.ident is not None
    ]
    assert clocks, "no thread to measure"

    def used() -> float:
        return sum(time.clock_gettime(c) for c in clocks)

    cpu, wall = used(), time.monotonic()
    time.sleep(seconds)  # the measurement itself: nothing is expected to happen
    return (used() - cpu) / (time.monotonic() - wall)
