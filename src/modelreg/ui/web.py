"""What every page of the web UI shares: who the caller is (``UiDep``), rendering (``render``), form posts with
their CSRF check (``form``), redirects with a flash message (``redirect``) and running a service call as the caller
(``acting``).

FIRST VERSION (skeleton): local mode only (every caller an anonymous admin) and a CSRF token in a cookie; the
sessions work replaces the internals, keeping these names and signatures.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from modelreg.auth import context
from modelreg.auth.authenticator import LOCAL
from modelreg.auth.principal import Permission, Principal
from modelreg.errors import Forbidden

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
_CSRF_COOKIE = "modelreg_csrf"


@dataclass
class Ui:
    """The caller of one page request."""

    request: Request
    principal: Principal
    csrf_token: str
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): success | danger | info
    new_cookie: bool = False

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)


async def ui_caller(request: Request) -> Ui:
    token = request.cookies.get(_CSRF_COOKIE)
    new = token is None
    return Ui(request, LOCAL, token or secrets.token_urlsafe(32), new_cookie=new)


UiDep = Annotated[Ui, Depends(ui_caller)]


def render(ui: Ui, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """The page ``template`` (under ui/templates) with ``ui`` and ``ctx``; ``base.html`` reads ``ui``."""
    response = templates.TemplateResponse(ui.request, template, {"ui": ui, **ctx}, status_code=status_code)
    if ui.new_cookie:
        response.set_cookie(_CSRF_COOKIE, ui.csrf_token, httponly=True, samesite="lax")
    return response


async def form(ui: Ui) -> Mapping[str, str]:
    """The posted form's fields (text only), after the CSRF check: 403 without the caller's token."""
    data = await ui.request.form()
    if ui.new_cookie or not secrets.compare_digest(str(data.get("csrf_token", "")), ui.csrf_token):
        raise Forbidden("the form's CSRF token is missing or not this session's: reload the page and try again")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def redirect(url: str, flash: str | None = None, kind: str = "success") -> RedirectResponse:
    """303 to ``url``; ``flash`` is shown once on the next page."""
    return RedirectResponse(url, status_code=303)


@contextmanager
def acting(ui: Ui) -> Iterator[None]:
    """Run service calls as the page's caller (their permission checks and audit records)."""
    client = ui.request.client.host if ui.request.client else None
    with context.acting_as(context.CallContext(ui.principal, client=client)):
        yield


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
