"""ASGI middleware for the API surfaces."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class DefaultJsonContentType:
    """Treat a request body without a Content-Type as JSON, as the reference server (which ignores the header)
    does; scripts written against it with ``curl -d`` omit the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT"):
            headers = scope["headers"]
            if not any(name == b"content-type" for name, _ in headers):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
