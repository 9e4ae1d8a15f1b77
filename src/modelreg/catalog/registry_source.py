"""The registry as the built-in catalog source ``registry`` ("Registered models"): one catalog model per live
registered model, kept in step with the database by a thread of its own.

How it follows changes, cheapest first:
- ``Database.on_commit`` hands over the audit records of this process's commits; the listener only appends them
  to a list and wakes the worker (the committing thread must not wait for us).
- Every ``interval`` seconds, and on each wake-up, the worker reads the audit chain's head (one primary-key
  look-up). Other server processes on the same database commit without telling us: when the head is past the
  records we hold, the worker reads the missing stretch of ``audit_log`` (a primary-key range), or reloads every
  model when that stretch is longer than ``max_changes``. It also checks that the record it last read still has
  the hash it had (one more primary-key look-up): a trail emptied and refilled (a restore, a test's reset) reuses
  the numbers, and is reloaded in full.
- The registered models those records touch are read again (``registry_rows``) in one snapshot transaction, and a
  new ``SourceSnapshot`` goes to ``on_change``; unchanged models keep their objects, so the index can reuse what it
  prepared for them.
Wake-ups are debounced, and refreshes keep a distance proportional to their cost, so a burst of writes costs a few
refreshes, not one per write. Errors (the database down) are logged and retried; the last snapshot stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace

from modelreg.auth import context
from modelreg.catalog import registry_rows
from modelreg.catalog.models import (
    REGISTRY_SOURCE_ID,
    REGISTRY_SOURCE_LABEL,
    CatalogModel,
    Source,
    SourceStatus,
)
from modelreg.catalog.snapshots import SourceSnapshot
from modelreg.db.audit_channel import AuditEntry
from modelreg.db.database import Database
from modelreg.errors import RegistryError

log = logging.getLogger(__name__)

SOURCE = Source(
    id=REGISTRY_SOURCE_ID,
    name=REGISTRY_SOURCE_LABEL,
    labels=(REGISTRY_SOURCE_LABEL,),
    type="registry",
)
MAX_CHANGES = 2000  # audit records read one by one before a full reload is cheaper
_DEBOUNCE = 0.02
# Under a stream of writes the refreshes share the GIL with the request handlers: the next one starts at least
# _SPACING times the last one's duration after it started, so they take at most 1/_SPACING of a core (at 5, the
# registration benchmark's CPU per chain rose 25%; at 20, see docs/performance.md) ...
_SPACING = 20
_MAX_SPACING = 0.5  # ... but never later than this, so a change is still in the catalog well within a second
_RETRY = (0.5, 1.0, 2.0, 5.0)  # seconds between attempts after consecutive failures


class RegistryCatalogSource:
    """The ``registry`` catalog source over ``db``; ``start`` runs the follower thread, ``snapshot`` is the latest
    state (status ``None`` until the first load)."""

    def __init__(
        self,
        db: Database,
        interval: float = 0.5,
        *,
        debounce: float = _DEBOUNCE,
        max_changes: int = MAX_CHANGES,
    ) -> None:
        self.db = db
        self.interval = interval
        self.debounce = debounce
        self.max_changes = max_changes
        self._snapshot = SourceSnapshot(SOURCE)
        self._models: dict[int, CatalogModel] = {}
        self._seen: int | None = None  # the audit sequence number the models reflect; None: never loaded
        self._seen_hash: str | None = None  # that record's hash (None: the trail was empty)
        self._pending: list[AuditEntry] = []
        self._full = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._on_change: Callable[[SourceSnapshot], None] | None = None

    def snapshot(self) -> SourceSnapshot:
        return self._snapshot

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, on_change: Callable[[SourceSnapshot], None]) -> None:
        """Subscribe to commits and start the worker, whose first step loads every model; ``on_change`` gets each
        new snapshot, in the worker's thread. Idempotent."""
        if self._thread is not None:
            return
        self._on_change = on_change
        self._stop.clear()
        self._unsubscribe = self.db.on_commit(self._on_commit)
        self._thread = threading.Thread(
            target=context.worker("catalog-registry", self._run), name="modelreg-catalog-registry", daemon=True
        )
        self._thread.start()

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
        """The ``Database.on_commit`` listener: keep the records (all of them: their numbers tell the worker which
        ones it has) and wake the worker. Too many unread ones turn into one full reload."""
        with self._lock:
            if not self._full and len(self._pending) + len(committed) > self.max_changes:
                self._pending, self._full = [], True
            elif not self._full:
                self._pending.extend(committed)
        self._wake.set()

    # --- the worker --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        started, took, failures = -1e9, 0.0, 0
        while not self._stop.is_set():
            if self._seen is not None and self._wake.wait(self.interval):
                spacing = min(_MAX_SPACING, _SPACING * took)
                if self._stop.wait(max(self.debounce, started + spacing - time.monotonic())):
                    return
            if self._stop.is_set():
                return
            self._wake.clear()
            started = time.monotonic()
            with self._lock:
                entries, self._pending = self._pending, []
                full, self._full = self._full, False
            try:
                self._step(entries, full=full)
            except Exception as exc:
                self._failed(exc, entries, full)
                delay = _RETRY[min(failures, len(_RETRY) - 1)]
                failures += 1
                if self._stop.wait(delay):
                    return
                continue
            failures = 0
            took = time.monotonic() - started

    def _step(self, entries: Collection[AuditEntry] = (), *, full: bool = False) -> None:
        """One round: reload everything (first, or when asked), else refresh the models that ``entries`` and the
        audit records committed elsewhere since the last round touch."""
        if full or self._seen is None:
            self.load()
            return
        seen = self._seen
        reload_all = False
        with self.db.snapshot() as conn:
            head, head_hash = registry_rows.audit_head(conn)
            local = {entry.seq: entry for entry in entries if seen < entry.seq <= head}
            later = [entry for entry in entries if entry.seq > head]  # committed after this snapshot began
            records: Collection[registry_rows.AuditFields] = list(local.values())
            same_trail = (head_hash if head == seen else registry_rows.audit_hash(conn, seen)) == self._seen_hash
            if head < seen or not same_trail:  # emptied, maybe refilled (a restore, a test's reset): reload
                reload_all = True
            elif head - seen > len(local):  # some were committed by another process: read them
                found = registry_rows.audit_since(conn, seen, head, self.max_changes)
                reload_all = found is None
                records = found or []
            if not reload_all:
                ids = registry_rows.affected_models(conn, records)
                fresh = registry_rows.read_models(conn, ids) if ids else {}
        if later:
            with self._lock:
                self._pending[:0] = later
            self._wake.set()
        if reload_all:
            self.load()
        else:
            self._seen, self._seen_hash = head, head_hash
            if ids and self._merge(ids, fresh):
                self._publish()

    def load(self) -> SourceSnapshot:
        """Read every live registered model (the first step, and after a long stretch of changes), publish the
        snapshot and return it. Called by the worker, or directly on a source that is not started (bench, CLI)."""
        with self.db.snapshot() as conn:
            head, head_hash = registry_rows.audit_head(conn)
            fresh = registry_rows.read_models(conn)
        self._seen, self._seen_hash = head, head_hash
        self._merge(set(self._models) | set(fresh), fresh)
        return self._publish()

    def _merge(self, ids: Collection[int], fresh: Mapping[int, CatalogModel]) -> bool:
        """Put the fresh state of the models ``ids`` in place, keeping the object of each that did not change;
        whether any did."""
        changed = False
        for id_ in ids:
            new, old = fresh.get(id_), self._models.get(id_)
            if new is None:
                if old is not None:
                    del self._models[id_]
                    changed = True
            elif new != old:
                self._models[id_] = new
                changed = True
        return changed

    def _publish(self, error: str | None = None) -> SourceSnapshot:
        status = SourceStatus.AVAILABLE if error is None else SourceStatus.ERROR
        if error is None:
            models = tuple(sorted(self._models.values(), key=lambda m: (m.name.casefold(), int(m.id))))
        else:
            models = self._snapshot.models
        snapshot = SourceSnapshot(replace(SOURCE, status=status, error=error), models)
        self._snapshot = snapshot
        if self._on_change is not None:
            try:
                self._on_change(snapshot)
            except Exception:
                log.exception("catalog: the registry source's on_change failed")
        return snapshot

    def _failed(self, exc: Exception, entries: list[AuditEntry], full: bool) -> None:
        """Log, put the work back for the next attempt, and say so in the status if nothing was ever loaded."""
        detail = str(exc) if isinstance(exc, RegistryError) else type(exc).__name__  # shown: names no host
        log.warning("catalog: reading the registry failed, retrying: %s", getattr(exc, "detail", None) or exc)
        with self._lock:
            self._pending[:0] = entries
            self._full |= full
        if self._seen is None and self._snapshot.source.status is not SourceStatus.ERROR:
            self._publish(f"cannot read the registry: {detail}")


__all__ = ["SOURCE", "RegistryCatalogSource"]
