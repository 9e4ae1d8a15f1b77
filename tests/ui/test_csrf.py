"""CSRF: a form post counts only with the token of the session that posts it (docs/ui.md, "CSRF")."""

from __future__ import annotations

import time

import pytest
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select, update

from modelreg.db.tables import role_bindings, ui_sessions
from modelreg.ui import web
from ui.conftest import PASSWORD, MakeUiApp, UiApp, bind_group_as, csrf_of

forms = APIRouter()


@forms.get("/csrf-probe")
def form_page(ui: web.UiDep) -> Response:
    return HTMLResponse(f'<form method="post"><input name="csrf_token" value="{ui.csrf_token}"></form>')


@forms.post("/csrf-probe")
async def bind(ui: web.UiDep) -> Response:
    fields = await web.form(ui)
    await bind_group_as(ui, fields["group"])
    return web.redirect("/catalog")


@pytest.fixture
def app(ui_app: UiApp) -> UiApp:
    ui_app.app.include_router(forms)
    ui_app.add_user("boss", role="admin")
    ui_app.add_user("mallory", role="admin")
    return ui_app


def bindings(app: UiApp) -> int:
    with app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(role_bindings)).scalar_one())


def test_the_sessions_own_token_is_accepted(app: UiApp) -> None:
    browser = app.logged_in("boss")
    before = bindings(app)
    answer = browser.post("/csrf-probe", data={"csrf_token": csrf_of(browser.get("/csrf-probe")), "group": "g"})
    assert answer.status_code == 303
    assert bindings(app) == before + 1


def test_a_post_without_the_token_is_refused(app: UiApp) -> None:
    browser = app.logged_in("boss")
    before = bindings(app)
    answer = browser.post("/csrf-probe", data={"group": "g"})
    assert answer.status_code == 403
    assert "CSRF token" in answer.text
    assert bindings(app) == before


def test_another_users_token_is_refused(app: UiApp) -> None:
    boss = app.logged_in("boss")
    mallory = app.logged_in("mallory")
    mallorys_token = csrf_of(mallory.get("/csrf-probe"))
    before = bindings(app)
    assert boss.post("/csrf-probe", data={"csrf_token": mallorys_token, "group": "g"}).status_code == 403
    assert bindings(app) == before


def test_the_token_of_an_expired_session_is_refused(make_ui_app: MakeUiApp) -> None:
    app = make_ui_app(methods=())  # local mode: a new session is made at once, so only the token is at stake
    app.app.include_router(forms)
    browser = app.client()
    token = csrf_of(browser.get("/csrf-probe"))
    with app.db.write() as conn:
        conn.execute(update(ui_sessions).values(expire_time=int(time.time() * 1000) - 1))
    before = bindings(app)
    assert browser.post("/csrf-probe", data={"csrf_token": token, "group": "g"}).status_code == 403
    assert bindings(app) == before


def test_the_login_form_needs_its_token_too(app: UiApp) -> None:
    browser = app.client()
    browser.get("/login")
    answer = browser.post("/login", data={"username": "boss", "password": PASSWORD})
    assert answer.status_code == 403
    assert browser.get("/catalog").status_code == 303
