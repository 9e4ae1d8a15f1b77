"""Authentication and the baseline authorization of every API request, as ASGI middleware.

Every request under ``/api/`` needs a principal; reads need the ``read`` permission and every other method the
``write`` permission, whatever the endpoint — so no write endpoint can be reached by a viewer, even one added
later without its own check. Endpoints that need more (archive, manage, ...) check it themselves, and services
check what depends on the data (a PATCH that archives). The principal, the request id (``telemetry.request_ids``,
set by the outer ``RequestTelemetry``, which also sends it back) and the client address are put in
``auth.context`` for the services and the audit trail.

Every decision uses the socket's peer address (uvicorn runs with proxy headers off): local mode's loopback check
and whether identity headers come from a trusted proxy. Only the address recorded for the audit trail may come
from ``X-Forwarded-For``, and only when the peer is a trusted proxy (``Authenticator.client_address``).
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from modelreg.api.errors import error_response
from modelreg.auth import context
from modelreg.auth.authenticator import Authenticator
from modelreg.auth.principal import Permission, Principal
from modelreg.errors import RegistryError
from modelreg.telemetry import request_ids

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Authentication:
    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, inline: bool, protected: Iterable[str] = ("/api/",)
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.inline = inline  # SQLite: a cache miss is answered on the event loop (see Database.inline)
        self.protected = tuple(protected)
        # Authenticated callers without any role may still ask who they are (to request the right binding).
        self.open_to_all = frozenset({"/api/governance/v1/whoami"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.protected):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        peer = scope["client"][0] if scope.get("client") else None
        try:
            principal = await principal_of(self.authenticator, headers, peer, inline=self.inline)
            if scope["path"] not in self.open_to_all:
                context.require_of(principal, _baseline(scope["method"]))
        except RegistryError as exc:
            response = error_response(exc.status_code, exc.message, exc.code)
            if exc.status_code == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="modelreg"'
            await response(scope, receive, send)
            return
        client = self.authenticator.client_address(headers, peer)
        request_id = request_ids.current() or request_ids.new()
        with context.acting_as(context.CallContext(principal, request_id, client)):
            await self.app(scope, receive, send)


async def principal_of(
    authenticator: Authenticator, headers: list[tuple[bytes, bytes]], peer: str | None, *, inline: bool
) -> Principal:
    """The caller: from the credential cache, else authenticated, on the event loop when ``inline`` (SQLite, and no
    verification that may wait on the network: ``app.state.auth_inline``), else in a worker thread."""
    principal = authenticator.cached(headers, peer)
    if principal is not None:
        return principal
    if inline:
        return authenticator.authenticate(headers, peer)
    return await anyio.to_thread.run_sync(authenticator.authenticate, headers, peer)


def _baseline(method: str) -> Permission:
    return Permission.READ if method in _SAFE_METHODS else Permission.WRITE
