"""Event-driven sync: a change committed through modelreg refreshes the bridge records of its model at once.

Every registry write stages audit records on its connection (`services/audit.py::stage`). A listener on the
engine's `commit` event takes the (kind, id) pairs of the bridge-relevant ones and hands them to a single worker
thread: no query and no lock on the write path, a few dict look-ups per commit. The worker looks the affected
registered models up, renormalizes them and replaces their rows in one write transaction. Taking the write lock
first (SQLite's `BEGIN IMMEDIATE`, the audit head row on server databases) is also the barrier that makes the
triggering commit visible, since the hook fires just before the driver commits. Any error rolls the refresh
back, so a transient failure never deletes records; the worker retries, and a full resync at start heals a crash
between a commit and its refresh.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable

from sqlalchemy import Connection, Engine, event, select

from modelreg.bridge import store
from modelreg.bridge.cards import CatalogCards, Coords, card_coordinates
from modelreg.bridge.normalize import Defaults, EndpointResolver, RegistrySnapshot, normalize
from modelreg.bridge.records import ModelRecord
from modelreg.bridge.sources import BRIDGE_KINDS, LocalRegistry
from modelreg.services import clock
from modelreg.storage.db import Database
from modelreg.storage.tables import audit_head

log = logging.getLogger(__name__)

Change = tuple[str, int]  # (audit entity kind, id)
Listener = Callable[[list[Change]], None]
LOCAL_SOURCE = "local"  # the status row of this registry
_RETRY_SECONDS = 0.5


class ChangeFeed:
    """One `commit` listener per engine, fanning out to every subscribed sync (tests build several apps on one
    database; each would otherwise race the others for the staged records)."""

    _feeds: weakref.WeakKeyDictionary[Engine, ChangeFeed] = weakref.WeakKeyDictionary()
    _feeds_lock = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        self.listeners: list[Listener] = []
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)

    @classmethod
    def of(cls, engine: Engine) -> ChangeFeed:
        with cls._feeds_lock:
            feed = cls._feeds.get(engine)
            if feed is None:
                feed = cls._feeds[engine] = cls(engine)
            return feed

    def _on_commit(self, conn: Connection) -> None:
        staged = conn.info.pop("audit", None)  # reads reuse SQLite connections: never see a write's list twice
        if not staged or not self.listeners:
            return
        changes = [
            (entry["entity_kind"], entry["entity_id"])
            for entry in staged
            if entry["entity_kind"] in BRIDGE_KINDS and entry["entity_id"] is not None
        ]
        if changes:
            for listener in list(self.listeners):
                listener(changes)

    @staticmethod
    def _on_rollback(conn: Connection) -> None:
        conn.info.pop("audit", None)


class BridgeSync:
    """Keeps the bridge tables in step with the local registry; `start()` runs the worker thread."""

    def __init__(
        self,
        db: Database,
        defaults: Defaults | None = None,
        batch_seconds: float = 0.02,
        *,
        resolver: Callable[[str], EndpointResolver] | None = None,
        cards: CatalogCards | None = None,
    ) -> None:
        self.db = db
        self.defaults = defaults or Defaults()
        self.batch_seconds = batch_seconds
        self.source = LocalRegistry()
        self.resolver = resolver  # KServe status (bridge/kserve.py), else the registry's `url` property
        self.cards = cards  # catalog model cards (bridge/cards.py): cache reads here, fetches in the background
        self._card_models: dict[Coords, set[str]] = {}
        if cards is not None:
            cards.on_fetched = self._cards_fetched
        self._pending: set[Change] = set()
        self._full_pending = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False  # the last attempt failed: the next success clears the recorded error
        self.on_change: list[Callable[[], None]] = []  # called by the worker after a sync that changed rows

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, *, full_sync: bool = True) -> None:
        """Subscribe to commits and start the worker; the first thing it does is a full resync."""
        if self._thread is not None:
            return
        ChangeFeed.of(self.db.engine).listeners.append(self.notify)
        self._full_pending = full_sync
        self._thread = threading.Thread(target=self._run, name="modelreg-bridge-sync", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        feed = ChangeFeed.of(self.db.engine)
        if self.notify in feed.listeners:
            feed.listeners.remove(self.notify)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self, changes: Iterable[Change]) -> None:
        with self._lock:
            self._pending.update(changes)
            self._idle.clear()
        self._wake.set()

    def request_full(self) -> None:
        """Resync every model soon (the KServe view changed)."""
        with self._lock:
            self._full_pending = True
            self._idle.clear()
        self._wake.set()

    def _cards_fetched(self, changed: set[Coords]) -> None:
        models = set().union(*(self._card_models.get(c, set()) for c in changed))
        self.notify(("registered_model", int(m)) for m in models)

    def wait_idle(self, timeout: float = 10) -> bool:
        """True once every change notified so far is synced (for tests and the CLI)."""
        return self._idle.wait(timeout)

    # --- work --------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            if self.batch_seconds:
                time.sleep(self.batch_seconds)  # coalesce a burst of registrations into one refresh
            self._wake.clear()
            with self._lock:
                changes, self._pending = self._pending, set()
                full, self._full_pending = self._full_pending, False
            try:
                if full:
                    self.full_sync()
                elif changes:
                    self.refresh(changes)
            except Exception as exc:
                log.warning("bridge sync failed, retrying: %s", exc)
                self._record_failure(exc)
                with self._lock:
                    self._pending |= changes
                    self._full_pending |= full
                self._stop.wait(_RETRY_SECONDS)
                self._wake.set()
                continue
            with self._lock:
                if not self._pending and not self._full_pending:
                    self._idle.set()

    def full_sync(self) -> int:
        """Rebuild every record of the local registry; returns the number of records."""
        return self._sync(None)

    def refresh(self, changes: Collection[Change]) -> int:
        """Rebuild the records of the models `changes` touch; returns how many live versions they have."""
        return self._sync(changes)

    def _sync(self, changes: Collection[Change] | None) -> int:
        with self.db.write() as conn:
            _lock_writers(conn)
            model_ids = None if changes is None else self.source.affected_models(conn, changes)
            if model_ids is not None and not model_ids:
                return 0
            snapshot = self.source.snapshot(conn, model_ids)
            resolve = self.resolver(self.source.name) if self.resolver else None
            records = normalize(snapshot, source=self.source.name, defaults=self.defaults, endpoint_resolver=resolve)
            readmes = {str(m["id"]): m.get("readme") for m in snapshot.registered_models}
            cards, keep = self._catalog_cards(snapshot, records)
            now = clock.now_ms()
            changed = store.replace(
                conn, self.source.name, model_ids, records, readmes, now, cards=cards, keep_cards=keep
            )
            if changed or changes is None or self._failed:
                store.mark_synced(conn, LOCAL_SOURCE, now, full=changes is None)
        self._failed = False
        if changed:
            self._changed()
        return len(records)

    def _changed(self) -> None:
        """Tell the outputs (bridge/outputs.py); they only queue work, so a slow one never holds up the sync."""
        for callback in list(self.on_change):
            try:
                callback()
            except Exception:
                log.exception("bridge on_change callback failed")

    def _catalog_cards(self, snapshot: RegistrySnapshot, records: list[ModelRecord]) -> tuple[dict[str, str], set[str]]:
        """Cached catalog readmes by record key, and the keys whose stored card stays until their readme arrives."""
        if self.cards is None:
            return {}, set()
        wanted = card_coordinates(snapshot, records)
        if not wanted:
            return {}, set()
        by_model = {r.key: r.registered_model_id for r in records}
        for key, coords in wanted.items():
            self._card_models.setdefault(coords, set()).add(by_model[key])
        found = self.cards.cached(set(wanted.values()))
        pending = self.cards.missing(set(wanted.values()))
        self.cards.request(pending)
        cards = {key: found[c] for key, c in wanted.items() if c in found}
        keep = {key for key, c in wanted.items() if c not in found and (c in pending or self.cards.failed(c))}
        return cards, keep

    def _record_failure(self, exc: Exception) -> None:
        self._failed = True
        try:
            with self.db.write() as conn:
                store.mark_failed(conn, LOCAL_SOURCE, clock.now_ms(), f"{type(exc).__name__}: {exc}")
        except Exception:  # the database itself is down: the log line above is all we can do
            log.debug("could not record the bridge sync failure", exc_info=True)


def _lock_writers(conn: Connection) -> None:
    """Wait for (and hold off) registry writers. SQLite's `BEGIN IMMEDIATE` already did; on server databases every
    writer locks the audit head row just before its commit, so taking it ourselves orders us after them."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(audit_head.c.id).where(audit_head.c.id == 1).with_for_update()).all()
