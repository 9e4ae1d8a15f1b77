"""What every page of the web UI shares: who the caller is (``UiDep``), rendering (``render``), form posts with
their CSRF check (``form``), redirects with a flash message (``redirect``) and running a service call as the caller
(``acting``); ``install`` adds sessions, security headers, static files and HTML error pages to the app.

Who the caller is, per request (docs/ui.md, "Sessions"):
- local mode (no auth methods): local mode's anonymous admin, loopback clients only;
- a trusted proxy's identity headers (proxy auth): that user, each request;
- otherwise the user of the session cookie (password or OIDC login); nobody: a GET goes to ``/login?next=``, any
  other method is refused (403: a form post without a live session cannot carry a valid CSRF token). A visitor of
  the login pages costs no database write: its CSRF token is stateless (``visitors``).
Roles come from the role bindings, through the authenticator's cached binding table, as for the APIs. The
identity's method is ``ui/<method>``, so audit records say the change came from the web UI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.auth import context
from modelreg.auth.authenticator import LOCAL, Authenticator
from modelreg.auth.principal import Identity, Permission, Principal, Role
from modelreg.errors import Forbidden
from modelreg.services.secrets import SecretBox
from modelreg.services.users import UserService
from modelreg.ui import assets, errors, formatting, timing, visitors
from modelreg.ui.sessions import COOKIE, VISITOR, Session, SessionStore

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["static_url"] = assets.static_url
templates.env.filters.update(formatting.FILTERS)
FLASH_COOKIE = "modelreg_flash"
NOBODY = Principal(Identity("", (), "ui/visitor"))  # a visitor who has not logged in: no role, no permission
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
_STATE_KEY = "modelreg_ui"
_current: ContextVar[Ui | None] = ContextVar("modelreg_ui", default=None)
_ROLE_ORDER = (Role.ADMIN, Role.DEVELOPER, Role.VIEWER)
T = TypeVar("T")


@dataclass
class Ui:
    """The caller of one page request, and what its response must tell the browser (cookies, flashes)."""

    request: Request
    principal: Principal
    csrf_token: str
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): success | danger | info
    new_cookie: bool = False  # the session (or visitor nonce) is new with this request: no form of it was posted
    session: Session | None = None
    cookie: str | None = None  # the new session's cookie value, set on the response
    end_session: bool = False  # logout: the response deletes the cookie
    pending_flashes: list[tuple[str, str]] = field(default_factory=list)  # for the next page (``redirect``)
    clear_flash: bool = False  # the flash cookie was shown: the response deletes it
    visitor_nonce: str | None = None  # a new visitor nonce, set on the response (``visitors``)
    forget_visitor: bool = False  # logged in: the response deletes the visitor cookie

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)

    @property
    def signed_in(self) -> bool:
        return bool(self.principal.user) and self.principal.identity.method != NOBODY.identity.method

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.principal.roles

    @property
    def role(self) -> str:
        """The highest role, as the masthead shows it."""
        return next((r.value for r in _ROLE_ORDER if r in self.principal.roles), "no role")

    @property
    def method(self) -> str:
        """How the caller logged in: password | oidc | proxy | local | visitor."""
        return self.principal.identity.method.removeprefix("ui/")

    def start_session(self, store: SessionStore, method: str, user: str, groups: tuple[str, ...]) -> None:
        """Log in: end the current session and start a new one (a new id, so a planted cookie is worthless)."""
        if self.session is not None:
            store.end(self.session.id)
        self.cookie, self.session = store.create(method, user, groups)
        self.csrf_token = self.session.csrf_token
        self.new_cookie = True
        self.visitor_nonce = None
        self.forget_visitor = True

    def visitor_session(self, store: SessionStore) -> Session:
        """The visitor's session, made now if it has none: only for a login that keeps state on the server (OIDC),
        once the visitor starts it. The CSRF token stays the stateless one."""
        if self.session is None or self.session.method != VISITOR:
            if self.session is not None:
                store.end(self.session.id)
            self.cookie, self.session = store.create(VISITOR)
        return self.session

    def logout(self, store: SessionStore) -> None:
        """End the session; the browser is a visitor again (a new nonce, which also signs the next page's flash)."""
        if self.session is not None:
            store.end(self.session.id)
        self.session = None
        self.cookie = None
        self.end_session = True
        self.visitor_nonce = visitors.new_nonce()
        self.csrf_token = _visitor_tokens(self.request).token(self.visitor_nonce)


# --- who is calling -----------------------------------------------------------------------------------------------


def login_methods(request: Request) -> frozenset[str]:
    """The interactive logins this server offers: password, oidc."""
    settings = request.app.state.settings.auth
    out = set()
    if "password" in settings.methods:
        out.add("password")
    if settings.methods and settings.oidc.client_id and settings.oidc.issuer:
        out.add("oidc")
    return frozenset(out)


def _resolve(request: Request, login_required: bool) -> Ui:
    auth: Authenticator = request.app.state.authenticator
    store: SessionStore = request.app.state.ui_sessions
    peer = request.client.host if request.client else None
    session = store.find(request.cookies.get(COOKIE))
    cookie: str | None = None
    identity: Identity | None = None
    if auth.local_mode:
        local = auth.local_principal(peer)  # Unauthenticated (401 page) for a client that is not loopback
        identity = Identity(local.user, (), "ui/local")
        if session is None or session.method != "local":
            cookie, session = _replace(store, session, "local", local.user, ())
    else:
        proxied = auth.proxy_identity(request.headers.raw, peer)
        if proxied is not None:
            identity = Identity(proxied.user, proxied.groups, "ui/proxy")
            if session is None or session.method != "proxy" or session.user != proxied.user:
                cookie, session = _replace(store, session, "proxy", proxied.user, proxied.groups)
        elif session is not None and session.user and session.method in login_methods(request):
            identity = Identity(session.user, session.groups, f"ui/{session.method}")
        elif login_required:
            if request.method in ("GET", "HEAD"):
                raise errors.LoginRequired(_next_of(request))
            raise Forbidden("you are not logged in, or your session has ended: log in and try again")
        else:
            return _visitor(request, session)
    assert session is not None
    if identity is None:
        principal = NOBODY
    elif auth.local_mode:
        principal = Principal(identity, LOCAL.roles)
    else:
        principal = auth.principal_for(identity)
    return Ui(request, principal, session.csrf_token, new_cookie=cookie is not None, session=session, cookie=cookie)


def _visitor_tokens(request: Request) -> visitors.VisitorTokens:
    tokens: visitors.VisitorTokens = request.app.state.ui_visitors
    return tokens


def _visitor(request: Request, session: Session | None) -> Ui:
    """A visitor of the login pages: no role, and a stateless CSRF token (no write; a new nonce if it has none).
    ``session`` is kept (a started OIDC login, or a session whose login method is no longer offered): logging in
    ends it."""
    nonce = request.cookies.get(visitors.COOKIE)
    fresh = not visitors.well_formed(nonce)
    if fresh or nonce is None:
        nonce = visitors.new_nonce()
    token = _visitor_tokens(request).token(nonce)
    return Ui(request, NOBODY, token, new_cookie=fresh, session=session, visitor_nonce=nonce if fresh else None)


def _replace(
    store: SessionStore, old: Session | None, method: str, user: str | None, groups: tuple[str, ...]
) -> tuple[str, Session]:
    if old is not None:
        store.end(old.id)
    return store.create(method, user, groups)


def _next_of(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None, default: str = "/catalog") -> str:
    """``value`` if it is a path on this site, else ``default``: no open redirect through ``?next=``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(c in value for c in "\\\r\n\t") or any(ord(c) < 0x20 for c in value):
        return default
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


async def _caller(request: Request, login_required: bool) -> Ui:
    db = request.app.state.db
    if db.inline:
        ui = _resolve(request, login_required)
    else:
        ui = await anyio.to_thread.run_sync(_resolve, request, login_required)
    setattr(request.state, _STATE_KEY, ui)
    _current.set(ui)
    return ui


async def ui_caller(request: Request) -> Ui:
    """The caller of a page that needs one (every page but the login pages)."""
    return await _caller(request, login_required=True)


async def ui_visitor(request: Request) -> Ui:
    """The caller of a login page: a visitor (no role) unless already logged in."""
    return await _caller(request, login_required=False)


UiDep = Annotated[Ui, Depends(ui_caller)]
VisitorDep = Annotated[Ui, Depends(ui_visitor)]


# --- pages, forms, redirects --------------------------------------------------------------------------------------


def render(ui: Ui, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """The page ``template`` (under ui/templates) with ``ui`` and ``ctx``; ``base.html`` reads ``ui``."""
    setattr(
        ui.request.state, _STATE_KEY, ui
    )  # the one whose cookies the response sets (a test may pass a modified copy)
    shown = _flashes_of(ui)
    if shown:
        ui.flashes = [*shown, *ui.flashes]
        ui.clear_flash = True
    return templates.TemplateResponse(ui.request, template, {"ui": ui, **ctx}, status_code=status_code)


async def form(ui: Ui) -> Mapping[str, str]:
    """The posted form's fields (text only), after the CSRF check: 403 without the caller's token."""
    data = await ui.request.form()
    token = data.get("csrf_token")
    if (
        ui.new_cookie
        or not ui.csrf_token
        or not isinstance(token, str)
        or not secrets.compare_digest(token.encode(), ui.csrf_token.encode())
    ):
        raise Forbidden("the form's CSRF token is missing or not this session's: reload the page and try again")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def redirect(url: str, flash: str | None = None, kind: str = "success") -> RedirectResponse:
    """303 to ``url``; ``flash`` is shown once on the next page."""
    ui = _current.get()
    if flash and ui is not None:
        ui.pending_flashes.append((kind, flash[:500]))
    return RedirectResponse(url, status_code=303)


@contextmanager
def acting(ui: Ui) -> Iterator[None]:
    """Run service calls as the page's caller (their permission checks and audit records)."""
    auth: Authenticator = ui.request.app.state.authenticator
    peer = ui.request.client.host if ui.request.client else None
    client = auth.client_address(ui.request.headers.raw, peer)
    with context.acting_as(context.CallContext(ui.principal, client=client)):
        yield


async def run_as(ui: Ui, fn: Callable[[], T]) -> T:
    """A blocking call (database, stores, cluster) in a worker thread, as the page's caller."""

    def call() -> T:
        with acting(ui):
            return fn()

    return await anyio.to_thread.run_sync(call)


# --- flash messages: a cookie signed with the session's CSRF token (so another site cannot plant one) -------------


def _sign(key: str, payload: bytes) -> str:
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()[:32]


def _flash_cookie(ui: Ui) -> str:
    payload = base64.urlsafe_b64encode(orjson.dumps(ui.pending_flashes[:5])).decode()
    return f"{payload}.{_sign(ui.csrf_token, payload.encode())}"


def _flashes_of(ui: Ui) -> list[tuple[str, str]]:
    raw = ui.request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    payload, _, mac = raw.partition(".")
    if not hmac.compare_digest(mac.encode(), _sign(ui.csrf_token, payload.encode()).encode()):
        return []
    try:
        items = orjson.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, orjson.JSONDecodeError):
        return []
    return [(str(k), str(t)) for k, t in items if k in ("success", "danger", "info", "warning")]


# --- the app ------------------------------------------------------------------------------------------------------


def https(request_scope: Scope, auth: Authenticator) -> bool:
    """Whether the browser talks https to us: directly, or to a trusted proxy that says so."""
    if request_scope.get("scheme") == "https":
        return True
    peer = request_scope["client"][0] if request_scope.get("client") else None
    if not auth.trusted_proxy(peer):
        return False
    for name, value in request_scope["headers"]:
        if name == b"x-forwarded-proto":
            proto: str = value.decode("latin-1").split(",")[0].strip().lower()
            return proto == "https"
    return False


class UiResponses:
    """ASGI middleware on every UI response (not ``/api``): the security headers, and the cookies the request's
    ``Ui`` asks for (a new session, a logout, flash messages)."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, settings_ttl: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.ttl = settings_ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not errors.is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                ui = scope.get("state", {}).get(_STATE_KEY)
                if isinstance(ui, Ui):
                    for cookie in self._cookies(ui, https(scope, self.authenticator)):
                        headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookies(self, ui: Ui, secure: bool) -> list[str]:
        scratch = Response()
        if ui.cookie is not None:
            scratch.set_cookie(
                COOKIE, ui.cookie, max_age=self.ttl, httponly=True, samesite="lax", secure=secure, path="/"
            )
        elif ui.end_session:
            scratch.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=secure, path="/")
        if ui.visitor_nonce is not None:
            scratch.set_cookie(
                visitors.COOKIE, ui.visitor_nonce, httponly=True, samesite="lax", secure=secure, path="/"
            )
        elif ui.forget_visitor and visitors.COOKIE in ui.request.cookies:
            scratch.delete_cookie(visitors.COOKIE, httponly=True, samesite="lax", secure=secure, path="/")
        if ui.pending_flashes and not (ui.end_session and ui.visitor_nonce is None):
            scratch.set_cookie(FLASH_COOKIE, _flash_cookie(ui), httponly=True, samesite="lax", secure=secure, path="/")
        elif ui.clear_flash or ui.end_session:
            scratch.delete_cookie(FLASH_COOKIE, httponly=True, samesite="lax", secure=secure, path="/")
        return [v.decode("latin-1") for k, v in scratch.raw_headers if k == b"set-cookie"]


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    ui = getattr(request.state, _STATE_KEY, None)
    if not isinstance(ui, Ui):
        ui = Ui(request, NOBODY, "")
    return render(ui, "error.html", status_code=status, title=title, message=message)


def install(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.ui_sessions = SessionStore(app.state.db, settings.ui)
    app.state.ui_visitors = visitors.VisitorTokens(SecretBox(settings.storage, settings.data_dir))
    if getattr(app.state, "users", None) is None:
        app.state.users = UserService(app.state.db)
    app.add_middleware(UiResponses, authenticator=app.state.authenticator, settings_ttl=settings.ui.session_ttl_seconds)
    errors.install(app, _error_page, login_url)
    app.include_router(assets.router)
    app.add_middleware(timing.ServerTiming)  # last added, so outermost: it times the other middleware too
