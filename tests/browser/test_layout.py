"""Layout details seen in the screenshots: the masthead's search (Enter searches; its submit button, hidden until
focused, is reachable by Tab and shows itself when focused) and the catalog sources table (ids never broken
mid-word; at phone width the table scrolls in its own box, not the page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from browser.conftest import Browse


def test_the_search_submit_is_hidden_until_tabbed_to_then_searches(browse: Browse) -> None:
    page = browse.login("ai-viewer")
    page.goto("/registry")
    box = page.locator("#global-search")
    submit = page.locator(".masthead-search button[type=submit]")
    assert not submit.is_visible(), "the masthead's Search button shows without focus"
    box.fill("granite")
    box.focus()
    page.keyboard.press("Tab")
    assert submit.evaluate("b => b === document.activeElement"), "Tab from the search box skips its submit button"
    assert submit.is_visible(), "the focused Search button stays invisible"
    size = submit.bounding_box()
    assert size is not None and size["width"] > 20 and size["height"] > 20, size
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == "/catalog" and parse_qs(urlsplit(page.url).query)["q"] == ["granite"], page.url


def _ids_on_one_line(page: Any) -> list[tuple[str, int]]:
    """Each source id of the table, with the number of lines it is laid out on."""
    found = page.evaluate(
        "() => [...document.querySelectorAll('.settings-sources tbody td:nth-child(2) code')]"
        ".map(c => [c.textContent, c.getClientRects().length])"
    )
    return [(str(text), int(lines)) for text, lines in found]


def test_source_ids_stay_whole_and_the_table_scrolls_in_its_box(browse: Browse) -> None:
    for viewport in ({"width": 1280, "height": 800}, {"width": 375, "height": 740}):
        page = browse.login("ai-admin", viewport=viewport)
        page.goto("/settings/catalog-sources")
        ids = _ids_on_one_line(page)
        assert ids and all(lines == 1 for _, lines in ids), (viewport, ids)
        width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"the page scrolls sideways at {inner} px: it is {width} px wide"
