"""``modelreg seed --wait``: a seed Job starts with the database and the registry, and must wait for them instead
of failing (and being restarted by Kubernetes with a back-off) while they come up."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from modelreg import tls
from modelreg.db.database import Database, DatabaseUnavailable

REPORT_EVERY_SECONDS = 5.0  # one line per few seconds, not one per try
RETRY_EVERY_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 5.0


class GaveUp(Exception):
    """The time ran out; the message says what was not ready and why."""


class Waiter:
    """Retries checks until they pass or ``seconds`` (shared by every check) have gone by; ``say`` gets a line
    now and then while it waits."""

    def __init__(self, seconds: float, say: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.say = say

    def until(self, what: str, check: Callable[[], str | None]) -> None:
        """Call ``check`` (None: ready, else why not) until it passes; GaveUp when the time is up. A check started
        before the deadline may end after it, by at most its own timeout."""
        started = time.monotonic()
        report_at = started  # the first failure is reported at once
        waited = False
        while (reason := check()) is not None:
            now = time.monotonic()
            if now >= self.deadline:
                raise GaveUp(f"{what} was not ready within {self.seconds:g} s: {reason}")
            if now >= report_at:
                self.say(f"waiting for {what}: {reason} ({self.deadline - now:.0f} s left)")
                report_at = now + REPORT_EVERY_SECONDS
            waited = True
            time.sleep(min(RETRY_EVERY_SECONDS, self.deadline - now))
        if waited:
            self.say(f"{what} is ready after {time.monotonic() - started:.0f} s")


def database_check(db: Database) -> Callable[[], str | None]:
    """Whether ``db`` answers a query (within its connect timeout)."""

    def check() -> str | None:
        try:
            with db.read() as conn:
                conn.execute(text("SELECT 1"))
        except DatabaseUnavailable as exc:
            return exc.detail
        except OperationalError as exc:
            return db.unavailable(exc).detail
        return None

    return check


def registry_check(url: str) -> Callable[[], str | None]:
    """Whether the registry at ``url`` is ready: ``/readyz/health`` answers 200 (its database answers and the
    schema is migrated)."""
    probe = f"{url.rstrip('/')}/readyz/health"

    def check() -> str | None:
        try:
            response = httpx.get(probe, timeout=PROBE_TIMEOUT_SECONDS, verify=tls.default_context())
        except httpx.HTTPError as exc:
            return f"/readyz/health: {exc or type(exc).__name__}"
        if response.status_code == 200:
            return None
        return f"/readyz/health answered {response.status_code} {response.text[:200]!r}"

    return check
