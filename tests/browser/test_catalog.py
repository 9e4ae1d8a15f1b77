"""The catalog in a browser: a developer finds the demo model by search and by filter, opens it, and registers a
model of the demo catalog; keyboard focus, phone width and first-load weight of the catalog page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from browser.conftest import Browse
from browser.helpers import CARD_LINKS, VERSION_URL, catalog_link, catalog_models, submit_form_of

DEMO = "Granite-7b-Inference"  # registered by `modelreg seed`; the catalog shows it through the registry source


def test_developer_finds_the_demo_model_by_search_and_opens_it(browse: Browse) -> None:
    page = browse.login("ai-developer")
    page.goto("/catalog")
    browse.check(page, "catalog")
    everything = catalog_models(page)
    assert DEMO in everything, f"{DEMO} is not on the catalog page; it shows {sorted(everything)}"

    box = page.locator("input[name=q]").first
    box.click()
    box.press_sequentially("granite-7b")  # as typed: lower case, part of the name
    submit_form_of(page, box)
    page.wait_for_load_state("load")
    assert parse_qs(urlsplit(page.url).query).get("q") == ["granite-7b"], page.url
    found = catalog_models(page)
    assert DEMO in found, f"searching 'granite-7b' shows {sorted(found)}"
    assert set(everything) - set(found), f"the search left out nothing of {sorted(everything)}"
    browse.check(page, "catalog-search")

    catalog_link(page, DEMO).click()
    page.wait_for_load_state("load")
    assert DEMO in page.locator("h1").inner_text()
    assert "IBM Granite 7B instruct model" in page.locator("main").inner_text()  # the seeded description
    browse.check(page, "model-details")


def test_developer_finds_the_demo_model_by_provider_filter(browse: Browse) -> None:
    page = browse.login("ai-developer")
    page.goto("/catalog")
    everything = catalog_models(page)
    ibm = page.locator("main").get_by_role("checkbox", name=re.compile(r"^\s*IBM\b"))
    assert ibm.count(), "no 'IBM' provider checkbox among the catalog filters"
    ibm.first.check()
    submit_form_of(page, ibm.first)
    page.wait_for_load_state("load")
    assert "IBM" in parse_qs(urlsplit(page.url).query).get("provider", []), page.url
    found = catalog_models(page)
    assert DEMO in found, f"filtering by provider IBM shows {sorted(found)}"
    assert set(everything) - set(found), f"the provider filter left out nothing of {sorted(everything)}"
    assert page.locator("main").get_by_role("checkbox", name=re.compile(r"^\s*IBM\b")).first.is_checked(), (
        "the applied filter is not shown checked"
    )
    browse.check(page, "catalog-filtered")
    catalog_link(page, DEMO).click()
    page.wait_for_load_state("load")
    assert DEMO in page.locator("h1").inner_text()


def _file_source_model(page: Any) -> tuple[str, str]:
    """(name, href) of a catalog model that comes from a file source of the demo catalog, not the registry."""
    for name, href in catalog_models(page).items():
        if not href.startswith("/catalog/registry/"):
            return name, href
    raise AssertionError(f"the catalog shows no model from a file source: {catalog_models(page)}")


def test_developer_registers_a_catalog_model_and_lands_on_the_new_version(browse: Browse) -> None:
    page = browse.login("ai-developer")
    page.goto("/catalog")
    name, href = _file_source_model(page)
    page.goto(href)
    register = page.locator("main").get_by_role("link", name=re.compile("register", re.I))
    if not register.count():
        register = page.locator("main").get_by_role("button", name=re.compile("register", re.I))
    assert register.count(), f"no Register action on {href} for a developer"
    register.first.click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path.endswith("/register"), page.url
    browse.check(page, "register")

    form = page.locator("main form").filter(has=page.locator("input[name=csrf_token]")).last
    model_name = form.get_by_label(re.compile(r"^\s*(registered\s+)?model\s+name", re.I))
    assert model_name.count(), "the register form has no 'Model name' field"
    assert model_name.first.input_value(), "the model name is not pre-filled from the catalog model"
    new_name = f"{model_name.first.input_value()}-{urlsplit(page.url).path.split('/')[2]}-browser"
    model_name.first.fill(new_name)
    for field in form.locator("input[required]").all():
        if field.is_visible() and not field.input_value():
            field.fill("v1")
    with page.expect_navigation():
        form.get_by_role("button", name=re.compile("register", re.I)).click()
    page.wait_for_load_state("load")
    assert VERSION_URL.search(urlsplit(page.url).path), (
        f"landed on {page.url}: {page.locator('main').inner_text()[:400]}"
    )
    text = page.locator("main").inner_text()
    assert new_name in text, f"the version page does not name the new model {new_name!r}"

    model_id, version_id = VERSION_URL.search(urlsplit(page.url).path).groups()  # type: ignore[union-attr]
    with browse.server.api() as api:
        artifacts = api.get(f"/model_registry/v1alpha3/model_versions/{version_id}/artifacts").json()["items"]
        model = api.get(f"/model_registry/v1alpha3/registered_models/{model_id}").json()
    assert model["name"] == new_name
    assert artifacts, "the registered version has no model artifact"
    artifact = artifacts[0]
    assert artifact.get("modelSourceKind") == "catalog", artifact
    assert artifact.get("modelSourceName") == name, artifact
    assert artifact.get("modelSourceClass") == href.split("/")[2], artifact
    assert artifact.get("uri"), "the model location was not carried over"


def test_keyboard_reaches_search_box_and_a_card_with_a_visible_focus_ring(browse: Browse) -> None:
    page = browse.login("ai-developer")
    page.goto("/catalog")
    page.locator("body").focus()

    def tab_to(selector: str, limit: int = 80) -> dict[str, str]:
        for _ in range(limit):
            page.keyboard.press("Tab")
            style = page.evaluate(
                """sel => { const el = document.activeElement; if (!el || !el.matches(sel)) return null;
                   const s = getComputedStyle(el);
                   return {visible: String(el.matches(':focus-visible')), outlineStyle: s.outlineStyle,
                           outlineWidth: s.outlineWidth, boxShadow: s.boxShadow}; }""",
                selector,
            )
            if style:
                return dict(style)
        raise AssertionError(f"{limit} Tab presses never reached {selector}")

    for target in ("input[name=q]", CARD_LINKS):
        style = tab_to(target)
        assert style["visible"] == "true", f"{target} is focused but not :focus-visible"
        ring = (style["outlineStyle"] != "none" and float(style["outlineWidth"].removesuffix("px") or 0) > 0) or (
            style["boxShadow"] not in ("none", "")
        )
        assert ring, f"{target} has no visible focus ring: {style}"


def test_no_horizontal_scroll_at_phone_width(browse: Browse) -> None:
    phone = {"width": 375, "height": 740}
    page = browse.login("ai-developer", viewport=phone)
    model_id, version_id = browse.server.create_model("phone-width-model")

    def overflow() -> tuple[int, int]:
        sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        return int(sizes[0]), int(sizes[1])

    for path, shot in (
        ("/catalog", "phone-catalog"),
        (f"/registry/models/{model_id}/versions/{version_id}", "phone-version"),
    ):
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        page.screenshot(path=browse.screenshots / f"{shot}.png", full_page=True)
        width, inner = overflow()
        assert width <= inner, f"{path} scrolls sideways at {inner} px: the page is {width} px wide"


def test_first_load_of_the_catalog_is_at_most_300_kb(browse: Browse) -> None:
    page = browse.login("ai-developer")
    fresh = browse.browser.new_context(base_url=browse.server.url, viewport={"width": 1280, "height": 800})
    try:
        fresh.add_cookies(page.context.cookies())  # signed in, but nothing cached
        fresh.route("**/*", browse.guard.route)
        measured = fresh.new_page()
        responses: list[Any] = []
        measured.on("response", lambda response: responses.append(response))
        measured.goto("/catalog", wait_until="load")
        assert urlsplit(measured.url).path == "/catalog"
        total = 0
        for response in responses:
            sizes = response.request.sizes()
            body = sizes["responseBodySize"] if sizes["responseBodySize"] >= 0 else len(response.body())
            total += body + max(sizes["responseHeadersSize"], 0)
        print(f"first load of /catalog: {total} bytes in {len(responses)} responses")  # shown with -s
        assert len(responses) >= 2, "the catalog page loaded no assets: the measurement saw too little"
        assert total <= 300 * 1024, f"first load of /catalog is {total / 1024:.0f} KB: " + ", ".join(
            f"{r.url} {r.request.sizes()['responseBodySize']}" for r in responses
        )
    finally:
        fresh.close()
