"""Label selectors as the API server reads them from ``?labelSelector=``: ``k=v`` (or ``k==v``), ``k!=v``, ``k``
(exists) and ``!k`` (does not exist), comma-separated. Set-based forms (``in``, ``notin``) are refused with a 400
rather than ignored, so a client relying on them notices. Written apart from modelreg's own selector code on
purpose: the emulator must not share the client's mistakes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, str]], bool]
_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_TERM = re.compile(rf"^(?P<neg>!)?(?P<key>{_KEY})(\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE}))?$")


class SelectorError(ValueError):
    pass


def parse_selector(text: str | None) -> Predicate:
    """A predicate over an object's labels; everything matches an empty selector."""
    terms: list[Predicate] = []
    for raw in (text or "").split(","):
        term = raw.strip()
        if not term:
            continue
        found = _TERM.match(term)
        if found is None or (found["neg"] and found["op"]):
            raise SelectorError(f"unable to parse requirement: {term!r}")
        terms.append(_predicate(found["key"], found["op"], found["value"] or "", bool(found["neg"])))
    return lambda labels: all(term(labels) for term in terms)


def _predicate(key: str, op: str | None, value: str, negated: bool) -> Predicate:
    if op is None:
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value


def labels_of(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    if not obj:
        return {}
    return (obj.get("metadata") or {}).get("labels") or {}
