"""ASGI middleware for the API surfaces (the body limit covers the web UI too)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.api.errors import error_response

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


_UNLIMITED_PUTS = "/api/storage/v1/uploads/"  # PUT .../uploads/{id}/files/{path}: file bytes, streamed to the store
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with a 413 before anything parses it: at once when its
    Content-Length says so, else (a chunked body) as soon as the bytes received pass the limit. A body within a
    declared Content-Length needs no counting (the HTTP server delivers exactly that many bytes), so the hot path
    costs one header scan. Every path is covered: the APIs' JSON and the web UI's form posts (which Starlette would
    otherwise read whole into memory, before login too). Upload PUTs are file bytes that stream to the store: they
    have no limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.too_large = f"request body too large: this server accepts at most {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in _NO_BODY_METHODS
            or (scope["method"] == "PUT" and scope["path"].startswith(_UNLIMITED_PUTS))
        ):
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and not chunked:
            if declared.isdigit() and int(declared) > self.limit:
                await error_response(413, f"{self.too_large} (Content-Length: {int(declared)})")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Raised into the reading handler: FastAPI passes an HTTPException on, api/errors.py answers it.
                    raise HTTPException(413, self.too_large)
            return message

        return counted
