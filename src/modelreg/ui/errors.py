"""Errors on UI pages are pages: the same domain errors as the APIs (``modelreg.errors``), with the same status
codes, rendered as HTML for a browser. Paths of the APIs keep their JSON bodies: the handlers installed here wrap
the ones ``api/errors.py`` installed and hand those paths back to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelreg.errors import RegistryError

log = logging.getLogger("modelreg")

# Everything else is the web UI's: the APIs, the bridge, the API docs and the health checks keep their own bodies.
_NOT_UI = ("/api/", "/bridge", "/docs", "/openapi.json", "/readyz")

ErrorPage = Callable[[Request, int, str, str], Response]
Handler = Callable[[Request, Any], Any]


class LoginRequired(Exception):
    """A page needs a logged-in user and there is none: 303 to the login page, which comes back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_ui_path(path: str) -> bool:
    return not path.startswith(_NOT_UI)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install(app: FastAPI, page: ErrorPage, login_url: Callable[[str], str]) -> None:
    """Wrap the app's handlers for ``RegistryError``, HTTP errors (an unknown URL) and bad parameters."""
    api_registry = app.exception_handlers.get(RegistryError)
    api_http = app.exception_handlers.get(StarletteHTTPException)
    api_validation = app.exception_handlers.get(RequestValidationError)

    def delegate(fallback: Handler | None, request: Request, exc: Exception) -> Any:
        if fallback is None:
            raise exc
        return fallback(request, exc)

    async def registry_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)
        if not is_ui_path(request.url.path):
            return await delegate(api_registry, request, exc)  # type: ignore[no-any-return]
        if exc.status_code >= 500:
            log.warning("UI %s %s: %s", request.method, request.url.path, exc.message)
        return page(request, exc.status_code, _title(exc.status_code), exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_ui_path(request.url.path):
            return await delegate(api_http, request, exc)  # type: ignore[no-any-return]
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return page(request, exc.status_code, _title(exc.status_code), message)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_ui_path(request.url.path):
            return await delegate(api_validation, request, exc)  # type: ignore[no-any-return]
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()
        )
        return page(request, 400, "Bad Request", f"The address has a bad parameter ({problems}).")

    async def login_required(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    app.add_exception_handler(RegistryError, registry_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LoginRequired, login_required)
