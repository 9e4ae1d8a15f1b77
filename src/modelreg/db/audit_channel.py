"""The audit channel of a write transaction: typed entries staged on it, heard about once committed.

Services stage one ``AuditEntry`` per change with ``stage(conn, entry)``, on the connection of a
``Database.write()``; just before commit that transaction numbers and chains them (``audit_chain.append``) in the
same transaction, and after the commit hands the numbered entries to the listeners registered with
``Database.on_commit`` (the bridge's sync). A rollback discards them: listeners never hear of a change that did not
commit. This module is the only one that knows where the staged entries are kept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

log = logging.getLogger("modelreg")

_STAGED = "modelreg.audit.staged"  # the key in ``conn.info``; nothing outside this module reads it


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of the audit trail, as staged (``seq`` 0) or as committed (numbered from 1, without gaps).
    ``changes`` is the canonical JSON of ``{"before", "after"}``; the hash covers every field and the previous
    record's hash (``audit_chain``)."""

    time_ms: int
    actor: str
    via: str
    action: str
    entity_kind: str
    entity_id: int | None
    entity_name: str | None
    changes: str
    request_id: str | None
    client: str | None
    seq: int = 0


CommitListener = Callable[[Sequence[AuditEntry]], None]


class NotInWriteTransaction(RuntimeError):
    """An audit entry was staged on a connection that is not inside ``Database.write()``: a programming error."""


def stage(conn: Connection, entry: AuditEntry) -> None:
    """Stage ``entry`` on the write transaction of ``conn``, to commit (or roll back) with the change it records."""
    staged: list[AuditEntry] | None = conn.info.get(_STAGED)
    if staged is None:
        raise NotInWriteTransaction(
            f"cannot stage the audit record of {entry.action} {entry.entity_kind}: the connection is not inside "
            "Database.write() (a read transaction, or one opened elsewhere), so the record would be lost"
        )
    staged.append(entry)


def open_staging(conn: Connection) -> list[AuditEntry]:
    """For ``Database.write``: start collecting the entries staged on ``conn``; the list is theirs."""
    staged: list[AuditEntry] = []
    conn.info[_STAGED] = staged
    return staged


def close_staging(conn: Connection) -> None:
    """For ``Database.write``, however the transaction ended: ``conn`` takes no more entries. (SQLite connections
    are reused by the thread's next transaction, a read one too.)"""
    conn.info.pop(_STAGED, None)


class CommitListeners:
    """The ``on_commit`` listeners of one database. Each commit that staged entries calls every listener in the
    committing thread, after the commit, so a listener must be quick (the bridge only queues work). Subscribing
    replaces the tuple instead of changing it, so the write path iterates it without a lock or a copy."""

    def __init__(self) -> None:
        self._listeners: tuple[CommitListener, ...] = ()
        self._lock = threading.Lock()

    def add(self, listener: CommitListener) -> Callable[[], None]:
        """Subscribe ``listener``; returns the function that unsubscribes it."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                listeners = list(self._listeners)
                if listener in listeners:
                    listeners.remove(listener)
                self._listeners = tuple(listeners)

        return remove

    def notify(self, committed: Sequence[AuditEntry]) -> None:
        """Tell every listener; one that raises is logged and skipped: the change is committed whatever it does."""
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:
                log.exception("audit commit listener %r failed", listener)
