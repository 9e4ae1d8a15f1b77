"""A source's ``includedModels`` / ``excludedModels`` glob lists, as the catalog contract defines them: only ``*``
is a wildcard (zero or more characters, ``/`` included), matching is case-insensitive and anchored to the whole
name, exclusions win, and a pattern may be neither empty nor in both lists.

Each list is compiled once into a single regular expression, so filtering 10,000 names costs one ``fullmatch``
per name and list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


class GlobError(ValueError):
    """A pattern list breaks the contract's rules (the message names the pattern)."""


def _regex(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    alternatives = (
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", p.casefold())) for p in patterns
    )
    return re.compile("(?:" + "|".join(alternatives) + ")", re.DOTALL)


def _check(kind: str, patterns: Sequence[str]) -> None:
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise GlobError(f"{kind}: a pattern must be a string, got {type(pattern).__name__}")
        if not pattern.strip():
            raise GlobError(f"{kind}: a pattern may not be empty")


@dataclass(frozen=True, slots=True)
class ModelFilter:
    """Which model names a source keeps."""

    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    _include: re.Pattern[str] | None = None
    _exclude: re.Pattern[str] | None = None

    def matches(self, name: str) -> bool:
        folded = name.casefold()
        if self._exclude is not None and self._exclude.fullmatch(folded):
            return False
        return self._include is None or self._include.fullmatch(folded) is not None


def compile_filter(included: Sequence[str] = (), excluded: Sequence[str] = ()) -> ModelFilter:
    """The filter for one source; ``GlobError`` for an empty pattern or one in both lists (compared
    case-insensitively, as matching is)."""
    _check("includedModels", included)
    _check("excludedModels", excluded)
    both = sorted({p.casefold() for p in included} & {p.casefold() for p in excluded})
    if both:
        raise GlobError(f"pattern '{both[0]}' is in both includedModels and excludedModels")
    return ModelFilter(tuple(included), tuple(excluded), _regex(included), _regex(excluded))


ALL_MODELS = compile_filter()
