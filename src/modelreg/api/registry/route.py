"""The registry's route class: FastAPI's request handling, less its per-request machinery where a route needs none.

FastAPI serves a request through two ``AsyncExitStack``s, an exception-handling wrapper, a content-type parse with
``email.message``, and ``solve_dependencies`` (sub-requests and caches for every dependency); on a get-by-id that
was about a sixth of the server's CPU (docs/performance.md). Most registry routes take only path parameters, the
service (an ``app.state`` attribute) and at most one JSON body. For those, ``RegistryRoute`` runs the same steps
itself with FastAPI's own functions (``request_params_to_args``, ``request_body_to_args``: the same validation, the
same values) and calls the endpoint. Any request they do not accept as is (an invalid parameter or body, an empty
body, another content type) goes to FastAPI's handler, with the body replayed, so every error is FastAPI's and
reads exactly as before. Routes with query or header parameters, or other dependencies, are FastAPI's throughout.
Exceptions the endpoint raises reach the app's exception handlers (``api/errors.py``) either way.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.api.deps import STATE_GETTERS

_JSON = b"application/json"  # what api/middleware.py makes every registry request body say


class RegistryRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        lean = _lean_app(self, self.app)
        if lean is not None:
            self.app = lean


def _lean_app(route: APIRoute, full: ASGIApp) -> ASGIApp | None:
    """The lean ASGI app of ``route``, or None if the route needs more than it does (see the module docstring)."""
    dependant = route.dependant
    if dependant.query_params or dependant.header_params or dependant.cookie_params or dependant.call is None:
        return None
    if len(dependant.body_params) > 1 or any(d.call not in STATE_GETTERS for d in dependant.dependencies):
        return None
    if not all(d.name for d in dependant.dependencies) or not _answers_itself(dependant.call):
        return None
    state = [(str(d.name), STATE_GETTERS[d.call]) for d in dependant.dependencies if d.call is not None]
    path_params = dependant.path_params
    body_params = dependant.body_params
    embed = route._embed_body_fields
    endpoint: Callable[..., Coroutine[Any, Any, Any]] = dependant.call

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        values, errors = request_params_to_args(path_params, scope["path_params"])
        if errors:
            await full(scope, receive, send)
            return
        if body_params:
            body = await _read_body(receive)
            parsed = _json_body(scope, body)
            if parsed is None:
                await full(scope, _replay(body, receive), send)
                return
            body_values, errors = await request_body_to_args(body_params, parsed[0], embed)
            if errors:
                await full(scope, _replay(body, receive), send)
                return
            values.update(body_values)
        app_state = scope["app"].state
        for name, attribute in state:
            values[name] = getattr(app_state, attribute)
        response: Response = await endpoint(**values)
        await response(scope, receive, send)

    return app


def _answers_itself(call: Callable[..., Any]) -> bool:
    """A coroutine (``_database_call``'s wrapper) annotated to return a ``Response``: FastAPI passes those on
    as they are, with no response model to validate or serialize."""
    return inspect.iscoroutinefunction(call) and inspect.signature(call).return_annotation in (Response, "Response")


async def _read_body(receive: Receive) -> bytes:
    """The whole request body, as ``Request.body()`` reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _json_body(scope: Scope, body: bytes) -> tuple[Any] | None:
    """The decoded body (in a 1-tuple, as JSON ``null`` is a value), if FastAPI would decode it the same way:
    a non-empty body said to be ``application/json`` that ``json.loads`` (what ``Request.json()`` uses) reads."""
    if not body:
        return None
    content_type = [v for k, v in scope["headers"] if k == b"content-type"]
    if content_type != [_JSON]:
        return None
    try:
        return (json.loads(body),)
    except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` again, then whatever the connection sends next."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
