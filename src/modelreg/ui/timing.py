"""``Server-Timing: app;dur=<ms>`` on web UI responses: the time the server took until it started the response
(routing, the caller's session, the service calls and the template rendering), so that a browser's developer
tools and ``bench/catalog_ui.py`` can tell server time from network and client time. API responses are left alone.

Cost: two clock reads and one header per response, ~1 µs (docs/performance.md), against pages of 1 ms and more.
"""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.ui import errors

HEADER = b"server-timing"


class ServerTiming:
    """Outermost UI middleware: it times everything the app does for a page, including the other middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not errors.is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = b"app;dur=%.1f" % ((perf_counter() - started) * 1000)
                message["headers"] = [*message.get("headers", ()), (HEADER, value)]
            await send(message)

        await self.app(scope, receive, timed)
