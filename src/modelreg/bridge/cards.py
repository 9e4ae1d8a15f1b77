"""Model cards from a Kubeflow Model Catalog API: a catalog model's `readme` becomes the card of the versions
registered from it.

A version names its catalog model the way the reference linked them (behaviour doc §2.3): the model artifact's
`modelSourceClass` (catalog source id), `modelSourceGroup` (repository) and `modelSourceName`, or else the
`_registeredFromCatalog*` custom properties the catalog sets on registration. Readmes are cached; a failed fetch
keeps the cached readme, and with none cached the record keeps the card already stored (`store.replace`'s
`keep_cards`), so a catalog outage never removes a card.

The remote poller fetches synchronously before its transaction. The local sync must not wait on HTTP while it
holds the write lock, so it only reads the cache (`cached`) and asks for the missing readmes in the background
(`request`); once they arrive, a callback makes the sync refresh the models concerned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from modelreg.bridge.normalize import RegistrySnapshot, string_property
from modelreg.bridge.records import ModelRecord
from modelreg.outbound import Client, Target
from modelreg.redact import public_text
from modelreg.settings import RemoteCatalogSettings

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
Coords = tuple[str, str]  # (catalog source id, model name — "repository/name" when there is a repository)
API_PATH = "/api/model_catalog/v1alpha1"


def coordinates(artifacts: Sequence[Json], *props: Json | None) -> Coords | None:
    """The catalog model a version was registered from, if it names one."""
    for artifact in artifacts:
        kind = artifact.get("modelSourceKind")
        source, group, name = (artifact.get(k) for k in ("modelSourceClass", "modelSourceGroup", "modelSourceName"))
        if kind not in (None, "", "catalog") or not source or not name:
            continue
        return str(source), f"{group}/{name}" if group and "/" not in str(name) else str(name)
    for layer in props:
        source = string_property(layer, "_registeredFromCatalogSourceId") or string_property(
            layer, "_registeredFromCatalogSourceName"
        )
        name = string_property(layer, "_registeredFromCatalogModelName")
        repo = string_property(layer, "_registeredFromCatalogRepositoryName")
        if source and name:
            return source, f"{repo}/{name}" if repo and "/" not in name else name
    return None


def card_coordinates(snapshot: RegistrySnapshot, records: Sequence[ModelRecord]) -> dict[str, Coords]:
    """Record key → the catalog model its version names."""
    versions = {str(v.get("id")): v for v in snapshot.model_versions}
    models = {str(m.get("id")): m for m in snapshot.registered_models}
    out: dict[str, Coords] = {}
    for record in records:
        version = versions.get(record.model_version_id, {})
        model = models.get(record.registered_model_id, {})
        found = coordinates(
            snapshot.artifacts_by_version.get(record.model_version_id, ()),
            version.get("customProperties"),
            model.get("customProperties"),
        )
        if found:
            out[record.key] = found
    return out


class CatalogCards:
    """Fetches and caches catalog readmes. Thread-safe: the local sync and the remote poller share one."""

    def __init__(
        self, settings: RemoteCatalogSettings, *, background: bool = True, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.background = background  # False (one-shot CLI runs): `request` fetches nothing, stored cards stay
        target = Target(
            base_url=settings.url,
            verify_tls=settings.verify_tls,
            ca_file=settings.ca_file,
            bearer=settings.bearer_token,
            timeout=settings.timeout_seconds,
        )
        self.client = Client(target, transport=transport)
        self._cache: dict[Coords, tuple[float, str | None]] = {}  # coords → (fetched at, readme or None)
        self._failed: set[Coords] = set()
        self._lock = threading.Lock()
        self._queue: set[Coords] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_fetched: Callable[[set[Coords]], None] | None = None
        self.last_error: str | None = None

    def url(self, coords: Coords) -> str:
        """The catalog model's path under the catalog's base URL."""
        source, name = coords
        model = "/".join(quote(part, safe="") for part in name.split("/"))
        return f"{API_PATH}/sources/{quote(source, safe='')}/models/{model}"

    def _fresh(self, coords: Coords, now: float) -> bool:
        entry = self._cache.get(coords)
        return entry is not None and now - entry[0] < self.settings.cache_seconds

    def cached(self, wanted: Collection[Coords]) -> dict[Coords, str]:
        """The cached readmes of `wanted` (stale ones included): no I/O."""
        with self._lock:
            return {c: entry[1] for c in wanted if (entry := self._cache.get(c)) is not None and entry[1]}

    def failed(self, coords: Coords) -> bool:
        """True when the catalog could not be asked and nothing is cached: keep the stored card."""
        with self._lock:
            return coords in self._failed and coords not in self._cache

    def missing(self, wanted: Collection[Coords]) -> set[Coords]:
        now = time.monotonic()
        with self._lock:
            return {c for c in wanted if not self._fresh(c, now)}

    def fetch(self, wanted: Collection[Coords]) -> dict[Coords, str]:
        """Fetch the uncached or stale readmes of `wanted` now, then return every known one."""
        for coords in self.missing(wanted):
            self._fetch_one(coords)
        return self.cached(wanted)

    def _fetch_one(self, coords: Coords) -> bool:
        """Fetch one readme into the cache; True when the cached value changed. Errors keep the cache."""
        try:
            # 404: not in the catalog (any more): no card, and not an error
            body = self.client.json("GET", self.url(coords), accept=(404,))
            value = body.get("readme") if isinstance(body, dict) else None
            readme = value if isinstance(value, str) and value.strip() else None
        except Exception as exc:  # outbound errors (no answer, an error status, bad JSON), a token file: keep the cache
            with self._lock:
                self._failed.add(coords)
            self.last_error = public_text(f"{type(exc).__name__}: {exc}")
            log.warning("bridge: model card of %s/%s not fetched: %s", coords[0], coords[1], self.last_error)
            return False
        with self._lock:
            self._failed.discard(coords)
            previous = self._cache.get(coords)
            self._cache[coords] = (time.monotonic(), readme)
        return previous is None or previous[1] != readme

    # --- background fetching for the local sync ------------------------------------------------------------------

    def request(self, wanted: Collection[Coords]) -> None:
        """Fetch these in the background; `on_fetched` then receives the ones whose readme changed."""
        todo = self.missing(wanted) if self.background else set()
        if not todo:
            return
        with self._lock:
            self._queue |= todo
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="modelreg-bridge-cards", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                todo, self._queue = self._queue, set()
            changed = {c for c in todo if self._fetch_one(c)}
            if changed and self.on_fetched is not None:
                try:
                    self.on_fetched(changed)
                except Exception:
                    log.warning("bridge: model card refresh failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.client.close()
