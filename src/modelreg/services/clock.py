"""Epoch-millisecond timestamps that never repeat within a process.

The Kubeflow clients assert that ``lastUpdateTimeSinceEpoch`` changes on every update and that LAST_UPDATE_TIME
ordering follows the order of updates, so two writes in the same millisecond must still get distinct times.
"""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()
_last = 0


def now_ms(at_least: int = 0) -> int:
    """Current time in ms, strictly greater than any earlier result and than ``at_least``."""
    global _last
    with _lock:
        _last = max(int(time.time() * 1000), _last + 1, at_least)
        return _last
