"""Server-side sessions of the web UI (table ``ui_sessions``).

The cookie holds 256 random bits; the table holds only their SHA-256, so reading the table (a backup, a replica)
logs no one in. Expiry is decided here, whatever the cookie says: a session ends ``session_ttl_seconds`` after it
began and after ``session_idle_seconds`` without a request. ``last_seen`` is written at most once per
``_TOUCH_SECONDS`` so that browsing costs reads, not writes; the idle end is that much less precise.

A visitor who has not logged in has no session (its CSRF token is stateless: ``ui/visitors.py``), so anonymous
requests cost no write; one starting an OIDC login gets one (``method`` = ``visitor``) for the login's state.
Logging in always starts a new session (a new id: no session fixation).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, select, update

from modelreg.auth.tokens import secret_hash
from modelreg.db.database import Database
from modelreg.db.tables import ui_sessions
from modelreg.settings import UiSettings

COOKIE = "modelreg_session"
VISITOR = "visitor"  # the method of a session nobody has logged in to yet
_VISITOR_TTL_MS = 3600 * 1000  # a login form left open longer than this must be reloaded
_TOUCH_SECONDS = 60
_SWEEP_SECONDS = 600
_s = ui_sessions.c


def session_id(cookie: str) -> str:
    """A session's id (the table's key) is its cookie's stored hash: the table alone logs no one in."""
    return secret_hash(cookie)


@dataclass(frozen=True)
class Session:
    id: str  # sha256 of the cookie value
    user: str | None
    groups: tuple[str, ...]
    method: str  # password | oidc | proxy | local | visitor
    csrf_token: str
    data: Mapping[str, Any]
    create_time: int
    expire_time: int
    last_seen: int

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.method != VISITOR


def _session(row: Any) -> Session:
    return Session(
        id=row["id"],
        user=row["user_name"],
        groups=tuple(orjson.loads(row["group_names"] or "[]")),
        method=row["method"],
        csrf_token=row["csrf_token"],
        data=orjson.loads(row["data"]) if row["data"] else {},
        create_time=row["create_time"],
        expire_time=row["expire_time"],
        last_seen=row["last_seen"],
    )


class SessionStore:
    """Create, find, touch and end sessions. ``clock`` (seconds) is for tests."""

    def __init__(self, db: Database, settings: UiSettings, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self._clock = clock
        self._next_sweep = 0.0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def create(
        self, method: str, user: str | None = None, groups: tuple[str, ...] = (), data: Mapping[str, Any] | None = None
    ) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown to no one but the browser) and the session."""
        self._sweep()
        cookie = secrets.token_urlsafe(32)
        now = self._now_ms()
        ttl_ms = self.settings.session_ttl_seconds * 1000 if method != VISITOR else _VISITOR_TTL_MS
        row = {
            "id": session_id(cookie),
            "user_name": user,
            "group_names": orjson.dumps(list(groups)).decode(),
            "method": method,
            "csrf_token": secrets.token_urlsafe(32),
            "data": orjson.dumps(dict(data)).decode() if data else None,
            "create_time": now,
            "expire_time": now + ttl_ms,
            "last_seen": now,
        }
        with self.db.write() as conn:
            conn.execute(ui_sessions.insert().values(**row))
        return cookie, _session(row)

    def find(self, cookie: str | None) -> Session | None:
        """The live session of a cookie, or None (an expired one is deleted); touches ``last_seen``."""
        if not cookie or len(cookie) > 128:
            return None
        sid = session_id(cookie)
        with self.db.read() as conn:
            row = conn.execute(select(ui_sessions).where(_s.id == sid)).mappings().first()
        if row is None:
            return None
        session = _session(row)
        now = self._now_ms()
        if now >= session.expire_time or now >= session.last_seen + self.settings.session_idle_seconds * 1000:
            self.end(sid)
            return None
        if now - session.last_seen >= min(_TOUCH_SECONDS, self.settings.session_idle_seconds / 4) * 1000:
            with self.db.write() as conn:
                conn.execute(update(ui_sessions).where(_s.id == sid).values(last_seen=now))
        return session

    def set_data(self, sid: str, data: Mapping[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(update(ui_sessions).where(_s.id == sid).values(data=orjson.dumps(dict(data)).decode()))

    def end(self, sid: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(ui_sessions).where(_s.id == sid))

    def _sweep(self) -> None:
        """Delete sessions past their absolute end now and then (idle ones are deleted when next seen)."""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_SECONDS
        with self.db.write() as conn:
            conn.execute(delete(ui_sessions).where(_s.expire_time <= int(now * 1000)))
