"""Visitors who have not logged in cost no database write: their CSRF token is stateless (a nonce cookie and its
HMAC under a key derived from the storage secret key), accepted by every app sharing the database and its key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.db.tables import ui_sessions
from modelreg.services.secrets import generate_key
from modelreg.services.users import UserService
from modelreg.ui import visitors
from modelreg.ui.sessions import COOKIE
from ui.conftest import CHEAP_HASHER, PASSWORD, MakeUiApp, UiApp, csrf_of


def session_rows(app: UiApp) -> int:
    with app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(ui_sessions)).scalar_one())


@pytest.fixture
def app(ui_app: UiApp) -> UiApp:
    ui_app.add_user("dev", role="developer")
    return ui_app


def login_form(token: str | None) -> dict[str, str]:
    data = {"username": "dev", "password": PASSWORD, "next": "/catalog"}
    return data if token is None else {**data, "csrf_token": token}


def test_anonymous_requests_write_no_session(app: UiApp) -> None:
    for _ in range(5):
        fresh = app.client()  # no cookies at all, as a script filling the database would send
        assert fresh.get("/login").status_code == 200
        assert fresh.get("/registry").status_code == 303
        assert fresh.get("/login", params={"next": "/registry"}).status_code == 200
    browser = app.client()  # and a browser keeping its visitor cookie
    for _ in range(3):
        assert browser.get("/login").status_code == 200
    assert session_rows(app) == 0


def test_the_visitor_token_logs_in_and_makes_the_only_session(app: UiApp) -> None:
    browser = app.client()
    page = browser.get("/login")
    answer = browser.post("/login", data=login_form(csrf_of(page)))
    assert answer.status_code == 303
    assert session_rows(app) == 1
    assert browser.get("/registry").status_code == 200
    assert visitors.COOKIE not in browser.cookies  # the visitor cookie is dropped at login


def test_the_visitor_token_stays_while_the_cookie_does(app: UiApp) -> None:
    browser = app.client()
    first = csrf_of(browser.get("/login"))
    assert csrf_of(browser.get("/login")) == first  # two tabs with the login form: either may post
    assert csrf_of(app.client().get("/login")) != first  # another browser: another token


@pytest.mark.parametrize("case", ["missing", "forged", "another visitor's", "no cookie", "planted cookie"])
def test_a_login_post_without_its_own_visitor_token_is_refused(app: UiApp, case: str) -> None:
    browser = app.client()
    own = csrf_of(browser.get("/login"))
    other = app.client()
    tokens: dict[str, str | None] = {
        "missing": None,
        "forged": own[:-4] + ("AAAA" if not own.endswith("AAAA") else "BBBB"),
        "another visitor's": csrf_of(other.get("/login")),
        "no cookie": own,
        "planted cookie": own,
    }
    if case == "no cookie":
        browser.cookies.delete(visitors.COOKIE)
    if case == "planted cookie":  # a sibling site can set the cookie, but knows no key to sign it with
        browser.cookies.delete(visitors.COOKIE)  # replaced, not added beside it (httpx2's jar keeps both by domain)
        browser.cookies.set(visitors.COOKIE, visitors.new_nonce())
    answer = browser.post("/login", data=login_form(tokens[case]))
    assert answer.status_code == 403
    assert "CSRF token" in answer.text
    assert COOKIE not in browser.cookies
    assert session_rows(app) == 0


def test_signing_out_says_so_on_the_login_page(app: UiApp) -> None:
    browser = app.logged_in("dev")
    token = csrf_of(browser.get("/registry"))
    answer = browser.post("/logout", data={"csrf_token": token})
    assert answer.headers["location"] == "/login"
    page = browser.get("/login")
    assert "You have signed out." in page.text
    assert "You have signed out." not in browser.get("/login").text  # shown once
    assert session_rows(app) == 0
    assert app.login(browser, "dev").status_code == 303  # the new visitor token logs in again


@contextmanager
def second_app(first: UiApp, **storage: Any) -> Iterator[TestClient]:
    """Another server (``create_app``) on the same database file and data directory as ``first``."""
    settings = first.settings.model_copy(update={"storage": first.settings.storage.model_copy(update=storage)})
    db = Database(settings.database_url, settings.database)
    try:
        app = create_app(settings, db)
        app.state.users = UserService(db, CHEAP_HASHER)
        with TestClient(app, client=("127.0.0.1", 50000), follow_redirects=False) as client:
            yield client
    finally:
        db.dispose()


def test_another_server_on_the_database_accepts_the_token(app: UiApp) -> None:
    browser = app.client()
    token = csrf_of(browser.get("/login"))  # the form comes from one server...
    with second_app(app) as other:  # ...and is posted to another (a load balancer without sticky sessions)
        other.cookies.set(visitors.COOKIE, browser.cookies[visitors.COOKIE])
        answer = other.post("/login", data=login_form(token))
        assert answer.status_code == 303, answer.text
        browser.cookies.set(COOKIE, other.cookies[COOKIE])
    assert browser.get("/registry").status_code == 200


def test_a_server_with_another_key_refuses_the_token(make_ui_app: MakeUiApp) -> None:
    app = make_ui_app(storage={"secret_key": generate_key()})
    app.add_user("dev", role="developer")
    browser = app.client()
    token = csrf_of(browser.get("/login"))
    with second_app(app, secret_key=generate_key()) as other:
        other.cookies.set(visitors.COOKIE, browser.cookies[visitors.COOKIE])
        assert other.post("/login", data=login_form(token)).status_code == 403
