"""UI sessions: cookie flags, server-side expiry, logout, session fixation, who the caller is in each mode (local,
proxy, password), audit records saying "ui/...", flash messages, error pages, security headers, static files."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select, update

from conftest import empty
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, ui_sessions
from modelreg.errors import Conflict, NotFound
from modelreg.services.users import UserService
from modelreg.settings import UiSettings
from modelreg.ui import visitors, web
from modelreg.ui.sessions import COOKIE, VISITOR, SessionStore, session_id
from ui.conftest import CHEAP_HASHER, PASSWORD, MakeUiApp, UiApp, bind_group_as, csrf_of

# --- a page and a form of our own, so these tests do not depend on the areas' pages ------------------------------

probe = APIRouter()


@probe.get("/probe")
def probe_page(ui: web.UiDep) -> Response:
    return web.render(ui, "error.html", title="Probe", message=f"user={ui.principal.user} role={ui.role}")


@probe.post("/probe/bind")
async def probe_bind(ui: web.UiDep) -> Response:
    """A write through a service, as the areas' forms do: the role binding is audited as the caller."""
    fields = await web.form(ui)
    await bind_group_as(ui, fields["group"])
    return web.redirect("/probe", flash=f"Group {fields['group']} bound")


@probe.get("/probe/fail/{kind}")
def probe_fail(ui: web.UiDep, kind: str, count: int = 0) -> Response:
    if kind == "missing":
        raise NotFound("no model version found for id 7")
    raise Conflict("model name 'x' is taken")


def with_probe(ui_app: UiApp) -> UiApp:
    ui_app.app.include_router(probe)
    return ui_app


@pytest.fixture
def app(ui_app: UiApp) -> UiApp:
    return with_probe(ui_app)


def session_count(ui_app: UiApp) -> int:
    with ui_app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(ui_sessions)).scalar_one())


def set_cookie_headers(response: object) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]  # type: ignore[attr-defined]


def session_cookie_header(response: object, name: str = COOKIE) -> str:
    found = [c for c in set_cookie_headers(response) if c.startswith(f"{name}=")]
    assert len(found) == 1, set_cookie_headers(response)
    return found[0]


# --- cookie flags -------------------------------------------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_site_wide(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.client()
    answer = app.login(browser, "dev")
    assert answer.status_code == 303
    cookie = session_cookie_header(answer).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back


def test_visitor_cookie_is_httponly_lax_and_site_wide(app: UiApp) -> None:
    cookie = session_cookie_header(app.client().get("/login"), visitors.COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie


def test_session_cookie_is_secure_over_https(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.client(base_url="https://testserver")
    answer = app.login(browser, "dev")
    assert "secure" in session_cookie_header(answer).lower()


@pytest.mark.parametrize(("peer", "secure"), [("127.0.0.1", True), ("203.0.113.9", False)])
def test_forwarded_https_counts_from_a_trusted_proxy_only(app: UiApp, peer: str, secure: bool) -> None:
    browser = app.client(peer=peer, headers={"X-Forwarded-Proto": "https"})
    page = browser.get("/login")  # a visitor: the visitor cookie (the session cookie follows the same rule)
    assert page.status_code == 200
    assert ("secure" in session_cookie_header(page, visitors.COOKIE).lower()) is secure


# --- expiry, logout, fixation -------------------------------------------------------------------------------------


def _age(app: UiApp, column: str, ms: int) -> None:
    with app.db.write() as conn:
        conn.execute(update(ui_sessions).values({column: ms}))


def test_idle_session_ends_on_the_server(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    assert browser.get("/probe").status_code == 200
    idle_ms = app.settings.ui.session_idle_seconds * 1000
    _age(app, "last_seen", int(time.time() * 1000) - idle_ms - 1000)
    answer = browser.get("/probe")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/probe"
    with app.db.read() as conn:
        methods = set(conn.execute(select(ui_sessions.c.method)).scalars())
    assert "password" not in methods  # the expired row is gone, not just ignored


def test_absolute_expiry_ends_an_active_session(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    _age(app, "expire_time", int(time.time() * 1000) - 1)
    assert browser.get("/probe").status_code == 303


def test_recent_activity_keeps_the_session(make_ui_app: MakeUiApp) -> None:
    app = with_probe(make_ui_app(ui={"session_idle_seconds": 120}))
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    _age(app, "last_seen", int(time.time() * 1000) - 100_000)  # 100 s of 120 idle
    assert browser.get("/probe").status_code == 200
    assert browser.get("/probe").status_code == 200  # the first request moved last_seen forward


def test_logout_ends_the_session_on_the_server(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    cookie = browser.cookies[COOKIE]
    answer = browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/probe"))})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert "max-age=0" in session_cookie_header(answer).lower()
    replay = app.client()
    replay.cookies.set(COOKIE, cookie)  # a copy of the cookie kept from before the logout
    assert replay.get("/probe").status_code == 303


def test_login_starts_a_new_session(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.client()
    store: SessionStore = app.app.state.ui_sessions
    planted, _ = store.create(VISITOR)  # a visitor session (an OIDC login's) an attacker set in the browser
    browser.cookies.set(COOKIE, planted, domain="testserver.local")
    assert app.login(browser, "dev").status_code == 303
    assert browser.cookies[COOKIE] != planted
    attacker = app.client()
    attacker.cookies.set(COOKIE, planted)
    assert attacker.get("/probe").status_code == 303


def test_only_a_hash_of_the_cookie_is_stored(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    cookie = browser.cookies[COOKIE]
    with app.db.read() as conn:
        ids = set(conn.execute(select(ui_sessions.c.id)).scalars())
    assert cookie not in ids
    assert session_id(cookie) in ids


def test_changing_the_password_ends_the_users_sessions(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.logged_in("dev")
    with context.acting_as(context.system("tests")):
        app.users.set_password("dev", "another long password")
    assert browser.get("/probe").status_code == 303


# --- who the caller is ----------------------------------------------------------------------------------------------


def test_not_logged_in_get_goes_to_login_and_post_is_refused(app: UiApp) -> None:
    browser = app.client()
    answer = browser.get("/probe", params={"a": "1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/probe%3Fa%3D1"
    refused = browser.post("/probe/bind", data={"group": "g"})
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]


def test_local_mode_is_the_anonymous_admin_from_loopback_only(make_ui_app: MakeUiApp) -> None:
    app = with_probe(make_ui_app(methods=()))
    page = app.client().get("/probe")
    assert page.status_code == 200
    assert "user=anonymous role=admin" in page.text
    remote = app.client(peer="203.0.113.9").get("/probe")
    assert remote.status_code == 401
    assert "loopback" in remote.text


def test_proxy_identity_counts_from_a_trusted_address_only(make_ui_app: MakeUiApp) -> None:
    app = with_probe(make_ui_app(methods=("proxy",)))
    app.bind("group", "team", "developer")
    headers = {"X-Remote-User": "alice", "X-Remote-Group": "team"}
    trusted = app.client(peer="127.0.0.1", headers=headers).get("/probe")
    assert trusted.status_code == 200
    assert "user=alice role=developer" in trusted.text
    untrusted = app.client(peer="203.0.113.9", headers=headers).get("/probe")
    assert untrusted.status_code == 303  # the headers are ignored: not logged in


def test_a_new_proxy_user_gets_a_new_session(make_ui_app: MakeUiApp) -> None:
    app = with_probe(make_ui_app(methods=("proxy",)))
    browser = app.client(headers={"X-Remote-User": "alice"})
    assert "user=alice" in browser.get("/probe").text
    alice_cookie = browser.cookies[COOKIE]
    browser.headers["X-Remote-User"] = "bob"
    page = browser.get("/probe")
    assert "user=bob" in page.text
    assert browser.cookies[COOKIE] != alice_cookie
    assert session_count(app) == 1  # alice's session was discarded


def test_writes_are_audited_as_coming_from_the_ui(app: UiApp) -> None:
    app.add_user("boss", role="admin")
    browser = app.logged_in("boss")
    token = csrf_of(browser.get("/probe"))
    answer = browser.post("/probe/bind", data={"csrf_token": token, "group": "auditors"})
    assert answer.status_code == 303, answer.text
    with app.db.read() as conn:
        row = conn.execute(
            select(audit_log.c.actor, audit_log.c.via, audit_log.c.client).where(
                audit_log.c.entity_kind == "role_binding", audit_log.c.entity_name == "group:auditors"
            )
        ).one()
    assert row.actor == "boss"
    assert row.via == "ui/password"
    assert row.client == "127.0.0.1"


def test_roles_decide_what_a_page_offers_and_the_server_refuses_anyway(app: UiApp) -> None:
    app.add_user("boss", role="admin")
    app.add_user("viewer", role="viewer")
    admin_page = app.logged_in("boss").get("/probe").text
    viewer = app.logged_in("viewer")
    viewer_page = viewer.get("/probe").text
    assert 'href="/settings/' in admin_page
    assert 'href="/settings/' not in viewer_page
    assert "role=viewer" in viewer_page
    refused = viewer.post("/probe/bind", data={"csrf_token": csrf_of(viewer_page), "group": "x"})
    assert refused.status_code == 403
    assert "lacks the &#39;manage&#39; permission" in refused.text


# --- flash messages -------------------------------------------------------------------------------------------------


def test_a_flash_message_is_shown_once(app: UiApp) -> None:
    app.add_user("boss", role="admin")
    browser = app.logged_in("boss")
    token = csrf_of(browser.get("/probe"))
    answer = browser.post("/probe/bind", data={"csrf_token": token, "group": "readers"})
    assert answer.status_code == 303
    first = browser.get("/probe").text
    assert re.search(r'class="alert alert-success">Group readers bound<', first)
    assert "Group readers bound" not in browser.get("/probe").text


def test_a_flash_cookie_from_elsewhere_is_not_shown(app: UiApp) -> None:
    app.add_user("boss", role="admin")
    browser = app.logged_in("boss")
    browser.get("/probe")
    browser.cookies.set(web.FLASH_COOKIE, "W1sic3VjY2VzcyIsIkNhbGwgMTIzIl1d.0000")  # [["success","Call 123"]]
    assert "Call 123" not in browser.get("/probe").text


# --- error pages, headers, static files -----------------------------------------------------------------------------


@pytest.fixture
def admin(app: UiApp) -> Iterator[object]:
    app.add_user("boss", role="admin")
    yield app.logged_in("boss")


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/probe/fail/missing", 404, "no model version found for id 7"),
        ("/probe/fail/taken", 409, "model name &#39;x&#39; is taken"),
        ("/no/such/page", 404, "There is no page at this address."),
        ("/probe/fail/missing?count=many", 400, "count"),
    ],
)
def test_errors_on_pages_are_html_pages(admin: object, path: str, status: int, text: str) -> None:
    answer = admin.get(path)  # type: ignore[attr-defined]
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert text in answer.text
    assert "<main" in answer.text


def test_api_errors_stay_json(admin: object) -> None:
    answer = admin.get("/api/model_registry/v1alpha3/registered_models/999")  # type: ignore[attr-defined]
    assert answer.status_code in (401, 404)
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.json()) == {"code", "message"}


def test_ui_responses_carry_the_security_headers(app: UiApp) -> None:
    for answer in (app.client().get("/login"), app.client().get("/probe")):
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in app.client().get("/readyz/health").headers


def test_static_files_have_hashed_urls_and_long_lived_caching(app: UiApp) -> None:
    page = app.client().get("/login").text
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', page)
    js = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', page)
    assert css and js
    browser = app.client()
    for url, media in ((css.group(1), "text/css"), (js.group(1), "javascript")):
        answer = browser.get(url)
        assert answer.status_code == 200
        assert media in answer.headers["content-type"]
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = browser.get("/static/app.css?v=000000000000")
    assert stale.headers["cache-control"] == "no-cache"
    assert browser.get("/static/../web.py").status_code == 404
    assert browser.get("/static/nothing.css").status_code == 404


def test_css_and_js_stay_small(app: UiApp) -> None:
    browser = app.client()
    total = len(browser.get("/static/app.css").content) + len(browser.get("/static/app.js").content)
    assert total < 30_000  # the first page load must stay under 300 KB with the catalog's cards and logos


def test_password_is_never_in_a_page(app: UiApp) -> None:
    app.add_user("dev", role="developer")
    browser = app.client()
    answer = app.login(browser, "dev", "wrong password!")
    assert "wrong password!" not in answer.text
    assert PASSWORD not in app.logged_in("dev").get("/probe").text


# --- the store on every database ------------------------------------------------------------------------------------


def test_sessions_and_local_users_on_every_database(database: Database) -> None:
    empty(database)
    store = SessionStore(database, UiSettings())
    cookie, created = store.create("password", "dev", ("team", "ops"))
    found = store.find(cookie)
    assert found is not None
    assert (found.user, found.groups, found.method, found.csrf_token) == (
        "dev",
        ("team", "ops"),
        "password",
        created.csrf_token,
    )
    store.set_data(found.id, {"oidc": {"state": "s"}})
    assert store.find(cookie).data == {"oidc": {"state": "s"}}  # type: ignore[union-attr]
    users = UserService(database, CHEAP_HASHER)
    with context.acting_as(context.system("tests")):
        users.create("dev", PASSWORD, ["team"])
        assert users.verify("dev", PASSWORD) is not None
        users.set_disabled("dev", True)  # ends dev's password sessions
        assert users.verify("dev", PASSWORD) is None
        assert store.find(cookie) is None
        users.delete("dev")
    assert users.list() == []
