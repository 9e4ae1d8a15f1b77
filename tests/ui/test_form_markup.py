"""What every form page shares: each required control's label carries one required marker, drawn by the stylesheet
(``.required::after``), never a literal ``*`` as well (the screenshots showed two asterisks)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest

from ui.conftest import UiApp


class Labels(HTMLParser):
    """Each ``<label for=...>``'s text and how many ``.required`` markers it holds; the ids of required controls."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: dict[str, tuple[str, int]] = {}
        self.required: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self._open = a["for"]
            self.labels[self._open] = ("", 0)
        elif self._open and "required" in (a.get("class") or "").split():
            text, marks = self.labels[self._open]
            self.labels[self._open] = (text, marks + 1)
        if tag in ("input", "select", "textarea") and "required" in a and a.get("id"):
            self.required.append(str(a["id"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            text, marks = self.labels[self._open]
            self.labels[self._open] = (text + data, marks)


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("ai-admin", "/settings/users"),
        ("ai-admin", "/settings/access"),
        ("ai-admin", "/settings/tokens"),
        ("ai-admin", "/settings/connections"),
    ],
)
def test_required_fields_have_one_marker(ui_app: UiApp, user: str, path: str) -> None:
    ui_app.add_user(user, role=user.removeprefix("ai-"))
    browser = ui_app.logged_in(user)
    page = browser.get(path)
    assert page.status_code == 200, page.text
    parsed = Labels()
    parsed.feed(page.text)
    assert parsed.required, f"{path} has no required field"
    for control in parsed.required:
        text, marks = parsed.labels[control]
        assert marks == 1 and "*" not in text, (path, control, text, marks)
    stylesheet = re.search(r'href="(/static/app\.css[^"]*)"', page.text)
    assert stylesheet, "the page links no app.css"
    css = browser.get(unescape(stylesheet.group(1))).text
    assert re.search(r'\.required::after\s*\{[^}]*content:\s*" \*"', css)
