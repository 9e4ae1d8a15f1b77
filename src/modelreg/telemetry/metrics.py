"""The server's Prometheus metrics (names, labels and meaning: ``docs/telemetry.md``).

``HttpMetrics`` is what the request path records: one histogram per route template, method and status (its
``_count`` is the request count: a separate counter would cost a second locked increment per request) and a counter
of error responses. The label children are looked up once and kept: a get-by-id pays one ``observe``.
``Telemetry`` is one app's view: its HTTP metrics, the background workers' health (``workers.py``), the database
pool and the registry's counts (``db_metrics.py``), rendered in the Prometheus text format by ``exposition()`` —
from this process, or from every worker's files in multiprocess mode (``multiprocess.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from modelreg.db.database import Database
from modelreg.telemetry import multiprocess, workers
from modelreg.telemetry.db_metrics import DatabaseCollector

# no ``_created`` series beside each counter: twice the output, for a start time nobody reads
disable_created_metrics()  # type: ignore[no-untyped-call]
# A get-by-id takes a third of a millisecond: the low buckets are where most requests land.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_Children = tuple[Callable[[float], None], Callable[[], None] | None]


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "modelreg_http_request_duration_seconds",
            "HTTP requests answered, and the time from each one's arrival to the end of its response, by route "
            "template, method and status code",
            ["route", "method", "status"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "modelreg_http_errors",
            "HTTP requests answered with an error status (4xx, 5xx), by route template, method and status code",
            ["route", "method", "status"],
            registry=registry,
        )
        # Bounded: route templates are a fixed set, methods are mapped onto _METHODS, statuses onto 100..599.
        self._children: dict[tuple[str, str, int], _Children] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in _METHODS else "other", status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._make(*key)
        observe, error = children
        observe(seconds)
        if error is not None:
            error()

    def _make(self, route: str, method: str, status: int) -> _Children:
        code = str(status)
        error = self.errors.labels(route, method, code).inc if status >= 400 else None
        return self.duration.labels(route, method, code).observe, error


class Telemetry:
    """One app's metrics. ``http`` is None when ``metrics.enabled`` is off: nothing is recorded per request."""

    def __init__(self, db: Database, enabled: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http = HttpMetrics(self.registry) if enabled else None
        self.database = DatabaseCollector(db)
        self.multiprocess_dir = multiprocess.active_dir()
        if self.multiprocess_dir is not None:
            multiprocess.register_exit(self.multiprocess_dir)
        else:
            self.registry.register(self.database)

    def exposition(self) -> bytes:
        """Every metric, in the Prometheus text format (the process's own CPU, memory and GC figures too when
        there is one process)."""
        if self.multiprocess_dir is None:
            return b"".join(generate_latest(r) for r in (self.registry, workers.REGISTRY, REGISTRY))
        multiprocess.sweep_dead(self.multiprocess_dir)
        scrape = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(scrape, self.multiprocess_dir)  # type: ignore[no-untyped-call]
        scrape.register(self.database)
        return generate_latest(scrape)
