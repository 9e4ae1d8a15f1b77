"""The registry in a browser: a developer promotes as far as the policy lets them; an admin archives a model (it
leaves the catalog and the developer's registry) and restores it; every registry and settings page passes axe."""

from __future__ import annotations

import re
from typing import Any

from browser.conftest import Browse, Server
from browser.helpers import catalog_models, press_action, until

DEMO = "Granite-7b-Inference"


def _version(server: Server, version_id: int) -> dict[str, Any]:
    with server.api() as api:
        response = api.get(f"/model_registry/v1alpha3/model_versions/{version_id}")
        response.raise_for_status()
        return dict(response.json())


def _stage(server: Server, version_id: int) -> str | None:
    prop = _version(server, version_id).get("customProperties", {}).get("Lifecycle")
    return prop.get("string_value") if prop else None


def _model_state(server: Server, model_id: int) -> str:
    with server.api() as api:
        return str(api.get(f"/model_registry/v1alpha3/registered_models/{model_id}").json()["state"])


def test_developer_promotes_to_staging_and_is_told_why_not_production(browse: Browse) -> None:
    model_id, version_id = browse.server.create_model("promote-in-browser")
    page = browse.login("ai-developer")
    page.goto(f"/registry/models/{model_id}/versions/{version_id}")
    main = page.locator("main")
    assert main.get_by_role("button", name=re.compile("staging", re.I)).count(), (
        f"no 'staging' promotion for a developer: {main.inner_text()[:500]}"
    )
    press_action(page, "staging")
    assert _stage(browse.server, version_id) == "staging"
    assert re.search(r"promoted.*staging", page.locator("body").inner_text(), re.I | re.S), "no flash message"
    browse.check(page, "version-promoted")

    production = [b for b in main.get_by_role("button", name=re.compile("production", re.I)).all() if b.is_enabled()]
    assert not production, "a developer is offered an enabled promotion to production"
    text = main.inner_text()
    assert re.search(r"production[^\n]*admin|admin[^\n]*production", text, re.I), (
        f"the version page does not say why production is refused (needs admin): {text[:800]}"
    )
    assert _stage(browse.server, version_id) == "staging"


def test_admin_archives_a_model_and_restores_it(browse: Browse) -> None:
    name = "archive-in-browser"
    model_id, _ = browse.server.create_model(name)
    developer = browse.login("ai-developer")
    admin = browse.login("ai-admin")

    def in_catalog() -> bool:
        developer.goto(f"/catalog?q={name}")
        return name in catalog_models(developer)

    until(in_catalog, f"{name} appears in the developer's catalog")
    developer.goto("/registry")
    assert name in developer.locator("main").inner_text()

    admin.goto(f"/registry/models/{model_id}")
    browse.check(admin, "registry-model")
    press_action(admin, r"^\s*archive")
    assert _model_state(browse.server, model_id) == "ARCHIVED"
    assert re.search(r"archived", admin.locator("body").inner_text(), re.I)

    until(lambda: not in_catalog(), f"{name} leaves the developer's catalog")
    developer.goto("/registry")
    assert name not in developer.locator("main").inner_text(), "the archived model is still in the developer's list"

    admin.goto("/registry/archived")
    assert name in admin.locator("main").inner_text(), "the archived model is not in the archived list"
    browse.check(admin, "registry-archived")
    admin.locator("main").get_by_role("link", name=name).first.click()
    admin.wait_for_load_state("load")
    press_action(admin, r"^\s*restore")
    assert _model_state(browse.server, model_id) == "LIVE"
    until(in_catalog, f"{name} is back in the developer's catalog")
    developer.goto("/registry")
    assert name in developer.locator("main").inner_text()


def test_admin_walks_the_demo_model_and_every_settings_page(browse: Browse) -> None:
    """The issue's closing walkthrough as ai-admin, with axe and a screenshot on each page."""
    with browse.server.api() as api:
        model = api.get("/model_registry/v1alpha3/registered_model", params={"name": DEMO}).json()
        versions = api.get(f"/model_registry/v1alpha3/registered_models/{model['id']}/versions").json()["items"]
    model_id, version_id = model["id"], versions[0]["id"]
    page = browse.login("ai-admin")
    pages = {
        "registry": "/registry",
        "registry-demo-model": f"/registry/models/{model_id}",
        "version-details": f"/registry/models/{model_id}/versions/{version_id}",
        "model-history": f"/registry/models/{model_id}/history",
        "version-history": f"/registry/models/{model_id}/versions/{version_id}/history",
        "settings": "/settings/catalog-sources",
        "settings-access": "/settings/access",
        "settings-tokens": "/settings/tokens",
        "settings-connections": "/settings/connections",
        "settings-users": "/settings/users",
    }
    failures = []
    for shot, path in pages.items():
        response = page.goto(path)
        if response is None or response.status != 200:
            failures.append(f"{path}: HTTP {response and response.status}")
            continue
        try:
            browse.check(page, shot)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)

    page.goto(f"/registry/models/{model_id}/versions/{version_id}")
    text = page.locator("main").inner_text()
    assert "s3://models/granite-7b-instruct/1.0.0/" in text, "the version page does not show the model location"
    page.goto(f"/registry/models/{model_id}/history")
    assert re.search(r"creat", page.locator("main").inner_text(), re.I), "the history does not show the creation"


def test_login_page_passes_axe(browse: Browse) -> None:
    page = browse.anonymous()
    response = page.goto("/catalog")
    assert response is not None and "/login" in page.url, f"an anonymous /catalog was not sent to login: {page.url}"
    browse.check(page, "login")
