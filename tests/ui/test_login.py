"""The login page: local accounts (success, failures, disabled users, throttling), which methods it offers, and
where it goes afterwards (``next``, never another site)."""

from __future__ import annotations

import pytest

from modelreg.auth import context
from modelreg.ui import login, visitors
from modelreg.ui.login import INVALID, LoginThrottle
from ui.conftest import PASSWORD, MakeUiApp, UiApp


def test_login_with_the_right_password_goes_to_next(ui_app: UiApp) -> None:
    ui_app.add_user("dev", groups=("team",), role="developer")
    browser = ui_app.client()
    answer = ui_app.login(browser, "dev", next_path="/registry?page=2")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/registry?page=2"
    page = browser.get("/login")  # logged in: the login page sends us on
    assert page.status_code == 303


@pytest.mark.parametrize(("username", "password"), [("dev", "wrong password"), ("nobody", PASSWORD)])
def test_a_bad_login_says_the_same_for_unknown_users(ui_app: UiApp, username: str, password: str) -> None:
    ui_app.add_user("dev", role="developer")
    browser = ui_app.client()
    answer = ui_app.login(browser, username, password)
    assert answer.status_code == 401
    assert INVALID in answer.text
    assert 'role="alert"' in answer.text  # next to the form, announced
    assert f'value="{username}"' in answer.text  # the name is kept, the password is not
    assert browser.get("/catalog").status_code == 303


def test_a_disabled_user_cannot_log_in(ui_app: UiApp) -> None:
    ui_app.add_user("dev", role="developer")
    with context.acting_as(context.system("tests")):
        ui_app.users.set_disabled("dev", True)
    assert ui_app.login(ui_app.client(), "dev").status_code == 401


def test_five_failures_lock_the_username_for_a_minute(ui_app: UiApp) -> None:
    ui_app.add_user("dev", role="developer")
    ui_app.add_user("other", role="developer")
    browser = ui_app.client()
    for _ in range(login.MAX_FAILURES):
        assert ui_app.login(browser, "dev", "wrong password").status_code == 401
    locked = ui_app.login(browser, "dev")  # even the right password
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.text
    assert ui_app.login(ui_app.client(), "other").status_code == 303  # other names are not affected


def test_the_throttle_forgets_after_the_lockout_and_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(login.MAX_FAILURES - 1):
        throttle.failed("dev")
    now[0] += login.WINDOW_SECONDS + 1  # the old failures fall out of the window
    throttle.failed("dev")
    assert throttle.locked("dev") == 0
    for _ in range(login.MAX_FAILURES - 1):
        throttle.failed("dev")
    assert throttle.locked("dev") == pytest.approx(login.LOCKOUT_SECONDS)
    now[0] += login.LOCKOUT_SECONDS
    assert throttle.locked("dev") == 0
    throttle.failed("dev")
    assert throttle.locked("dev") == 0  # a fresh count after the lockout


@pytest.mark.parametrize(
    "next_path",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil", "/\r\nx"],
)
def test_next_never_leaves_the_site(ui_app: UiApp, next_path: str) -> None:
    ui_app.add_user("dev", role="developer")
    answer = ui_app.login(ui_app.client(), "dev", next_path=next_path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/catalog"


def test_login_page_offers_the_configured_methods(make_ui_app: MakeUiApp) -> None:
    password_only = make_ui_app().client().get("/login").text
    assert 'name="password"' in password_only and "Log in with OIDC" not in password_only
    oidc = {"issuer": "http://127.0.0.1:9/", "client_id": "modelreg"}
    oidc_only = make_ui_app(methods=("token",), auth={"oidc": oidc}).client().get("/login").text
    assert 'name="password"' not in oidc_only and "Log in with OIDC" in oidc_only
    neither = make_ui_app(methods=("token",)).client().get("/login").text
    assert "offers no login for the web UI" in neither


def test_password_login_refused_when_not_enabled(make_ui_app: MakeUiApp) -> None:
    app = make_ui_app(methods=("token",))
    app.add_user("dev", role="developer")
    browser = app.client()
    browser.get("/login")  # no form to take the token from: the one of the visitor's nonce
    token = app.app.state.ui_visitors.token(browser.cookies[visitors.COOKIE])
    answer = browser.post("/login", data={"csrf_token": token, "username": "dev", "password": PASSWORD})
    assert answer.status_code == 400
    assert "not enabled" in answer.text
    assert browser.get("/catalog").status_code == 303
