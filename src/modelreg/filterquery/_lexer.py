"""Tokenizer for the filter language, written by hand so every failure is a ``FilterSyntaxError`` with a position.

Token rules follow the reference lexer (identifiers, numbers with an optional sign, single- or double-quoted
strings, backquoted names, ``--`` line comments) with two deliberate differences: a string is exactly the
text between its quotes (the reference strips *every* leading and trailing quote character), and numbers
must fit the databases' 64-bit integers and finite doubles, checked here so the SQL layer never sees them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from modelreg.filterquery.errors import FilterSyntaxError


class TokenType(Enum):
    IDENT = auto()
    QUOTED_IDENT = auto()
    STRING = auto()
    INT = auto()
    FLOAT = auto()
    OPERATOR = auto()
    LPAREN = auto()
    RPAREN = auto()
    DOT = auto()
    COMMA = auto()
    EOF = auto()


@dataclass(frozen=True, slots=True)
class Token:
    type: TokenType
    text: str  # the source text of the token
    value: str | int | float  # decoded value: unquoted string or name, number, or the text itself
    position: int


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_WHITESPACE = frozenset(" \t\n\r\f\v")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NUMBER_START = re.compile(r"[-+]?\.?[0-9]")
_OPERATORS = (">=", "<=", "!=", "<>", "=", ">", "<")  # two-character operators first
_PUNCTUATION = {"(": TokenType.LPAREN, ")": TokenType.RPAREN, ".": TokenType.DOT, ",": TokenType.COMMA}
# NUL cannot be stored or bound by PostgreSQL, lone surrogates cannot be encoded for any driver.
_FORBIDDEN = re.compile(r"[\x00\ud800-\udfff]")
_STRING_ESCAPES = frozenset("\"'\\")
_MAX_INT_DIGITS = 20  # anything longer is out of int64 range; also keeps int() clear of its digit limit


def syntax_error(text: str, detail: str, position: int, hint: str = "") -> FilterSyntaxError:
    """Build the error with the wording the API returns: what was expected, where, and the text found there."""
    near = json.dumps(text[position : position + 20], ensure_ascii=False)
    hint = f"; {hint}" if hint else ""
    return FilterSyntaxError(
        f"invalid filter query syntax: {detail} at position {position} (near {near}){hint}", position
    )


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with one ``EOF`` token."""
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        raise syntax_error(text, f"character U+{ord(forbidden.group()):04X} is not allowed", forbidden.start())
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif c in "'\"":
            value, end = _scan_quoted(text, i, _unescape_string)
            tokens.append(Token(TokenType.STRING, text[i:end], value, i))
            i = end
        elif c == "`":
            value, end = _scan_quoted(text, i, _unescape_name)
            if not value:
                raise syntax_error(text, "expected a name between the backquotes", i)
            tokens.append(Token(TokenType.QUOTED_IDENT, text[i:end], value, i))
            i = end
        elif _NUMBER_START.match(text, i):
            token = _number(text, i)
            tokens.append(token)
            i += len(token.text)
        elif match := _IDENT.match(text, i):
            tokens.append(Token(TokenType.IDENT, match.group(), match.group(), i))
            i = match.end()
        elif c in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[c], c, c, i))
            i += 1
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if operator is None:
                raise syntax_error(text, f"unexpected character {c!r}", i)
            tokens.append(Token(TokenType.OPERATOR, operator, operator, i))
            i += len(operator)
    tokens.append(Token(TokenType.EOF, "", "", n))
    return tokens


def _scan_quoted(text: str, start: int, unescape: Callable[[str], str]) -> tuple[str, int]:
    """Read a quoted token starting at ``start``; returns the decoded content and the index after the close quote."""
    quote = text[start]
    parts: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            parts.append(unescape(text[i + 1]))
            i += 2
        elif c == quote and text.startswith(quote, i + 1):
            parts.append(quote)  # SQL's doubled quote, as the reference catalog UI escapes values ('O''Reilly')
            i += 2
        elif c == quote:
            return "".join(parts), i + 1
        else:
            parts.append(c)
            i += 1
    what = "name" if quote == "`" else "string"
    raise syntax_error(text, f"unterminated {what}: expected a closing {quote} for the {quote} opened", start)


def _unescape_string(c: str) -> str:
    """``\\"``, ``\\'`` and ``\\\\`` are escapes; any other backslash stays, so ``\\%`` still escapes LIKE wildcards."""
    return c if c in _STRING_ESCAPES else "\\" + c


def _unescape_name(c: str) -> str:
    return c


def _number(text: str, start: int) -> Token:
    match = _NUMBER.match(text, start)
    assert match is not None  # guaranteed by _NUMBER_START
    literal = match.group()
    if any(c in literal for c in ".eE"):
        value = float(literal)
        if not math.isfinite(value):
            raise syntax_error(text, f"number {literal} is out of range", start)
        return Token(TokenType.FLOAT, literal, value, start)
    digits = literal.lstrip("+-").lstrip("0")  # leading zeros do not count against int()'s digit limit
    sign = -1 if literal.startswith("-") else 1
    number = sign * int(digits or "0") if len(digits) <= _MAX_INT_DIGITS else None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise syntax_error(text, f"integer {literal[:30]} is out of the 64-bit range", start)
    return Token(TokenType.INT, literal, number, start)
