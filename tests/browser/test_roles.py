"""Roles in a browser: a viewer is offered no write action and no settings, and the server refuses a forged form
post anyway: one without a CSRF token, or with another user's (cookies are the browser's own, via page.request)."""

from __future__ import annotations

from typing import Any

from browser.conftest import Browse, Server
from browser.helpers import action_buttons, catalog_link, csrf_token, nav_has

DEMO = "Granite-7b-Inference"
WRITE_ACTIONS = (
    r"\b(register|promote|archive|restore|deploy|delete|create|edit)\b|^\s*(move to\s+)?(staging|production)\s*$"
)


def _demo_ids(server: Server) -> tuple[int, int]:
    with server.api() as api:
        model = api.get("/model_registry/v1alpha3/registered_model", params={"name": DEMO}).json()
        versions = api.get(f"/model_registry/v1alpha3/registered_models/{model['id']}/versions").json()["items"]
    return int(model["id"]), int(versions[0]["id"])


def _state(server: Server, model_id: int) -> str:
    with server.api() as api:
        return str(api.get(f"/model_registry/v1alpha3/registered_models/{model_id}").json()["state"])


def _no_write_actions(page: Any) -> None:
    """No button for a write (every write is a form post) and no link to a form page (register, settings)."""
    buttons = action_buttons(page, WRITE_ACTIONS)
    shown = [b.inner_text() for b in buttons.all() if b.is_visible()]
    forms = page.locator("main a[href$='/register'], main a[href*='/register?'], main a[href^='/settings']")
    shown += [f"link {a.inner_text()} → {a.get_attribute('href')}" for a in forms.all() if a.is_visible()]
    assert not shown, f"a viewer is offered {shown} on {page.url}"


def test_viewer_sees_no_write_action_and_no_settings(browse: Browse) -> None:
    model_id, version_id = _demo_ids(browse.server)
    page = browse.login("ai-viewer")
    page.goto("/catalog")
    assert nav_has(page, "Catalog") and nav_has(page, "Registry"), "the navigation lacks Catalog/Registry"
    assert not nav_has(page, "Settings"), "a viewer sees the Settings navigation"
    browse.check(page, "viewer-catalog")
    catalog_link(page, DEMO).click()
    page.wait_for_load_state("load")
    assert DEMO in page.locator("h1").inner_text()
    _no_write_actions(page)
    for path in ("/registry", f"/registry/models/{model_id}", f"/registry/models/{model_id}/versions/{version_id}"):
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        _no_write_actions(page)
    browse.check(page, "viewer-version")
    assert browse.refused(page, "/settings/access") == 403, "a viewer opened /settings/access"


def test_forged_form_posts_are_refused(browse: Browse) -> None:
    model_id, version_id = browse.server.create_model("forgery-target")
    admin = browse.login("ai-admin")
    viewer = browse.login("ai-viewer")
    admin.goto(f"/registry/models/{model_id}")
    viewer.goto("/catalog")
    archive = f"/registry/models/{model_id}/archive"

    def post(page: Any, url: str, form: dict[str, str]) -> int:
        return int(page.request.post(url, form=form, max_redirects=0).status)

    assert post(admin, archive, {}) == 403, "an admin's post without a CSRF token was accepted"
    assert post(admin, archive, {"csrf_token": csrf_token(viewer)}) == 403, "another session's CSRF token was accepted"
    assert post(viewer, archive, {"csrf_token": csrf_token(viewer)}) == 403, "a viewer archived a model"
    promote = f"/registry/versions/{version_id}/promote"
    assert post(viewer, promote, {"csrf_token": csrf_token(viewer), "to_stage": "staging"}) == 403, "a viewer promoted"
    assert _state(browse.server, model_id) == "LIVE"

    # the same post with the admin's own token goes through, so the refusals above are the token's doing
    assert post(admin, archive, {"csrf_token": csrf_token(admin)}) == 303
    assert _state(browse.server, model_id) == "ARCHIVED"
    assert post(admin, f"/registry/models/{model_id}/restore", {"csrf_token": csrf_token(admin)}) == 303
    assert _state(browse.server, model_id) == "LIVE"
