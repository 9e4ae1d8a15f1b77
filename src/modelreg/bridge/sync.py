"""Event-driven sync: a change committed through modelreg refreshes the bridge records it touched, soon after.

Every registry write stages audit records on its connection (`services/audit.py::stage`). The sync listens to
the committed ones (`Database.on_commit`), takes the (kind, id) pairs of the bridge-relevant ones and hands them to
a single worker thread: no query and no lock on the write path, a few attribute look-ups per commit. The worker's
cost follows what changed, not the size of the models:

1. In a READ transaction (a snapshot: no writer waits for it) it reads the changed versions (a changed registered
   model: its versions), normalizes them, renders their JSON and compares with their stored rows. It first checks
   that the snapshot holds the audit sequence number of the commit that queued them (listeners hear of a commit
   once it is done, so it does at once; the wait is a guard).
2. Only if a row differs, a short WRITE transaction writes those rows. Writes commit between 1 and 2, so before
   writing it looks at the audit records committed since its snapshot: rows they touch are left alone and queued
   again (another process's worker may already have written something newer; the next refresh reads it all
   again), so a stale snapshot never overwrites a fresher row.

Any error writes nothing, so a transient failure never deletes records; the worker retries, and a full resync at
start heals a crash between a commit and its refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from sqlalchemy import Connection, bindparam, select

from modelreg.auth import context
from modelreg.bridge import pacing, store
from modelreg.bridge.cards import CatalogCards, Coords, card_coordinates
from modelreg.bridge.normalize import Defaults, EndpointResolver, RegistrySnapshot, normalize
from modelreg.bridge.pacing import holding_writers, pace
from modelreg.bridge.records import ModelRecord
from modelreg.bridge.sources import BRIDGE_KINDS, LocalRegistry, Scope
from modelreg.db.audit_channel import AuditEntry
from modelreg.db.database import Database
from modelreg.db.tables import audit_head, audit_log, bridge_records, registered_models
from modelreg.services import clock
from modelreg.telemetry import workers

log = logging.getLogger(__name__)

Change = tuple[str, int]  # (audit entity kind, id)
LOCAL_SOURCE = "local"  # the status row of this registry
_RETRY_SECONDS = 0.5
_VISIBLE_WAIT = 1.0  # the most a refresh waits for its commit to show (a commit that failed after the hook never does)
_FULL_CHUNK = 200  # registered models per step of a full resync: bounded memory, short write transactions
# Refreshes keep their distance: the next one starts `_SPACING` times the last one's duration after it started
# (at most `MIN_INTERVAL`), so under a stream of writes each refresh takes a batch big enough to make its fixed
# cost (some 20 statements) small beside the work, and the sync's share of the process stays small; a change
# after a quiet spell (a short last refresh) waits only about `batch_seconds`.
MIN_INTERVAL = 0.25
_SPACING = 10
_MARK_EVERY_MS = 1000  # the status row's "last sync that changed something" is written at most this often


class AuditFields(Protocol):
    """What `what_changed` reads of an audit record: a committed `AuditEntry` or a row of `audit_log`."""

    @property
    def entity_kind(self) -> str: ...
    @property
    def entity_id(self) -> int | None: ...
    @property
    def action(self) -> str: ...
    @property
    def changes(self) -> str: ...


def what_changed(entries: Iterable[AuditFields]) -> list[Change]:
    """The changes audit records (as staged, or read back) make to the published records, in the cheapest terms:
    a registered model is born without versions, so its creation changes nothing (its versions bring it along);
    an artifact created under a model version changes that version (its record says which: no look-up)."""
    out: list[Change] = []
    for entry in entries:
        kind, id_ = entry.entity_kind, entry.entity_id
        if kind not in BRIDGE_KINDS or id_ is None:
            continue
        if entry.action == "create":
            if kind == "registered_model":
                continue
            if kind == "artifact" and (parent := _created_under(entry.changes)) is not None:
                out.append(("model_version", parent))
                continue
        out.append((kind, id_))
    return out


def _created_under(changes: str) -> int | None:
    """The model version an artifact was created under, from its audit record (`{"after": {...}}`)."""
    if '"parent_model_version_id"' not in changes:
        return None
    parent = orjson.loads(changes).get("after", {}).get("parent_model_version_id")
    return parent if isinstance(parent, int) else None


@dataclass
class _Plan:
    """What one refresh read and wants written; computed in a read transaction, applied in a short write one."""

    head: int  # the audit sequence number the read saw
    diff: store.Diff = field(default_factory=store.Diff)
    models: set[str] = field(default_factory=set)  # registered models read whole
    touched: set[str] = field(default_factory=set)  # every registered model the refresh concerned
    records: int = 0  # live versions read


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
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.db = db
        self.defaults = defaults or Defaults()
        self.batch_seconds = batch_seconds
        self.min_interval = min_interval
        self.source = LocalRegistry()
        self.resolver = resolver  # KServe status (bridge/kserve.py), else the registry's `url` property
        self.cards = cards  # catalog model cards (bridge/cards.py): cache reads here, fetches in the background
        self._card_models: dict[Coords, set[str]] = {}
        if cards is not None:
            cards.on_fetched = self._cards_fetched
        self._pending: set[Change] = set()
        self._pending_seq = 0  # the highest audit sequence number among the pending changes' commits
        self._full_pending = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._failed = False  # the last attempt failed: the next success clears the recorded error
        self._marked = 0  # when the status row last recorded a sync (ms)
        self.on_change: list[Callable[[], None]] = []  # called by the worker after a sync that changed rows

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, *, full_sync: bool = True) -> None:
        """Subscribe to commits and start the worker; the first thing it does is a full resync."""
        if self._thread is not None:
            return
        self._unsubscribe = self.db.on_commit(self._on_commit)
        self._full_pending = full_sync
        self._thread = threading.Thread(
            target=context.worker("bridge", self._run), name="modelreg-bridge-sync", daemon=True
        )
        self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _on_commit(self, committed: Sequence[AuditEntry]) -> None:
        """The `Database.on_commit` listener: queue what a commit changed in the published records."""
        if published := what_changed(committed):
            self.notify(published, committed[-1].seq)

    def notify(self, changes: Iterable[Change], seq: int = 0) -> None:
        """Queue `changes`; `seq` is the audit sequence number of their commit, which the refresh waits to see."""
        with self._lock:
            self._pending.update(changes)
            self._pending_seq = max(self._pending_seq, seq)
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
        pacing.background()
        started, took = -self.min_interval, 0.0
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            spacing = min(self.min_interval, _SPACING * took)
            delay = max(self.batch_seconds, started + spacing - time.monotonic())
            if delay > 0 and self._stop.wait(delay):
                return
            started = time.monotonic()
            self._wake.clear()
            with self._lock:
                changes, self._pending = self._pending, set()
                needed, self._pending_seq = self._pending_seq, 0
                full, self._full_pending = self._full_pending, False
            try:
                if full:
                    self._full_sync(needed)
                elif changes:
                    self._refresh(changes, needed)
            except Exception as exc:
                log.warning("bridge sync failed, retrying: %s", exc)
                workers.failed("bridge-sync", exc)
                self._record_failure(exc)
                with self._lock:
                    self._pending |= changes
                    self._pending_seq = max(self._pending_seq, needed)
                    self._full_pending |= full
                self._stop.wait(_RETRY_SECONDS)
                self._wake.set()
                continue
            took = time.monotonic() - started
            workers.beat("bridge-sync")
            with self._lock:
                if not self._pending and not self._full_pending:
                    self._idle.set()

    def full_sync(self) -> int:
        """Rebuild every record of the local registry; returns the number of records."""
        return self._full_sync(0)

    def refresh(self, changes: Collection[Change]) -> int:
        """Rebuild the records `changes` touch; returns how many live versions the models concerned have."""
        plan = self._refresh(changes, 0)
        with self.db.read() as conn:
            return store.count(conn, self.source.name, plan.touched)

    def _refresh(self, changes: Collection[Change], needed: int) -> _Plan:
        plan = self._plan(needed, changes=changes)
        self._write(plan, full=False)
        return plan

    def _full_sync(self, needed: int) -> int:
        """Every registered model, a chunk at a time (each its own snapshot and short write): those in the
        registry and those that still have rows (deleted while no server ran)."""
        with self.db.snapshot() as conn:
            ids = {str(i) for i in conn.execute(select(registered_models.c.id)).scalars()}
            r = bridge_records.c
            stored = select(r.registered_model_id).where(r.source == self.source.name).distinct()
            ids |= set(conn.execute(stored).scalars())
        ordered = sorted(ids, key=lambda i: (len(i), i))
        total = 0
        for start in range(0, len(ordered), _FULL_CHUNK):
            plan = self._plan(needed, models=ordered[start : start + _FULL_CHUNK])
            self._write(plan, full=False)
            total += plan.records
        with self.db.write() as conn:
            store.mark_synced(conn, LOCAL_SOURCE, clock.now_ms(), full=True)
        self._failed = False
        return total

    # --- read, then write --------------------------------------------------------------------------------------

    def _plan(self, needed: int, *, changes: Collection[Change] = (), models: Collection[str] = ()) -> _Plan:
        """Read what `changes` (or the registered models `models`) touch and compare with the stored rows, once the
        snapshot holds audit sequence number `needed`."""
        deadline = time.monotonic() + _VISIBLE_WAIT
        while True:
            with self.db.snapshot() as conn:
                head = _audit_head(conn)
                if head >= needed or time.monotonic() > deadline:
                    scope = self.source.scope(conn, changes) if changes else Scope(frozenset(int(m) for m in models))
                    return self._plan_in(conn, head, scope)
            time.sleep(0.002)

    def _plan_in(self, conn: Connection, head: int, scope: Scope) -> _Plan:
        models = {str(m) for m in scope.models}
        versions = {str(v) for v in scope.versions}
        plan = _Plan(head, models=models, touched=set(models))
        if not scope:
            return plan
        snapshot = self.source.snapshot(conn, models, versions)
        resolve = self.resolver(self.source.name) if self.resolver else None
        records = normalize(
            snapshot, source=self.source.name, defaults=self.defaults, endpoint_resolver=resolve, pace=pace
        )
        readmes = {str(m["id"]): m.get("readme") for m in snapshot.registered_models}
        cards, keep = self._catalog_cards(snapshot, records)
        keys = [r.key for r in records]
        existing = store.stored(conn, self.source.name, model_ids=models, version_ids=versions, keys=keys)
        wanted = store.rows_for(records, self.source.name, readmes, existing, cards=cards, keep_cards=keep)
        plan.diff = store.diff(existing, wanted)
        plan.records = len(records)
        plan.touched |= {r.registered_model_id for r in records}
        plan.touched |= {row["registered_model_id"] for row in existing.values() if row["source"] == self.source.name}
        return plan

    def _write(self, plan: _Plan, *, full: bool) -> None:
        """Apply `plan` in a short write transaction, leaving out the rows that changes committed since its
        snapshot touch (they are queued again)."""
        if not plan.diff and not self._failed:
            return
        changed = False
        retry: list[Change] = []
        with self.db.write() as conn, holding_writers():
            _lock_writers(conn)
            diff = plan.diff
            if diff and (since := self._changed_since(conn, plan.head)):
                moved = self.source.scope(conn, since)
                moved_models = {str(m) for m in moved.models}
                moved_versions = {str(v) for v in moved.versions}
                diff, skipped = diff.split(
                    lambda row: row["registered_model_id"] in moved_models or row["model_version_id"] in moved_versions
                )
                rows = [r for r in skipped.deletes + skipped.inserts if r["source"] == self.source.name]
                retry += [("registered_model", int(m)) for m in moved_models & plan.models]
                retry += [("model_version", int(r["model_version_id"])) for r in rows]
            now = clock.now_ms()
            changed = store.apply(conn, diff, now)
            if (changed and now - self._marked >= _MARK_EVERY_MS) or full or self._failed:
                store.mark_synced(conn, LOCAL_SOURCE, now, full=full)
                self._marked = now
        self._failed = False
        if retry:
            self.notify(retry)
        if changed:
            self._changed()

    def _changed_since(self, conn: Connection, head: int) -> list[Change]:
        """Bridge-relevant changes committed after audit sequence number `head`: a range of the primary key (the
        kinds are filtered here: a condition on them would make the database scan the kind index, all of it)."""
        return what_changed(conn.execute(_SINCE, {"head": head}))

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


_a = audit_log.c
_SINCE = select(_a.entity_kind, _a.entity_id, _a.action, _a.changes).where(_a.seq > bindparam("head"))
_HEAD = select(_a.seq).order_by(_a.seq.desc()).limit(1)


def _audit_head(conn: Connection) -> int:
    """The newest committed audit sequence number this transaction sees (0 for an empty trail)."""
    seq = conn.execute(_HEAD).scalar()
    return int(seq or 0)


def _lock_writers(conn: Connection) -> None:
    """Hold off registry writers for the few statements of a write, so none commits between the check of what
    changed since the snapshot and the rows written. SQLite's `BEGIN IMMEDIATE` already did; on server databases
    every writer locks the audit head row just before its commit, so taking it ourselves orders us with them."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(audit_head.c.id).where(audit_head.c.id == 1).with_for_update()).all()
