"""Logging in and out of the web UI: the login page (local accounts, a link to OIDC login), ``POST /logout``.

A bad login says "Invalid username or password" whatever was wrong, after the same work (``UserService.verify``).
After ``MAX_FAILURES`` failures for one username within ``WINDOW_SECONDS``, that username is refused for
``LOCKOUT_SECONDS`` (per server process: a slowdown for guessing, not an account lock an attacker could use to
keep someone out for long).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from modelreg.services.users import UserService
from modelreg.ui import oidc_login, web
from modelreg.ui.sessions import SessionStore

router = APIRouter(include_in_schema=False)
router.include_router(oidc_login.router)

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0
LOCKOUT_SECONDS = 60.0
INVALID = "Invalid username or password."
_MAX_TRACKED = 10_000


class LoginThrottle:
    """Failed logins per username, in memory. ``clock`` is for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, username: str) -> float:
        """Seconds until ``username`` may try again; 0 when it may now."""
        with self._lock:
            until = self._locked_until.get(username, 0.0)
            left = until - self._clock()
            if left <= 0 and until:
                del self._locked_until[username]
            return max(0.0, left)

    def failed(self, username: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= _MAX_TRACKED:
                self._failures.clear()
            recent = self._failures.setdefault(username, deque())
            recent.append(now)
            while recent and recent[0] < now - WINDOW_SECONDS:
                recent.popleft()
            if len(recent) >= MAX_FAILURES:
                self._locked_until[username] = now + LOCKOUT_SECONDS
                recent.clear()

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if getattr(state, "login_throttle", None) is None:
        state.login_throttle = LoginThrottle()
    throttle: LoginThrottle = state.login_throttle
    return throttle


def _page(ui: web.Ui, next_path: str, status: int = 200, error: str | None = None, username: str = "") -> Response:
    return web.render(
        ui,
        "login.html",
        status_code=status,
        methods=web.login_methods(ui.request),
        next=next_path,
        error=error,
        username=username,
    )


@router.get("/login")
def login_page(ui: web.VisitorDep, next: str | None = None) -> Response:
    next_path = web.safe_next(next)
    if ui.signed_in:
        return web.redirect(next_path)
    return _page(ui, next_path)


@router.post("/login")
async def login(ui: web.VisitorDep) -> Response:
    fields = await web.form(ui)
    next_path = web.safe_next(fields.get("next"))
    if ui.signed_in:
        return web.redirect(next_path)
    if "password" not in web.login_methods(ui.request):
        return _page(ui, next_path, 400, "Password login is not enabled on this server.")
    username = fields.get("username", "").strip()[:255]
    password = fields.get("password", "")
    throttle = _throttle(ui.request)
    wait = throttle.locked(username)
    if wait:
        message = f"Too many failed logins for this user: try again in {int(wait) + 1} seconds."
        return _page(ui, next_path, 429, message, username)
    users: UserService = ui.request.app.state.users
    user = await anyio.to_thread.run_sync(users.verify, username, password) if username and password else None
    if user is None:
        throttle.failed(username)
        return _page(ui, next_path, 401, INVALID, username)
    throttle.succeeded(username)
    store: SessionStore = ui.request.app.state.ui_sessions
    await anyio.to_thread.run_sync(ui.start_session, store, "password", user.username, user.groups)
    return web.redirect(next_path)


@router.post("/logout")
async def logout(ui: web.UiDep) -> Response:
    await web.form(ui)
    store: SessionStore = ui.request.app.state.ui_sessions
    await anyio.to_thread.run_sync(ui.logout, store)
    return web.redirect("/login", flash="You have signed out.", kind="info")
