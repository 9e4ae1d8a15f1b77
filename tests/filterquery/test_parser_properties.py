"""Property-based tests: any rendering of a syntax tree parses back to it, and no input breaks the parser."""

from __future__ import annotations

from filterquery_strategies import rendered_expressions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelreg.filterquery import FilterSyntaxError, parse
from modelreg.filterquery.nodes import Expr

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters the grammar cares about, so junk text often gets far into the parser.
GRAMMAR_CHARS = list("()'\"`\\=<>!.,-+_ 0123456789eE\t\naAnNdDoOrRiIlLkKtTfFsu\x00\ud800é")


@SETTINGS
@given(rendered_expressions())
def test_rendered_tree_parses_back_to_the_same_tree(case: tuple[Expr, str]) -> None:
    expr, text = case
    parsed = parse(text)
    assert parsed == expr
    assert repr(parsed) == repr(expr)  # also tells 1 from 1.0 and True


def _parses_or_raises_syntax_error(text: str) -> None:
    try:
        parse(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert str(error).startswith("invalid filter query syntax: ")


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    _parses_or_raises_syntax_error(text)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(GRAMMAR_CHARS), max_size=80))
def test_grammar_flavoured_junk_never_raises_anything_else(text: str) -> None:
    _parses_or_raises_syntax_error(text)


@SETTINGS
@given(rendered_expressions(), st.data())
def test_mutated_queries_never_raise_anything_else(case: tuple[Expr, str], data: st.DataObject) -> None:
    _, text = case
    cut = data.draw(st.integers(0, len(text)))
    other = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(GRAMMAR_CHARS) | st.characters())
    for mutated in (
        text[:cut],
        text[cut:],
        text[:cut] + insert + text[cut:],
        text[: min(cut, other)] + text[max(cut, other) :],
        text[:cut] + text[other:],
    ):
        _parses_or_raises_syntax_error(mutated)
