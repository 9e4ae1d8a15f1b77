"""Model cards are Markdown written by whoever edits a source: rendered, then sanitized, before they reach a page."""

from __future__ import annotations

import re

import pytest

from modelreg.ui.markdown import render


def test_headings_start_at_h3_under_the_page_headings() -> None:
    html = str(render("# Title\n\n## Part\n\n###### Deep"))
    assert "<h3>Title</h3>" in html
    assert "<h4>Part</h4>" in html
    assert "<h6>Deep</h6>" in html  # cannot go below h6
    assert not re.search(r"<h[12][ >]", html)


def test_tables_lists_code_and_links_render() -> None:
    html = str(render("| a | b |\n|---|--:|\n| 1 | 2 |\n\n- x\n- `y`\n\n[docs](https://example.com/d)"))
    assert "<table>" in html and "<td>1</td>" in html and '<th class="md-right">b</th>' in html and "style=" not in html
    assert "<li><code>y</code></li>" in html
    assert '<a href="https://example.com/d" rel="noopener nofollow">docs</a>' in html


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("[x](javascript:alert(1))", 'href="javascript'),
        ("[x](JaVaScRiPt:alert(1))", "href="),
        ('<a href="javascript:alert(1)">x</a>', "<a "),
        ("<img src=x onerror=alert(1)>", "<img"),
        ('<div onclick="alert(1)">raw</div>', "<div"),
        ("<iframe src=https://evil.example></iframe>", "<iframe"),
        ("[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", 'href="data:'),
    ],
)
def test_dangerous_input_is_neutralised(text: str, forbidden: str) -> None:
    html = str(render(text))
    assert forbidden.lower() not in html.lower()


def test_raw_html_is_shown_as_text_not_markup() -> None:
    html = str(render("Hello <b onmouseover='x()'>there</b>"))
    assert "<b" not in html
    assert "&lt;b onmouseover" in html  # the words stay readable, escaped


def test_images_only_from_data_urls() -> None:
    html = str(render("![ok](data:image/png;base64,iVBORw0KGgo=) ![far](https://tracker.example/p.png)"))
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert "tracker.example" not in html
    assert 'alt="far"' in html  # the image stays as its alt text, without a source


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_an_empty_card_is_none(text: str | None) -> None:
    assert render(text) is None
