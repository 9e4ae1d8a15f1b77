"""OIDC authorization-code login against a real OIDC provider on localhost (``oidc-provider-mock``), through the
whole redirect dance: our /login/oidc → the provider's authorize form → our callback with the code."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson
import pytest
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select, update

from modelreg.db.tables import ui_sessions
from modelreg.ui import web
from ui.conftest import MakeUiApp, UiApp

with warnings.catch_warnings():
    # The mock imports authlib.jose, which Authlib deprecates (a warning in the test tool, not in modelreg).
    warnings.simplefilter("ignore")
    import oidc_provider_mock

# The mock provider runs Authlib's OIDC server code, which warns about its own deprecated pieces while it issues a
# token (in the provider's thread; warning filters are process-wide): the provider's warnings, not modelreg's.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
CLIENT_ID = "modelreg-ui"
whoami = APIRouter()


@whoami.get("/whoami-page")
def whoami_page(ui: web.UiDep) -> Response:
    return HTMLResponse(
        f"user={ui.principal.user} groups={','.join(ui.principal.groups)} role={ui.role} via={ui.method}"
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def add_provider_user(provider: str, sub: str, claims: dict[str, Any]) -> None:
    answer = httpx.put(f"{provider}/users/{quote(sub)}", json=claims, timeout=10)
    assert answer.status_code == 204, answer.text


@pytest.fixture
def app(make_ui_app: MakeUiApp, provider: str) -> UiApp:
    oidc = {
        "issuer": provider,
        "audience": CLIENT_ID,
        "jwks_url": f"{provider}/jwks",
        "client_id": CLIENT_ID,
        "client_secret": "s3cret",
        "scopes": "openid profile email",
    }
    ui_app = make_ui_app(methods=("oidc", "password"), auth={"oidc": oidc})
    ui_app.app.include_router(whoami)
    ui_app.bind("group", "ml-team", "developer")
    return ui_app


def start_login(browser: Any, next_path: str = "/whoami-page") -> str:
    """Our /login/oidc: the provider's authorize URL it sends the browser to."""
    answer = browser.get("/login/oidc", params={"next": next_path})
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def authorize_at_provider(authorize_url: str, sub: str, action: str | None = None) -> str:
    """Post the provider's login form as a person would; the URL of our callback it redirects to."""
    form = httpx.get(authorize_url, timeout=10)
    assert form.status_code == 200, form.text
    data = {"sub": sub} if action is None else {"action": action}
    answer = httpx.post(authorize_url, data=data, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    return str(answer.headers["location"])


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_oidc_login_through_the_provider(app: UiApp, provider: str) -> None:
    add_provider_user(provider, "u-123", {"preferred_username": "alice", "groups": ["ml-team"]})
    browser = app.client()
    authorize_url = start_login(browser)
    params = parse_qs(urlsplit(authorize_url).query)
    assert params["code_challenge_method"] == ["S256"]
    assert params["client_id"] == [CLIENT_ID]
    assert params["redirect_uri"] == ["http://testserver/login/oidc/callback"]
    assert params["state"][0] and params["nonce"][0] and params["code_challenge"][0]
    callback = authorize_at_provider(authorize_url, "u-123")
    assert callback.startswith("http://testserver/login/oidc/callback?")
    before = browser.cookies["modelreg_session"]
    answer = browser.get(path_of(callback))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/whoami-page"
    assert browser.cookies["modelreg_session"] != before  # a new session at login
    page = browser.get("/whoami-page")
    assert page.text == "user=alice groups=ml-team role=developer via=oidc"


def test_a_callback_with_another_state_is_refused(app: UiApp, provider: str) -> None:
    add_provider_user(provider, "u-2", {"preferred_username": "bob"})
    victim = app.client()
    callback = authorize_at_provider(start_login(victim), "u-2")
    attacker = app.client()  # the code and state, replayed in another browser (login CSRF)
    attacker.get("/login")
    answer = attacker.get(path_of(callback))
    assert answer.status_code == 401
    assert "not started here" in answer.text
    assert attacker.get("/whoami-page").status_code == 303


def test_a_refused_login_at_the_provider_says_so(app: UiApp) -> None:
    browser = app.client()
    callback = authorize_at_provider(start_login(browser), "", action="deny")
    answer = browser.get(path_of(callback))
    assert answer.status_code == 401
    assert "did not log you in" in answer.text
    assert browser.get("/whoami-page").status_code == 303


def test_an_id_token_with_another_nonce_is_refused(app: UiApp, provider: str) -> None:
    add_provider_user(provider, "u-3", {"preferred_username": "carol"})
    browser = app.client()
    authorize_url = start_login(browser)
    with app.db.write() as conn:  # the session now expects another nonce than the one the provider signs
        row = conn.execute(select(ui_sessions.c.id, ui_sessions.c.data).where(ui_sessions.c.data.is_not(None))).one()
        data = orjson.loads(row.data)
        data["oidc"]["nonce"] = "another"
        conn.execute(update(ui_sessions).where(ui_sessions.c.id == row.id).values(data=orjson.dumps(data).decode()))
    answer = browser.get(path_of(authorize_at_provider(authorize_url, "u-3")))
    assert answer.status_code == 401
    assert "nonce" in answer.text
    assert browser.get("/whoami-page").status_code == 303


def test_the_redirect_uri_follows_the_public_url(make_ui_app: MakeUiApp, provider: str) -> None:
    oidc = {"issuer": provider, "audience": CLIENT_ID, "jwks_url": f"{provider}/jwks", "client_id": CLIENT_ID}
    app = make_ui_app(methods=("oidc",), auth={"oidc": oidc}, ui={"public_url": "https://models.example.com/"})
    params = parse_qs(urlsplit(start_login(app.client())).query)
    assert params["redirect_uri"] == ["https://models.example.com/login/oidc/callback"]
