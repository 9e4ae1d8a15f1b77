"""`Lease`: a named lease in the ``leases`` table, so that one server process of several runs a once-per-cluster
worker (the deployment status watcher) while the others stand by and take over when it stops renewing.

The holder renews well before ``until_ms`` (e.g. every third of the lease); a process that stops (killed, hung,
cut off from the database) loses the lease when it expires. Times are the database clients' wall clocks, so the
processes sharing a lease need clocks that roughly agree (NTP); `held` is judged on this process's monotonic
clock from the moment before the write began, so it ends no later than the lease does in the table.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.db.database import Database
from modelreg.db.tables import leases

_c = leases.c


class Lease:
    """One process's claim on the lease ``name``, ``seconds`` long. Thread-safe enough for one renewing thread and
    any number of readers of `held`."""

    def __init__(self, db: Database, name: str, *, owner: str | None = None, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("a lease lasts a positive number of seconds")
        self.db = db
        self.name = name
        self.owner = owner or str(uuid.uuid4())
        self.seconds = seconds
        self._held_until = 0.0  # monotonic

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now, as of its last successful `acquire_or_renew` (no I/O)."""
        return time.monotonic() < self._held_until

    def acquire_or_renew(self) -> bool:
        """Take the lease when it is free, expired or already ours, and extend it by ``seconds``; False when another
        owner holds it. One short write transaction (two when a competing first insert wins the race)."""
        started = time.monotonic()
        for _ in range(2):
            try:
                taken = self.db.run_write(self._take)
            except IntegrityError:  # another process inserted the row first: read it again
                continue
            self._held_until = started + self.seconds if taken else 0.0
            return taken
        self._held_until = 0.0
        return False

    def release(self) -> None:
        """Give the lease up now (on shutdown), so a standby process need not wait for it to expire."""
        self._held_until = 0.0
        with self.db.write() as conn:
            conn.execute(
                update(leases).where(_c.name == self.name, _c.owner == self.owner).values(owner=None, until_ms=None)
            )

    def holder(self) -> str | None:
        """The owner holding the lease now, if any (for status pages and tests)."""
        with self.db.read() as conn:
            row = conn.execute(select(_c.owner, _c.until_ms).where(_c.name == self.name)).first()
        if row is None or row.owner is None or (row.until_ms or 0) <= _now_ms():
            return None
        return str(row.owner)

    def _take(self, conn: Connection) -> bool:
        now = _now_ms()
        until = now + int(self.seconds * 1000)
        row = conn.execute(select(_c.owner, _c.until_ms).where(_c.name == self.name).with_for_update()).first()
        if row is None:
            conn.execute(insert(leases).values(name=self.name, owner=self.owner, until_ms=until))
            return True
        if row.owner not in (None, self.owner) and (row.until_ms or 0) > now:
            return False
        conn.execute(update(leases).where(_c.name == self.name).values(owner=self.owner, until_ms=until))
        return True


def _now_ms() -> int:
    return int(time.time() * 1000)
