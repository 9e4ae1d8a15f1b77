"""Health of the background workers (the bridge's sync and outputs, the catalog watcher, the deployment status
watcher, the upload sweep), as they report it: ``beat(name)`` after a round that worked, ``failed(name, reason)``
after one that did not. A worker that never reported is not running in this process and has no series.

Kept per process whatever ``metrics.enabled`` says (a few updates a minute); ``/metrics`` shows them. With several
server processes (``serve --workers N``) each runs its own workers: ``healthy`` is the lowest of the live processes
(0 when any one is failing), the last success the latest, the failures the sum.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

_HEALTHY = Gauge(
    "modelreg_worker_healthy",
    "1 when the worker's last round succeeded, 0 when it failed",
    ["worker"],
    registry=REGISTRY,
    multiprocess_mode="livemin",
)
_LAST_SUCCESS = Gauge(
    "modelreg_worker_last_success_timestamp_seconds",
    "Unix time of the worker's last successful round (event-driven workers run only when there is work)",
    ["worker"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
_FAILURES = Counter(
    "modelreg_worker_failures",
    "Failed rounds of the worker, by reason (an exception class or a fixed word)",
    ["worker", "reason"],
    registry=REGISTRY,
)


def beat(name: str) -> None:
    """``name`` finished a round successfully."""
    _HEALTHY.labels(name).set(1)
    _LAST_SUCCESS.labels(name).set(time.time())


def failed(name: str, reason: BaseException | str) -> None:
    """``name``'s round failed; ``reason`` is the exception (its class names it) or a fixed word, never free text:
    it is a label value, so the set of them must stay small."""
    label = type(reason).__name__ if isinstance(reason, BaseException) else reason
    _HEALTHY.labels(name).set(0)
    _FAILURES.labels(name, label[:64]).inc()
