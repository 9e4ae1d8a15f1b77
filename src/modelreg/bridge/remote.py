"""Remote Kubeflow Model Registry sources: polled over REST, published under their source name.

Each configured registry is read whole (every page of every list: the reference read only the first page) into a
`RegistrySnapshot`, normalized with `source=<name>` so its keys can never collide with local ones, and its records
are replaced in one transaction. Fetching happens before the transaction, so a slow registry never holds the
database's write lock, and any error (an `outbound.OutboundError`: connection, timeout, non-2xx, bad JSON) raises
before anything is written: the previous records stay and the error is recorded in `bridge_sources` for `modelreg
bridge status`.

Several server processes share a database: a lease row per source (`lease_owner`, `lease_until`) makes one of
them poll each source per interval; if that process dies, another takes over when the lease runs out.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import Connection, delete, select, update

from modelreg.auth import context
from modelreg.bridge import pacing, store
from modelreg.bridge._worker import stop_worker
from modelreg.bridge.cards import CatalogCards, card_coordinates
from modelreg.bridge.normalize import Defaults, EndpointResolver, RegistrySnapshot, normalize
from modelreg.db.database import Database
from modelreg.db.repository import upsert
from modelreg.db.tables import bridge_records, bridge_sources
from modelreg.outbound import BadResponse, Client, HttpStatus, Target, shown
from modelreg.redact import public_text, public_url
from modelreg.services import clock
from modelreg.settings import RemoteRegistrySettings

log = logging.getLogger(__name__)

Json = dict[str, Any]
API_PATHS = {"v1alpha3": "/api/model_registry/v1alpha3", "v1": "/api/model_registry/v1"}
RETRY_SECONDS = 15.0  # after a failure, try again this soon (or at the interval, if shorter)
ResolverFactory = Callable[[str], EndpointResolver]
_s = bridge_sources.c
_SOURCE_NAME = re.compile(RemoteRegistrySettings.model_fields["name"].metadata[0].pattern)


class LeaseLost(RuntimeError):
    """Another process took over a source's lease while this one was fetching it: its result is not written."""


class RemoteRegistry:
    """One remote registry; `fetch()` reads it whole over REST. `transport` is for tests."""

    def __init__(self, settings: RemoteRegistrySettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        target = Target(
            base_url=settings.url,
            verify_tls=settings.verify_tls,
            ca_file=settings.ca_file,
            bearer=settings.bearer_token,  # a header only: never in a URL, log or record
            timeout=settings.timeout_seconds,
        )
        self.client = Client(target, transport=transport)
        self._api: str | None = None if settings.api_version == "auto" else API_PATHS[settings.api_version]

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        """A list page; an empty body is an empty list (the reference saw those for empty inference services)."""
        body = self.client.json("GET", f"{self._api}{path}", params=params)
        return {} if body is None else body

    def _detect(self) -> None:
        """auto: the first API path whose registered model list answers (v1alpha3 is what most registries serve)."""
        if self._api is not None:
            return
        last: Exception | None = None
        for path in API_PATHS.values():
            self._api = path
            try:
                self._get("/registered_models", {"pageSize": 1})
                return
            except (HttpStatus, BadResponse) as exc:  # unreachable: the other path would not answer either
                last = exc
        self._api = None
        raise BadResponse(f"no Kubeflow Model Registry API found at {shown(self.settings.url)}: {last}")

    def pages(self, path: str) -> Iterator[Json]:
        """Every item of a list endpoint, following nextPageToken until it is empty (or repeats)."""
        params: dict[str, Any] = {"pageSize": self.settings.page_size}
        seen: set[str] = set()
        while True:
            body = self._get(path, params)
            if not isinstance(body, dict):
                raise BadResponse(f"GET {path}: expected an object, got {type(body).__name__}")
            items = body.get("items") or []
            if not isinstance(items, list):
                raise BadResponse(f"GET {path}: items is not a list")
            yield from (i for i in items if isinstance(i, dict))
            token = body.get("nextPageToken") or ""
            if not token or not items or token in seen:
                return
            seen.add(token)
            params["nextPageToken"] = token

    def fetch(self) -> RegistrySnapshot:
        """The whole registry as REST JSON. Only live models' live versions get their artifacts fetched."""
        self._detect()
        models = list(self.pages("/registered_models"))
        live = {str(m.get("id")) for m in models if m.get("state", "LIVE") != "ARCHIVED"}
        versions = [
            v
            for v in self.pages("/model_versions")
            if str(v.get("registeredModelId")) in live and v.get("state", "LIVE") != "ARCHIVED"
        ]
        artifacts: dict[str, list[Json]] = {}
        for version in versions:
            version_id = str(version.get("id"))
            found = []
            for artifact in self.pages(f"/model_versions/{version_id}/artifacts"):
                if artifact.get("artifactType", "model-artifact") == "model-artifact":
                    artifact["uri"] = public_url(artifact.get("uri")) or None
                    found.append(artifact)
            artifacts[version_id] = found
        services = list(self.pages("/inference_services"))
        for service in services:
            url = (service.get("customProperties") or {}).get("url")
            if isinstance(url, dict) and isinstance(url.get("string_value"), str):
                url["string_value"] = public_url(url["string_value"])
        environments = list(self.pages("/serving_environments"))
        return RegistrySnapshot(
            registered_models=models,
            model_versions=versions,
            artifacts_by_version=artifacts,
            inference_services=services,
            serving_environments=environments,
        )


class RemotePoller:
    """The thread that polls every remote source on its interval (polling at once on start)."""

    def __init__(
        self,
        db: Database,
        sources: Sequence[RemoteRegistry],
        defaults: Defaults | None = None,
        *,
        resolver: ResolverFactory | None = None,
        cards: CatalogCards | None = None,
    ) -> None:
        self.db = db
        self.sources = list(sources)
        self.defaults = defaults or Defaults()
        self.resolver = resolver
        self.cards = cards
        self.owner = uuid.uuid4().hex  # this process's lease identity
        self._due: dict[str, float] = {s.name: 0.0 for s in self.sources}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or not self.sources:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=context.worker("bridge", self._run), name="modelreg-bridge-remote", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        stop_worker(self._stop, self._wake, self._thread, self.sources, timeout)
        self._thread = None

    def poll_soon(self) -> None:
        """Poll every source now (e.g. the cluster view changed), leases permitting."""
        for name in self._due:
            self._due[name] = 0.0
        self._wake.set()

    def _run(self) -> None:
        pacing.background()  # normalizing a whole remote registry must not starve request handlers either
        try:
            prune(self.db, {s.name for s in self.sources})
        except Exception as exc:
            log.warning("bridge: could not drop the records of unconfigured sources: %s", exc)
        while not self._stop.is_set():
            now = time.monotonic()
            for source in self.sources:
                if self._stop.is_set():
                    return
                if self._due[source.name] <= now:
                    self._due[source.name] = now + self.poll(source)
            self._wake.clear()
            self._wake.wait(max(0.05, min(self._due.values()) - time.monotonic()))

    def poll(self, source: RemoteRegistry) -> float:
        """Poll `source` if this process holds (or can take) its lease; returns seconds until the next try."""
        interval = source.settings.interval_seconds
        try:
            wait = self._acquire(source.name, interval)
        except Exception as exc:
            log.warning("bridge: lease of source %s: %s", source.name, exc)
            return min(interval, RETRY_SECONDS)
        if wait > 0:
            return wait
        try:
            count = self.sync(source)
        except Exception as exc:
            message = public_text(f"{type(exc).__name__}: {exc}")  # outbound errors are redacted; others too
            log.warning("bridge: polling source %s failed, keeping its records: %s", source.name, message)
            retry = min(interval, RETRY_SECONDS)
            try:
                with self.db.write() as conn:
                    store.mark_failed(conn, source.name, clock.now_ms(), message)
                    conn.execute(
                        update(bridge_sources)
                        .where(_s.name == source.name, _s.lease_owner == self.owner)
                        .values(lease_until=clock.now_ms() + int(retry * 1000))
                    )
            except Exception:
                log.debug("could not record the failure of source %s", source.name, exc_info=True)
            return retry
        log.debug("bridge: source %s has %d live version(s)", source.name, count)
        return interval

    def _acquire(self, name: str, interval: float) -> float:
        """Take the source's lease for one interval; 0 if taken, else seconds until the holder's lease ends."""
        now = clock.now_ms()
        with self.db.write() as conn:
            values = {"lease_owner": self.owner, "lease_until": now + int(interval * 1000)}
            upsert(conn, bridge_sources, {"name": name}, {})  # replicas racing for a new source queue on its row
            row = conn.execute(select(_s.lease_owner, _s.lease_until).where(_s.name == name).with_for_update()).one()
            if row.lease_owner not in (None, self.owner) and (row.lease_until or 0) > now:
                return (int(row.lease_until) - now) / 1000 + 0.05
            conn.execute(update(bridge_sources).where(_s.name == name).values(**values))
        return 0.0

    def sync(self, source: RemoteRegistry) -> int:
        """Fetch, normalize and replace the source's records; raises (writing nothing) on any error."""
        snapshot = source.fetch()
        resolve = self.resolver(source.name) if self.resolver else None
        records = normalize(
            snapshot, source=source.name, defaults=self.defaults, endpoint_resolver=resolve, pace=pacing.pace
        )
        readmes = {str(m["id"]): m.get("readme") for m in snapshot.registered_models}
        cards: dict[str, str] = {}
        keep: set[str] = set()
        if self.cards is not None:
            wanted = card_coordinates(snapshot, records)
            found = self.cards.fetch(set(wanted.values()))
            for key, coords in wanted.items():
                if coords in found:
                    cards[key] = found[coords]
                elif self.cards.failed(coords):
                    keep.add(key)
        with self.db.write() as conn:
            holder = conn.execute(select(_s.lease_owner).where(_s.name == source.name)).scalar()
            if holder != self.owner:
                raise LeaseLost("another process took over this source's lease")
            now = clock.now_ms()
            store.replace(conn, source.name, None, records, readmes, now, cards=cards, keep_cards=keep)
            store.mark_synced(conn, source.name, now, full=True)
        return len(records)


def prune(db: Database, configured: set[str]) -> None:
    """Drop records and status rows of remote sources no longer configured, so their entities leave Backstage."""
    with db.write() as conn:
        gone = _unconfigured(conn, configured)
        for name in gone:
            conn.execute(delete(bridge_records).where(bridge_records.c.source == name))
            conn.execute(delete(bridge_sources).where(_s.name == name))
        if gone:
            log.info("bridge: dropped the records of unconfigured source(s) %s", ", ".join(sorted(gone)))


def _unconfigured(conn: Connection, configured: set[str]) -> set[str]:
    names = set(conn.execute(select(bridge_records.c.source).distinct()).scalars())
    names |= set(conn.execute(select(_s.name)).scalars())
    # only names a remote source can have: other status rows (e.g. "output:<name>") belong to other parts
    return {n for n in names if _SOURCE_NAME.fullmatch(n) and n != "local" and n not in configured}
