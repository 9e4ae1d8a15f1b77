"""ASGI middleware for the API surfaces."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_API = "/api/"
_REGISTRY_API = "/api/model_registry/"  # like the reference: every body is JSON, whatever it says
_FORM = b"application/x-www-form-urlencoded"


class DefaultJsonContentType:
    """Read API request bodies as JSON, as the Kubeflow reference server does: scripts written against it use
    ``curl -d``, which sends ``application/x-www-form-urlencoded``. The registry API reads every body as JSON; the
    other APIs only those sent as form, plain text or untyped (an upload's ``multipart/form-data`` stays)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT") and scope["path"].startswith(_API):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            given = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            plain = not given or given.split(b";")[0].strip().lower() in (_FORM, b"text/plain")
            if plain or scope["path"].startswith(_REGISTRY_API):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
