"""What ``/metrics`` reads from the database at scrape time: the connection pool of this process, and how many
registered models, model versions and deployments there are.

The counts are one ``GROUP BY`` query each, kept for ``ttl`` seconds so that frequent scrapes (several Prometheus
replicas) do not load the database; a write committed by this process makes the next scrape count again. Writes of
other processes show within ``ttl``. A count that fails (the database is down) leaves the counts out of that
scrape: ``/readyz`` says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from modelreg.db.audit_channel import AuditEntry
from modelreg.db.database import Database
from modelreg.db.tables import deployments, model_versions, registered_models
from modelreg.stages import INITIAL_STAGE, STAGES

log = logging.getLogger(__name__)

_STATES = ("LIVE", "ARCHIVED")


class DatabaseCollector(Collector):
    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._lock = threading.Lock()
        self._counted: list[Metric] = []
        self._until = 0.0  # monotonic time until which ``_counted`` is current
        self._subscribed = False

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check at registration (and no query then)

    def collect(self) -> Iterator[Metric]:
        yield from self._pool()
        yield from self._counts()

    def _changed(self, _committed: Sequence[AuditEntry]) -> None:
        self._until = 0.0

    def _pool(self) -> Iterator[Metric]:
        pool: Any = self.db.engine.pool
        if not hasattr(pool, "checkedout"):
            return  # an in-memory SQLite database: one shared connection, no pool to speak of
        for name, help_text, value in (
            ("size", "Connections the pool keeps open (database.pool_size)", pool.size()),
            ("max_overflow", "Connections it may open beyond it (database.max_overflow)", self.db.limits.max_overflow),
            ("checked_out", "Connections in use by a request or worker now", pool.checkedout()),
            ("idle", "Open connections waiting in the pool", pool.checkedin()),
            ("overflow", "Connections open beyond the pool's size now", max(0, pool.overflow())),
        ):
            yield GaugeMetricFamily(f"modelreg_db_pool_{name}", f"{help_text}, in the process that answered", value)

    def _counts(self) -> list[Metric]:
        with self._lock:
            if time.monotonic() >= self._until:
                if not self._subscribed:  # at the first scrape: apps that are never scraped add no listener
                    self.db.on_commit(self._changed)
                    self._subscribed = True
                until = time.monotonic() + self.ttl
                try:
                    with self.db.read() as conn:
                        self._counted = _count(conn)
                    self._until = until
                except Exception as exc:  # the database is down: /readyz reports it; no counts this time
                    log.warning("metrics: counting the registry failed: %s", type(exc).__name__)
                    return []
            return self._counted


def _count(conn: Connection) -> list[Metric]:
    models = GaugeMetricFamily("modelreg_registered_models", "Registered models, by state", labels=["state"])
    found = {state: 0 for state in _STATES}
    rm = registered_models.c
    for state, n in conn.execute(select(rm.state, func.count()).group_by(rm.state)):
        found[state] = n
    for state, n in found.items():
        models.add_metric([state], n)

    versions = GaugeMetricFamily(
        "modelreg_model_versions", "Model versions, by state and lifecycle stage", labels=["state", "stage"]
    )
    by_stage = {(state, stage): 0 for state in _STATES for stage in STAGES}
    mv = model_versions.c
    for state, stage, n in conn.execute(select(mv.state, mv.stage, func.count()).group_by(mv.state, mv.stage)):
        key = (state, stage or INITIAL_STAGE)
        by_stage[key] = by_stage.get(key, 0) + n
    for (state, stage), n in by_stage.items():
        versions.add_metric([state, stage], n)

    deployed = GaugeMetricFamily(
        "modelreg_deployments",
        "Deployments, by desired state (deployed, stopped, undeployed) and status (Loaded, FailedToLoad, ...)",
        labels=["desired_state", "status"],
    )
    d = deployments.c
    for desired, status, n in conn.execute(
        select(d.desired_state, d.status, func.count()).group_by(d.desired_state, d.status)
    ):
        deployed.add_metric([desired, status], n)
    return [models, versions, deployed]
