"""The admin settings pages (ui/settings_pages.py): who may see them, and each write through the browser's form
posts: role bindings, API tokens (shown once), data connections (secrets never shown), local users, and the catalog
sources' status."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from modelreg.auth import context
from modelreg.auth.principal import Role
from modelreg.errors import Unauthenticated
from ui.conftest import MakeUiApp, UiApp, csrf_of

PAGES = [
    "/settings/catalog-sources",
    "/settings/access",
    "/settings/tokens",
    "/settings/connections",
    "/settings/users",
]
POSTS = [
    "/settings/access",
    "/settings/access/1/delete",
    "/settings/tokens",
    "/settings/tokens/1/revoke",
    "/settings/connections",
    "/settings/connections/1/delete",
    "/settings/users",
    "/settings/users/someone/password",
    "/settings/users/someone/disable",
    "/settings/users/someone/enable",
    "/settings/users/someone/delete",
]
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def app(ui_app: UiApp) -> FastAPI:
    return ui_app.app


@pytest.fixture
def client(ui_app: UiApp) -> TestClient:
    """Password login (``--auth password``), signed in as ``the-admin``."""
    ui_app.add_user("the-admin", role="admin")
    return ui_app.logged_in("the-admin")


@pytest.fixture
def local(make_ui_app: MakeUiApp) -> TestClient:
    """Local mode: every page request comes from the anonymous admin."""
    return make_ui_app(methods=()).client()


def csrf(client: TestClient, page: str) -> str:
    response = client.get(page)
    assert response.status_code == 200, response.text
    return csrf_of(response)


def post(client: TestClient, url: str, page: str | None = None, **fields: str) -> Any:
    """Post ``fields`` from ``page`` (the form's page, ``url`` by default) with its CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client, page or url), **fields})


# --- who may see the pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_local_modes_admin_with_the_settings_nav(local: TestClient, page: str) -> None:
    response = local.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    nav = response.text[response.text.index('aria-label="Settings"') :]
    for other in PAGES:
        assert f'href="{other}"' in nav
    assert f'<a href="{page}" aria-current="page">' in response.text


def test_settings_redirects_to_the_catalog_sources(local: TestClient) -> None:
    client = local
    response = client.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/catalog-sources"


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_other_roles_are_refused_every_page_and_post(ui_app: UiApp, role: Role) -> None:
    ui_app.add_user("someone", role=role.value)
    client = ui_app.logged_in("someone")
    catalog = client.get("/catalog")
    token = csrf_of(catalog)  # a real CSRF token of the session: the refusal must come from the role
    assert "/settings" not in catalog.text  # no Settings in the navigation either
    for page in ["/settings", *PAGES]:
        assert client.get(page).status_code == 403, page
    fields = {"csrf_token": token, "kind": "user", "subject": "x", "role": "admin", "user": "x", "name": "x"}
    for url in POSTS:
        assert client.post(url, data=fields).status_code == 403, url
    assert [b.subject for b in ui_app.access.list_bindings()] == ["someone"]
    assert ui_app.access.list_tokens() == []
    assert ui_app.users.verify("someone", "correct horse battery staple") is not None  # not disabled, not deleted


def test_an_admin_signed_in_with_a_password_gets_every_page(client: TestClient) -> None:
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    assert 'href="/settings/catalog-sources"' in client.get("/catalog").text


def test_a_post_without_this_sessions_csrf_token_is_refused(ui_app: UiApp, client: TestClient) -> None:
    fields = {"kind": "user", "subject": "x", "role": "admin", "user": "x", "name": "x", "type": "local"}
    ui_app.add_user("other", role="admin")
    others_token = csrf_of(ui_app.logged_in("other").get("/settings/access"))
    for url in POSTS:
        assert client.post(url, data=fields).status_code == 403, url
        assert client.post(url, data={**fields, "csrf_token": others_token}).status_code == 403, url
    assert [b.subject for b in ui_app.access.list_bindings()] == ["the-admin", "other"]
    assert ui_app.access.list_tokens() == []
    # the same post with this session's token goes through: the token was all that was missing
    assert post(client, "/settings/access", **fields).status_code == 303


# --- role bindings -----------------------------------------------------------------------------------------------


def test_add_and_delete_a_role_binding(app: FastAPI, client: TestClient) -> None:
    response = post(client, "/settings/access", kind="group", subject="rhoai-users", role="developer")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/access"
    [binding] = [b for b in app.state.access.list_bindings() if b.subject != "the-admin"]
    assert (binding.subject_kind, binding.subject, binding.role) == ("group", "rhoai-users", "developer")
    page = client.get("/settings/access").text
    assert '<th scope="row">rhoai-users' in page and f'action="/settings/access/{binding.id}/delete"' in page
    assert "Role binding added: group rhoai-users → developer" in page

    response = post(client, f"/settings/access/{binding.id}/delete", "/settings/access")
    assert response.status_code == 303
    assert [b.subject for b in app.state.access.list_bindings()] == ["the-admin"]
    page = client.get("/settings/access").text
    assert "Role binding deleted: group rhoai-users → developer" in page  # the flash, once
    assert '<th scope="row">rhoai-users' not in page
    assert "Role binding deleted" not in client.get("/settings/access").text


def test_a_bad_or_duplicate_binding_shows_the_error_next_to_the_field(app: FastAPI, client: TestClient) -> None:
    response = post(client, "/settings/access", kind="group", subject="", role="developer")
    assert response.status_code == 400
    assert 'id="binding-subject-error"' in response.text and 'aria-invalid="true"' in response.text

    response = post(client, "/settings/access", kind="team", subject="ops", role="owner")
    assert response.status_code == 400
    assert 'id="binding-kind-error"' in response.text and 'id="binding-role-error"' in response.text
    assert 'value="ops"' in response.text  # what was typed is kept

    post(client, "/settings/access", kind="user", subject="ada", role="admin")
    response = post(client, "/settings/access", kind="user", subject="ada", role="admin")
    assert response.status_code == 409
    assert "already has the role" in response.text
    assert [b.subject for b in app.state.access.list_bindings()] == ["the-admin", "ada"]


def test_a_binding_change_applies_to_the_api_at_once(make_ui_app: MakeUiApp) -> None:
    """The authenticator caches roles; the page drops that cache, as the API does."""
    ui_app = make_ui_app(methods=("password", "token"))
    ui_app.add_user("the-admin", role="admin")
    client = ui_app.logged_in("the-admin")
    with context.acting_as(context.system("tests")):
        secret, _ = ui_app.access.create_token("carol")
    bearer = {"Authorization": f"Bearer {secret}"}
    whoami = "/api/governance/v1/whoami"
    assert client.get(whoami, headers=bearer).json()["roles"] == []
    assert post(client, "/settings/access", kind="user", subject="carol", role="viewer").status_code == 303
    assert client.get(whoami, headers=bearer).json()["roles"] == ["viewer"]
    [binding] = [b for b in ui_app.access.list_bindings() if b.subject == "carol"]
    assert post(client, f"/settings/access/{binding.id}/delete", "/settings/access").status_code == 303
    assert client.get(whoami, headers=bearer).json()["roles"] == []


# --- API tokens --------------------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_never_listed(app: FastAPI, client: TestClient) -> None:
    response = post(
        client,
        "/settings/tokens",
        user="ci-bot",
        groups="rhoai-users, ml",
        expires="30d",
        description="nightly pipeline",
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["cache-control"]
    assert "will not be shown again" in response.text
    [secret] = set(re.findall(r"mrt_[A-Za-z0-9_-]{20,}", response.text))
    identity, expires = app.state.access.identity_for_token(secret)
    assert (identity.user, identity.groups) == ("ci-bot", ("ml", "rhoai-users"))
    assert expires is not None and abs(expires - time.time() * 1000 - 30 * 86400_000) < 600_000

    listing = client.get("/settings/tokens")
    assert "nightly pipeline" in listing.text and "ci-bot" in listing.text
    assert secret not in listing.text
    assert secret not in client.get("/settings/tokens?show=all").text


def test_token_form_errors_name_the_field(client: TestClient) -> None:
    response = post(client, "/settings/tokens", user="", expires="forever")
    assert response.status_code == 400
    assert 'id="token-user-error"' in response.text and 'id="token-expires-error"' in response.text
    assert "mrt_" not in response.text


def test_revoke_a_token(app: FastAPI, client: TestClient) -> None:
    with context.acting_as(context.system("tests")):
        secret, info = app.state.access.create_token("ci-bot", description="to revoke")
    assert f'action="/settings/tokens/{info.id}/revoke"' in client.get("/settings/tokens").text

    response = post(client, f"/settings/tokens/{info.id}/revoke", "/settings/tokens")
    assert response.status_code == 303
    with pytest.raises(Unauthenticated):
        app.state.access.identity_for_token(secret)
    assert "to revoke" not in client.get("/settings/tokens").text  # active tokens only, by default
    everything = client.get("/settings/tokens?show=all").text
    assert "to revoke" in everything and "Revoked" in everything
    assert post(client, "/settings/tokens/999999/revoke", "/settings/tokens").status_code == 404


# --- data connections --------------------------------------------------------------------------------------------


def _s3_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "name": "models-bucket",
        "type": "s3",
        "endpoint": "http://127.0.0.1:9",
        "bucket": "models",
        "region": "eu-west-1",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET,
        "path_style": "on",
    }
    return {**fields, **overrides}


def test_connection_create_and_delete_never_show_the_secret(app: FastAPI, client: TestClient) -> None:
    bodies = []
    response = post(client, "/settings/connections", **_s3_fields())  # no "check": stored without reaching it
    assert response.status_code == 303, response.text
    page = client.get("/settings/connections")
    bodies += [response.text, page.text]
    row = page.text[page.text.index("models-bucket") :]
    assert "eu-west-1" in row and "http://127.0.0.1:9" in row
    assert re.search(r"<td>set</td>", row)
    with context.acting_as(context.system("tests")):
        stored = app.state.connections.get("models-bucket")
        assert app.state.connections.resolve("models-bucket").secret_access_key == SECRET

    response = post(client, f"/settings/connections/{stored.id}/delete", "/settings/connections")
    assert response.status_code == 303
    bodies += [response.text, client.get("/settings/connections").text]
    assert '<th scope="row">models-bucket' not in bodies[-1]
    for body in bodies:
        assert SECRET not in body and ACCESS_KEY not in body


def test_a_connection_gets_a_display_name(app: FastAPI, client: TestClient) -> None:
    response = post(client, "/settings/connections", **_s3_fields(name="minio-storage", display_name="MinIO Storage"))
    assert response.status_code == 303, response.text
    assert "(MinIO Storage)" in client.get("/settings/connections").text
    with context.acting_as(context.system("tests")):
        assert app.state.connections.get("minio-storage").display_name == "MinIO Storage"
    refused = post(client, "/settings/connections", **_s3_fields(name="other", display_name="x" * 256))
    assert refused.status_code == 400 and "invalid displayName" in refused.text


def test_connection_errors_keep_the_fields_but_not_the_secrets(client: TestClient) -> None:
    response = post(client, "/settings/connections", **_s3_fields(bucket="Not A Bucket"))
    assert response.status_code == 400
    assert 'id="conn-bucket-error"' in response.text and "invalid bucket" in response.text
    assert 'value="eu-west-1"' in response.text
    assert SECRET not in response.text and ACCESS_KEY not in response.text

    response = post(client, "/settings/connections", **_s3_fields(secret_access_key=""))
    assert response.status_code == 400
    assert 'id="conn-access_key_id-error"' in response.text
    assert ACCESS_KEY not in response.text


def test_a_checked_connection_that_does_not_answer_is_refused(client: TestClient, tmp_path: Path) -> None:
    fields = {"name": "scratch", "type": "local", "directory": str(tmp_path / "absent" / "dir"), "check": "on"}
    response = post(client, "/settings/connections", **fields)
    assert response.status_code == 400
    assert "failed its check" in response.text
    (tmp_path / "present").mkdir()
    response = post(client, "/settings/connections", **{**fields, "directory": str(tmp_path / "present")})
    assert response.status_code == 303
    assert "scratch" in client.get("/settings/connections").text


def test_the_built_in_connection_has_no_delete(client: TestClient) -> None:
    page = client.get("/settings/connections").text
    assert "Built in" in page
    assert "/delete" not in page


# --- local users -------------------------------------------------------------------------------------------------


def test_create_change_password_disable_enable_and_delete_a_user(ui_app: UiApp, client: TestClient) -> None:
    users = ui_app.users
    response = post(
        client, "/settings/users", username="ada", groups="rhoai-users", password="first-pass", confirm="first-pass"
    )
    assert response.status_code == 303
    assert users.verify("ada", "first-pass") is not None
    page = client.get("/settings/users").text
    assert "ada" in page and "rhoai-users" in page and "first-pass" not in page

    page_url = "/settings/users/ada/password"
    assert client.get(page_url).status_code == 200
    assert post(client, page_url, password="second-pass", confirm="second-pass").status_code == 303
    assert users.verify("ada", "first-pass") is None and users.verify("ada", "second-pass") is not None

    assert post(client, "/settings/users/ada/disable", "/settings/users").status_code == 303
    assert users.verify("ada", "second-pass") is None and "Disabled" in client.get("/settings/users").text
    assert post(client, "/settings/users/ada/enable", "/settings/users").status_code == 303
    assert users.verify("ada", "second-pass") is not None

    assert post(client, "/settings/users/ada/delete", "/settings/users").status_code == 303
    assert [u.username for u in users.list()] == ["the-admin"]
    assert post(client, "/settings/users/ada/delete", "/settings/users").status_code == 404


def test_user_form_errors_never_echo_the_password(ui_app: UiApp, client: TestClient) -> None:
    response = post(client, "/settings/users", username="bob", password="long-enough-1", confirm="long-enough-2")
    assert response.status_code == 400
    assert 'id="user-confirm-error"' in response.text and 'value="bob"' in response.text
    assert "long-enough" not in response.text
    response = post(client, "/settings/users", username="bob", password="short", confirm="short")
    assert response.status_code == 400 and 'id="user-password-error"' in response.text
    assert [u.username for u in ui_app.users.list()] == ["the-admin"]

    post(client, "/settings/users", username="bob", password="long-enough-1", confirm="long-enough-1")
    response = post(client, "/settings/users", username="bob", password="long-enough-1", confirm="long-enough-1")
    assert response.status_code == 409 and "already exists" in response.text
    response = post(client, "/settings/users/bob/password", password="x", confirm="x")
    assert response.status_code == 400 and 'id="pw-password-error"' in response.text


def test_users_page_without_password_login_explains_it(local: TestClient) -> None:
    page = local.get("/settings/users").text
    assert "Local accounts are used with <code>--auth password</code>" in page
    assert 'action="/settings/users"' not in page


# --- catalog sources ---------------------------------------------------------------------------------------------


def _sources_page(client: TestClient, expected: str) -> str:
    """The catalog sources page once it shows ``expected`` (the watcher loads the files in the background)."""
    deadline = time.monotonic() + 10
    while expected not in (page := client.get("/settings/catalog-sources").text):
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    return page


def test_catalog_sources_show_status_errors_and_files(make_ui_app: MakeUiApp, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("source: Good\nmodels:\n  - name: org/tiny\n    description: A model\n")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "model_catalogs:\n"
        "  - {name: Good one, id: good, type: yaml, properties: {yamlCatalogPath: good.yaml}}\n"
        "  - {name: Broken one, id: broken, type: yaml, properties: {yamlCatalogPath: missing.yaml}}\n"
        "  - {name: Switched off, id: switched-off, type: yaml, enabled: false,\n"
        "     properties: {yamlCatalogPath: good.yaml}}\n"
    )
    client = make_ui_app(methods=(), catalog={"sources": [sources], "registry_source": False}).client()
    page = _sources_page(client, "missing.yaml")
    assert "Model catalog settings" in page and str(sources) in page
    names = ("Good one", "Broken one", "Switched off")
    rows = {name: re.sub(r"\s+", " ", page[page.index(name) :].split("</tr>", 1)[0]) for name in names}
    assert "Available" in rows["Good one"] and "<td>1</td>" in rows["Good one"]
    assert "Failed" in rows["Broken one"] and "<details" in rows["Broken one"] and "<td>0</td>" in rows["Broken one"]
    assert "Disabled" in rows["Switched off"] and "Broken" not in rows["Switched off"]
    for row in rows.values():
        assert f"<code>{sources}</code>" in row


def test_a_sources_file_that_does_not_parse_is_shown(make_ui_app: MakeUiApp, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("model_catalogs: [\n")
    client = make_ui_app(methods=(), catalog={"sources": [sources], "registry_source": False}).client()
    page = _sources_page(client, 'class="alert alert-danger"')
    assert str(sources) in page.split('class="alert alert-danger"', 1)[1]


def test_bad_ids_and_long_fields_are_4xx_pages(ui_app: UiApp, client: TestClient) -> None:
    for url, status in [
        ("/settings/access/abc/delete", 400),
        ("/settings/access/99999999999999999999999/delete", 404),
        ("/settings/tokens/-1/revoke", 404),
        ("/settings/connections/0/delete", 404),
        ("/settings/connections/12345/delete", 404),
    ]:
        response = post(client, url, "/settings/access")
        assert response.status_code == status, url
        assert response.headers["content-type"].startswith("text/html")
    too_long = "x" * 300
    assert post(client, "/settings/access", kind="user", subject=too_long, role="viewer").status_code == 400
    assert post(client, "/settings/tokens", user="bob", description=too_long * 4).status_code == 400
    assert post(client, "/settings/connections", name=too_long, type="local", directory="/tmp").status_code == 400
    assert post(client, "/settings/connections", name="x", type="ftp").status_code == 400
    assert [b.subject for b in ui_app.access.list_bindings()] == ["the-admin"]


def test_a_user_name_with_a_slash_round_trips_through_the_urls(ui_app: UiApp, client: TestClient) -> None:
    ui_app.add_user("team/alice")
    ui_app.add_user("bob?x#y")
    page = client.get("/settings/users").text
    assert 'action="/settings/users/team/alice/delete"' in page
    assert 'href="/settings/users/bob%3Fx%23y/password"' in page
    assert post(client, "/settings/users/team/alice/disable", "/settings/users").status_code == 303
    assert post(client, "/settings/users/bob%3Fx%23y/delete", "/settings/users").status_code == 303
    assert ui_app.users.get("team/alice").disabled
    assert post(client, "/settings/users/team%2Falice/delete", "/settings/users").status_code == 303
    assert [u.username for u in ui_app.users.list()] == ["the-admin"]
