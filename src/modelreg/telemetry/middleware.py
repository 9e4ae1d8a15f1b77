"""The request path's telemetry, as pure ASGI middleware: the request id, the HTTP metrics, the access log.

``RequestTelemetry`` is the outermost middleware, so that it sees every response, the authentication's 401s and the
body limit's 413s too: it makes the request id current (``request_ids``), adds ``X-Request-ID`` to the response,
and once the response is sent records the request under its route template (``HttpMetrics``) and, when asked,
writes the access log line. The context variable is not reset: each request runs in a task of its own, and the
handler of an unexpected error (``api/errors.py``, run by Starlette outside every middleware) logs under it too.

The route template is known only after routing, which happens in a copy of the scope (``DefaultJsonContentType``
copies it): ``RouteCapture``, installed innermost, hands the matched route back through a slot both scopes share.
A request refused before routing is recorded as ``(before routing)``, a path no route matches as ``(unmatched)``:
label values stay a fixed set whatever paths clients send.
"""

from __future__ import annotations

import contextlib
import logging
from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.telemetry import request_ids
from modelreg.telemetry.metrics import HttpMetrics

BEFORE_ROUTING = "(before routing)"
UNMATCHED = "(unmatched)"
_SLOT = "modelreg.route"
_NOT_REACHED = object()
access_log = logging.getLogger("modelreg.access")


class _Routed:
    """Where ``RouteCapture`` leaves the matched route for ``RequestTelemetry``."""

    __slots__ = ("params", "route")

    def __init__(self) -> None:
        self.route: Any = _NOT_REACHED
        self.params: dict[str, Any] | None = None


class RequestTelemetry:
    def __init__(
        self, app: ASGIApp, metrics: HttpMetrics | None = None, access: bool = False, failure: ASGIApp | None = None
    ) -> None:
        """``metrics`` None: nothing recorded; ``access``: one log line per request; ``failure``: the response
        to send, with the request id, when the app raises before responding (else Starlette answers without it)."""
        self.app = app
        self.metrics = metrics
        self.access = access
        self.failure = failure
        self.record = metrics is not None or access
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = (b"x-request-id", request_ids.begin(scope["headers"]).encode())
        routed = None
        if self.record:
            routed = scope[_SLOT] = _Routed()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not status and self.failure is not None:
                with contextlib.suppress(Exception):  # the client may be gone: the error to report is the first
                    await self.failure(scope, receive, send_with_id)
            raise
        finally:
            if self.record:
                self._record(scope, routed, status or 500, perf_counter() - started)

    def _record(self, scope: Scope, routed: _Routed | None, status: int, seconds: float) -> None:
        route = self.templates.label(scope, routed)
        if self.metrics is not None:
            self.metrics.observe(route, scope["method"], status, seconds)
        if self.access:
            client = scope.get("client")
            address = f"{client[0]}:{client[1]}" if client else "-"
            path = scope["path"]  # never the query string: it is a separate key of the scope
            millis = round(seconds * 1000, 2)
            access_log.info(
                '%s - "%s %s" %d %.2f ms',
                address,
                scope["method"],
                path,
                status,
                millis,
                extra={
                    "http": {
                        "method": scope["method"],
                        "route": route,
                        "path": path,
                        "status": status,
                        "duration_ms": millis,
                        "client": address,
                    }
                },
            )


class RouteCapture:
    """Innermost: after the app answered, leave the route it matched where ``RequestTelemetry`` finds it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            routed = scope.get(_SLOT)
            if routed is not None:
                routed.route = scope.get("route")
                routed.params = scope.get("path_params")


class RouteTemplates:
    """Route → the full path template it serves, e.g. ``/api/governance/v1/registered_models/{id}/archive``.

    A route of an included router knows its path only relative to the router's prefix. The prefix is what the
    request's path has before the route's own part (the template filled with the path parameters); it is worked
    out at the first request of each route and kept (prefixes are fixed strings here)."""

    def __init__(self) -> None:
        self._known: dict[int, str] = {}

    def label(self, scope: Scope, routed: _Routed | None) -> str:
        if routed is None or routed.route is _NOT_REACHED:
            return BEFORE_ROUTING
        route = routed.route
        if route is None:
            return UNMATCHED
        template = self._known.get(id(route))
        if template is None:
            relative = getattr(route, "path_format", None)
            if not isinstance(relative, str):
                return UNMATCHED
            template = _full(relative, routed.params or {}, scope["path"])
            if template is None:
                return relative
            self._known[id(route)] = template  # routes live as long as the app
        return template


def _full(relative: str, params: dict[str, Any], path: str) -> str | None:
    """``relative`` with the prefix ``path`` has before it; None when ``path`` does not end with it."""
    try:
        own = relative.format_map({name: str(value) for name, value in params.items()})
    except (KeyError, IndexError, ValueError):
        return None
    if not path.endswith(own):
        return None
    return path[: len(path) - len(own)] + relative
