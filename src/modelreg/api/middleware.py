"""ASGI middleware for the API surfaces."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_REGISTRY_API = "/api/model_registry/"


class DefaultJsonContentType:
    """Read Kubeflow API request bodies as JSON whatever their Content-Type, as the reference server does:
    scripts written against it use ``curl -d``, which sends ``application/x-www-form-urlencoded``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PATCH", "PUT")
            and scope["path"].startswith(_REGISTRY_API)
        ):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
