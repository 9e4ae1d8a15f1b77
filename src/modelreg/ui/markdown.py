"""Model cards: Markdown from catalog files and registry readmes, which anyone who can edit a source wrote, shown
as HTML inside our pages. Two walls: markdown-it escapes raw HTML (``html=False``) and refuses ``javascript:``-like
links, then nh3 keeps only a fixed set of tags and attributes. Headings shift down so the card's top level is
``h3`` under the page's ``h1``/``h2`` (the reference renders with maxHeading 3); images only come from ``data:``
URLs, since the page's CSP blocks every other host anyway, and table alignment is a class, since it allows no
inline style either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

TOP_HEADING = 3  # a card's "# Title" becomes <h3>
_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p", "pre",
    "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
_ALIGN = {"text-align:left": "md-left", "text-align:center": "md-center", "text-align:right": "md-right"}
_CLASSES = {"td": set(_ALIGN.values()), "th": set(_ALIGN.values())}
_SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:", "#", "/")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Links to web pages (or in-page anchors) only; images from ``data:image/`` only."""
    lowered = value.strip().lower()
    if tag == "a" and name == "href":
        return value if lowered.startswith(_SAFE_LINK_SCHEMES) else None
    if tag == "img" and name == "src":
        return value if lowered.startswith("data:image/") else None
    return value


_cleaner = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute,
    link_rel="noopener nofollow",
    url_schemes={"http", "https", "mailto", "data"},
    allowed_classes=_CLASSES,
)


def _adjust(tokens: Sequence[Token]) -> None:
    """Shift headings down; a table cell's alignment becomes a class (the CSP allows no inline style)."""
    shift = TOP_HEADING - 1
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
        elif token.type in ("th_open", "td_open") and token.attrs.get("style") in _ALIGN:
            token.attrs = {"class": _ALIGN[str(token.attrs["style"])]}


def _adjust_rule(state: Any) -> None:
    _adjust(state.tokens)


_md = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
_md.core.ruler.push("modelreg_adjust", _adjust_rule)


def render(text: str | None) -> Markup | None:
    """Sanitized HTML for a Markdown model card; ``None`` for an empty one (the page then says "No model card")."""
    if text is None or not text.strip():
        return None
    return Markup(_cleaner.clean(_md.render(text)))  # sanitized by nh3
