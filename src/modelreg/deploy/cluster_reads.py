"""Cluster reads for the deploy wizard: lists cached for a few seconds (the wizard lists profiles, runtimes and
connections on every page, the cluster changes them rarely); errors as `cluster_errors.cluster_call` maps them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from modelreg.deploy.cluster_errors import cluster_call
from modelreg.kube import errors as kube_errors
from modelreg.kube.client import Json, Kube, Labels
from modelreg.kube.kinds import Kind

T = TypeVar("T")


class ClusterReads:
    """One `Kube`'s lists, each kept for ``ttl`` seconds (0: not cached). Thread-safe; a failed read is not kept."""

    def __init__(self, kube: Kube, ttl: float = 5.0) -> None:
        self.kube = kube
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def _cached(self, key: tuple[Any, ...], load: Callable[[], T], fresh: bool) -> T:
        now = time.monotonic()
        if not fresh and self.ttl > 0:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                value: T = hit[1]
                return value
        loaded = load()
        if self.ttl > 0:
            with self._lock:
                self._cache[key] = (now, loaded)
        return loaded

    def list(
        self, kind: Kind, namespace: str | None, labels: Labels | None = None, *, fresh: bool = False
    ) -> list[Json]:
        """The objects, [] when the cluster does not serve the kind (its CRD is not installed)."""

        def load() -> list[Json]:
            with cluster_call(self.kube, "list", f"{kind.kind} objects"):
                try:
                    items, _ = self.kube.list(kind, namespace, labels)
                except kube_errors.MissingKind:
                    return []
            return items

        key = ("list", kind, namespace, tuple(sorted((labels or {}).items())))
        return self._cached(key, load, fresh)

    def served(self, kind: Kind) -> bool:
        def load() -> bool:
            with cluster_call(self.kube, "discover", kind.kind):
                return self.kube.served(kind)

        return self._cached(("served", kind), load, False)

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
