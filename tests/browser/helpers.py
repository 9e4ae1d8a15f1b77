"""What the browser tests read off pages: catalog cards, form submission that works with or without JavaScript,
waiting for the registry source to catch up."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

CARD_LINKS = "main a[href^='/catalog/'][href*='/models/']"
VERSION_URL = re.compile(r"/registry/models/(\d+)/versions/(\d+)$")


def catalog_models(page: Any) -> dict[str, str]:
    """The models the catalog page shows, as {model name (from the link's URL): href}."""
    links: dict[str, str] = {}
    for href in page.locator(CARD_LINKS).evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        path = urlsplit(href).path
        if "/register" in path:
            continue
        links[unquote(path.split("/models/", 1)[1])] = href
    return links


def catalog_link(page: Any, name: str) -> Any:
    """The card link of model ``name`` (the registry's names have no "/", so the URL ends with it)."""
    return page.locator(CARD_LINKS).filter(has_text=name).first


def submit_form_of(page: Any, control: Any) -> None:
    """Submit the form ``control`` belongs to, as a user without JavaScript would (its submit button or Enter),
    unless the page's script has already navigated."""
    before = page.url
    try:
        page.wait_for_url(lambda url: url != before, timeout=1500)  # progressive JS submits on change
        return
    except Exception:
        pass
    form = control.locator("xpath=ancestor::form[1]")
    button = form.locator("button[type=submit], button:not([type]), input[type=submit]")
    with page.expect_navigation():
        if button.count() and button.first.is_visible():
            button.first.click()
        else:
            control.press("Enter")


def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def csrf_token(page: Any) -> str:
    """The CSRF token of the page's session (every signed-in page has the sign-out form)."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, f"no csrf_token field on {page.url}"
    return str(token)


def action_buttons(page: Any, pattern: str) -> Any:
    """Buttons in the page's main content whose accessible name matches ``pattern``."""
    return page.locator("main").get_by_role("button", name=re.compile(pattern, re.I))


def nav_has(page: Any, text: str) -> bool:
    return bool(page.locator("nav").get_by_role("link", name=re.compile(rf"^\s*{text}\s*$", re.I)).count())


def press_action(page: Any, pattern: str) -> None:
    """Click the action button matching ``pattern`` in the main content and confirm it, whether the page confirms
    with ``confirm()`` (accepted by the test's dialog handler) or with an HTML ``<dialog>``."""
    name = re.compile(pattern, re.I)
    button = page.locator("main").get_by_role("button", name=name).first
    try:
        with page.expect_navigation(timeout=3000):
            button.click()
    except Exception:
        confirm = page.locator("dialog[open]").get_by_role("button", name=name)
        assert confirm.count(), f"clicking {pattern!r} on {page.url} neither navigated nor asked to confirm"
        with page.expect_navigation():
            confirm.first.click()
    page.wait_for_load_state("load")
