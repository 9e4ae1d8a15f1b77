"""A small, fast YAML emitter for the bridge's documents: block style, as a person would write catalog-info.yaml.

Why not PyYAML: rendering 10,000 versions' entities took it 1.8 s even with libyaml (most of the export budget),
because its representer walks every node in Python. The documents are plain JSON data (dicts with string keys,
lists, strings, numbers, booleans, null), so this emitter writes plain scalars where YAML cannot misread them and
JSON-quoted strings everywhere else: a JSON string is a valid YAML double-quoted scalar once the few characters
YAML treats as line breaks or refuses as non-printable are escaped too. A property test checks that PyYAML reads
back exactly the data written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

# Plain (unquoted) only for strings no YAML 1.1/1.2 resolver turns into another type and no syntax can split:
# starting with a letter (no numbers, dates, indicators), then letters, digits and "._/-" (no ": ", " #").
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Line breaks in YAML 1.1 (NEL, LS, PS) and characters PyYAML refuses as non-printable, which orjson leaves raw.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


_RENDERED: dict[str, str] = {}  # short strings as written: keys, kinds, owners and tags repeat in every document
_RENDERED_MAX = 50_000


def scalar(value: Any) -> str:
    if type(value) is str:
        found = _RENDERED.get(value)
        if found is None:
            found = _string(value)
            if len(value) <= 120:
                if len(_RENDERED) >= _RENDERED_MAX:
                    _RENDERED.clear()
                _RENDERED[value] = found
        return found
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}[text]
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")  # PyYAML only reads exponents with a dot as floats
        return text
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    return _UNSAFE.sub(_escape, orjson.dumps(value).decode())


def _node(value: Any, indent: int, out: list[str]) -> None:
    """Write a non-empty mapping or sequence, each line starting at ``indent``."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{scalar(key)}:\n")
                _node(item, indent + 2, out)
            else:
                out.append(f"{pad}{scalar(key)}: {_inline(item)}\n")
        return
    for item in value:
        if isinstance(item, (dict, list)) and item:
            start = len(out)
            _node(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2 :]}"  # the first line joins the dash
        else:
            out.append(f"{pad}- {_inline(item)}\n")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def dump_all(documents: Iterable[Any]) -> bytes:
    """A multi-document stream, each document starting with ``---``."""
    out: list[str] = []
    for document in documents:
        out.append("---\n")
        if isinstance(document, (dict, list)) and document:
            _node(document, 0, out)
        else:
            out.append(f"{_inline(document)}\n")
    return "".join(out).encode()
