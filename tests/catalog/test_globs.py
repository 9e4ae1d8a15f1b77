"""includedModels / excludedModels: the contract's glob rules, and a property test against a reference matcher."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.catalog.globs import GlobError, compile_filter


def reference_match(pattern: str, name: str) -> bool:
    """The contract's semantics, written independently: ``*`` matches any run of characters (``/`` included),
    everything else matches itself case-insensitively, and the whole name must match."""
    p, n = pattern.casefold(), name.casefold()

    @cache
    def at(i: int, j: int) -> bool:
        if i == len(p):
            return j == len(n)
        if p[i] == "*":
            return at(i + 1, j) or (j < len(n) and at(i, j + 1))
        return j < len(n) and p[i] == n[j] and at(i + 1, j + 1)

    return at(0, 0)


def reference_keeps(included: list[str], excluded: list[str], name: str) -> bool:
    if any(reference_match(p, name) for p in excluded):
        return False
    return not included or any(reference_match(p, name) for p in included)


@pytest.mark.parametrize(
    ("included", "excluded", "name", "kept"),
    [
        (["ibm-granite/*"], [], "ibm-granite/granite-8b", True),
        (["ibm-granite/*"], [], "IBM-Granite/Granite-8B", True),
        (["ibm-granite/*"], [], "meta-llama/llama", False),
        (["Granite/*"], [], "GRANITE/model", True),
        ([], ["*-draft"], "org/model-draft", False),
        ([], ["*-draft"], "org/model-draft-2", True),  # anchored: the name does not end in -draft
        (["*"], ["*deprecated*"], "a/old-deprecated-model", False),
        (["*"], ["*/beta-*"], "org/beta-1", False),
        (["*"], ["*/beta-*"], "beta-1", True),
        (["granite"], [], "granite-8b", False),  # anchored at the end
        (["*8b"], [], "granite-8b", True),
        (["a.b"], [], "axb", False),  # only * is special
        (["a?b"], [], "axb", False),
        (["[ab]"], [], "a", False),
        ([], [], "anything", True),
    ],
)
def test_examples(included: list[str], excluded: list[str], name: str, kept: bool) -> None:
    assert compile_filter(included, excluded).matches(name) is kept


@pytest.mark.parametrize(
    ("included", "excluded", "message"),
    [
        ([""], [], "empty"),
        (["  "], [], "empty"),
        ([], [""], "empty"),
        (["a/*"], ["a/*"], "both"),
        (["A/*"], ["a/*"], "both"),
    ],
)
def test_invalid_lists(included: list[str], excluded: list[str], message: str) -> None:
    with pytest.raises(GlobError, match=message):
        compile_filter(included, excluded)


_ALPHABET = st.sampled_from([*"ab/-.*?[]()+\\$^AB", "ß", "İ", "é", "É"])
_PATTERN = st.text(_ALPHABET, min_size=1, max_size=8).filter(lambda p: p.strip() != "")
_NAME = st.text(st.sampled_from([*"ab/-.?[]()+\\$^AB", "ß", "İ", "é", "É"]), max_size=10)


@given(st.lists(_PATTERN, max_size=3), st.lists(_PATTERN, max_size=3), _NAME)
def test_matches_the_reference(included: list[str], excluded: list[str], name: str) -> None:
    if {p.casefold() for p in included} & {p.casefold() for p in excluded}:
        with pytest.raises(GlobError):
            compile_filter(included, excluded)
        return
    assert compile_filter(included, excluded).matches(name) is reference_keeps(included, excluded, name)
