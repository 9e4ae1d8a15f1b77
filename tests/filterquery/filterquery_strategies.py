"""Hypothesis strategies shared by the filterquery property tests: syntax trees and random renderings of them."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from modelreg.filterquery import And, Comparison, Op, Or, Property
from modelreg.filterquery.nodes import LIST_OPS, PATTERN_OPS, SELECTORS, Expr, Scalar

_IDENT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
SAFE_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
names = st.one_of(
    st.lists(identifiers, min_size=1, max_size=3).map(".".join),
    st.sampled_from(["name", "id", "state", "externalId", "library_name", "in", "AND", "string_value"]),
    st.text(SAFE_CHARS, min_size=1, max_size=10),
)
selectors = st.one_of(st.none(), st.sampled_from(sorted(SELECTORS)))
scalars: st.SearchStrategy[Scalar] = st.one_of(
    st.text(SAFE_CHARS, max_size=10),
    st.sampled_from(["3", "abc", "true", "%a_", "1.5"]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    op = draw(st.sampled_from(list(Op)))
    value: Any = tuple(draw(st.lists(scalars, max_size=4))) if op in LIST_OPS else draw(scalars)
    if op in PATTERN_OPS and draw(st.booleans()):
        value = draw(st.text(SAFE_CHARS, max_size=8))
    return Comparison(Property(draw(names), draw(selectors)), op, value)


expressions: st.SearchStrategy[Expr] = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=4).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)

_SPACE = ["", " ", "  ", "\t", "\n", " -- a comment\n", "\r\n"]


def _space(draw: st.DrawFn, at_least_one: bool = False) -> str:
    space = draw(st.sampled_from(_SPACE[1:] if at_least_one else _SPACE))
    return space


def _keyword(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.lower() if flip else c.upper() for c, flip in zip(word, flips, strict=True))


def _prop(draw: st.DrawFn, prop: Property) -> str:
    segments = prop.name.split(".")
    ambiguous = prop.selector is None and len(segments) > 1 and segments[-1] in SELECTORS
    if _IDENT_PATH.fullmatch(prop.name) and not ambiguous and draw(st.booleans()):
        text = prop.name
    else:
        escaped = prop.name.replace("\\", "\\\\").replace("`", "\\`")
        if draw(st.booleans()):
            escaped = escaped.replace(".", "\\.")
        text = f"`{escaped}`"
    return text if prop.selector is None else f"{text}.{prop.selector}"


def _scalar(draw: st.DrawFn, value: Scalar) -> str:
    if isinstance(value, bool):
        return _keyword(draw, "true" if value else "false")
    if isinstance(value, (int, float)):
        return repr(value)
    quote = draw(st.sampled_from(["'", '"']))
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def _op(draw: st.DrawFn, op: Op) -> str:
    if op is Op.NE:
        return draw(st.sampled_from(["!=", "<>"]))
    if op.value[0].isalpha():
        words = op.value.split()
        return _space(draw, True) + _space(draw, True).join(_keyword(draw, w) for w in words) + _space(draw, True)
    return _space(draw) + op.value + _space(draw)


def _comparison(draw: st.DrawFn, comparison: Comparison) -> str:
    value = comparison.value
    if isinstance(value, tuple):
        if len(value) == 1 and draw(st.booleans()):
            rendered = _scalar(draw, value[0])
        else:
            sep = "," + _space(draw)
            rendered = "(" + _space(draw) + sep.join(_scalar(draw, v) for v in value) + _space(draw) + ")"
    else:
        rendered = _scalar(draw, value)
    text = _prop(draw, comparison.prop) + _op(draw, comparison.op) + rendered
    return f"({_space(draw)}{text}{_space(draw)})" if draw(st.integers(0, 4)) == 0 else text


def render(draw: st.DrawFn, expr: Expr) -> str:
    """Render ``expr`` as text with random spacing, comments, keyword case, quotes and redundant parentheses."""
    if isinstance(expr, Comparison):
        return _comparison(draw, expr)
    keyword = "AND" if isinstance(expr, And) else "OR"
    parts = []
    for operand in expr.operands:
        text = render(draw, operand)
        # nested And/Or nodes came from parentheses; an And inside an Or may also rely on precedence
        needs_parens = isinstance(operand, (And, Or)) and not (
            isinstance(expr, Or) and isinstance(operand, And) and draw(st.booleans())
        )
        parts.append(f"({_space(draw)}{text}{_space(draw)})" if needs_parens else text)
    return (_space(draw, True) + _keyword(draw, keyword) + _space(draw, True)).join(parts)


@st.composite
def rendered_expressions(draw: st.DrawFn) -> tuple[Expr, str]:
    expr = draw(expressions)
    return expr, _space(draw) + render(draw, expr) + _space(draw)
