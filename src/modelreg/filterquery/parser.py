"""Recursive-descent parser: filter query text -> ``nodes`` tree.

Grammar (the reference's, plus ``NOT IN``/``NOT LIKE``/``NOT ILIKE``)::

    or         := and ( OR and )*
    and        := term ( AND term )*
    term       := "(" or ")" | comparison
    comparison := prop op value
    op         := = | != | <> | < | <= | > | >= | [NOT] LIKE | [NOT] ILIKE | [NOT] IN
    prop       := `quoted name` [ "." selector ] | ident ( "." ident )*    -- a final selector segment is split off
    value      := scalar | "(" [ scalar ( "," scalar )* ] ")"             -- lists only after [NOT] IN
    scalar     := 'string' | "string" | int | float | true | false

Keywords are case-insensitive (the reference only accepts upper case although its docs promise otherwise) and
are only keywords where the grammar expects one, so a property may be called ``state`` or even ``in``.
Only parentheses recurse, and their depth is capped, so no input can exhaust the Python stack.
"""

from __future__ import annotations

from typing import cast

from modelreg.filterquery._lexer import Token, TokenType, syntax_error, tokenize
from modelreg.filterquery.errors import FilterSyntaxError
from modelreg.filterquery.nodes import LIST_OPS, SELECTORS, And, Comparison, Expr, Op, Or, Property, Scalar, Selector

MAX_QUERY_LENGTH = 10_000
MAX_NESTING_DEPTH = 100

_SYMBOL_OPS = {"=": Op.EQ, "!=": Op.NE, "<>": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_WORD_OPS = {"LIKE": Op.LIKE, "ILIKE": Op.ILIKE, "IN": Op.IN}
_NEGATED = {Op.LIKE: Op.NOT_LIKE, Op.ILIKE: Op.NOT_ILIKE, Op.IN: Op.NOT_IN}
_BOOLEANS = {"TRUE": True, "FALSE": False}
_OPERATOR_LIST = "=, !=, <>, <, <=, >, >=, LIKE, ILIKE, IN, NOT LIKE, NOT ILIKE or NOT IN"


def parse(text: str) -> Expr | None:
    """Parse a filterQuery; ``None`` means no filter (empty, blank or comment-only text).

    Raises ``FilterSyntaxError`` (and nothing else) for any text that is not a valid query.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise FilterSyntaxError(
            f"invalid filter query syntax: the query is {len(text)} characters long, at most "
            f"{MAX_QUERY_LENGTH} are allowed",
            MAX_QUERY_LENGTH,
        )
    tokens = tokenize(text)
    if tokens[0].type is TokenType.EOF:
        return None
    return _Parser(text, tokens).query()


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    # -- token helpers -------------------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.type is not TokenType.EOF:
            self.index += 1
        return token

    def at(self, token_type: TokenType) -> bool:
        """Whether the current token is of this type: a call, so type checkers do not carry a narrowed
        ``self.token.type`` past an ``advance()``."""
        return self.token.type is token_type

    def at_keyword(self, keyword: str) -> bool:
        return self.at(TokenType.IDENT) and self.token.text.upper() == keyword

    def error(self, expected: str, hint: str = "") -> FilterSyntaxError:
        """``expected X after 'previous token'``, reported at the current token."""
        after = f" after {self.tokens[self.index - 1].text!r}" if self.index > 0 else ""
        return syntax_error(self.text, f"expected {expected}{after}", self.token.position, hint)

    # -- grammar ---------------------------------------------------------------------------------------------

    def query(self) -> Expr:
        expr = self.disjunction(0)
        if self.at(TokenType.RPAREN):
            raise syntax_error(self.text, "unexpected ')' without a matching '('", self.token.position)
        if not self.at(TokenType.EOF):
            raise self.error("AND, OR or the end of the query")
        return expr

    def disjunction(self, depth: int) -> Expr:
        operands = [self.conjunction(depth)]
        while self.at_keyword("OR"):
            self.advance()
            operands.append(self.conjunction(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self, depth: int) -> Expr:
        operands = [self.term(depth)]
        while self.at_keyword("AND"):
            self.advance()
            operands.append(self.term(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def term(self, depth: int) -> Expr:
        if not self.at(TokenType.LPAREN):
            return self.comparison()
        opening = self.advance()
        if depth >= MAX_NESTING_DEPTH:
            raise syntax_error(
                self.text, f"parentheses are nested more than {MAX_NESTING_DEPTH} levels deep", opening.position
            )
        expr = self.disjunction(depth + 1)
        if not self.at(TokenType.RPAREN):
            detail = f"expected ')' (to close the '(' at position {opening.position})"
            raise syntax_error(self.text, detail, self.token.position)
        self.advance()
        return expr

    def comparison(self) -> Comparison:
        start = self.token.position
        prop = self.prop()
        op = self.operator()
        value = self.value(op)
        return Comparison(prop, op, value, start)

    def prop(self) -> Property:
        token = self.token
        if token.type is TokenType.QUOTED_IDENT:
            self.advance()
            selector = None
            if self.at(TokenType.DOT):
                self.advance()
                if not (self.at(TokenType.IDENT) and self.token.text in SELECTORS):
                    raise self.error("string_value, int_value, double_value or bool_value")
                selector = self.advance().text
            return Property(cast(str, token.value), cast(Selector | None, selector))
        if token.type is not TokenType.IDENT:
            raise self.error("a property name or '('")
        segments = [self.advance().text]
        while self.at(TokenType.DOT):
            self.advance()
            if not self.at(TokenType.IDENT):
                raise self.error("a name")
            segments.append(self.advance().text)
        if len(segments) > 1 and segments[-1] in SELECTORS:
            return Property(".".join(segments[:-1]), cast(Selector, segments[-1]))
        return Property(".".join(segments))

    def operator(self) -> Op:
        token = self.token
        if token.type is TokenType.OPERATOR:
            self.advance()
            return _SYMBOL_OPS[token.text]
        if token.type is TokenType.IDENT:
            word = token.text.upper()
            if word in _WORD_OPS:
                self.advance()
                return _WORD_OPS[word]
            if word == "NOT":
                self.advance()
                negated = self.token.text.upper() if self.at(TokenType.IDENT) else ""
                if negated not in _WORD_OPS:
                    raise self.error("LIKE, ILIKE or IN")
                self.advance()
                return _NEGATED[_WORD_OPS[negated]]
        raise self.error(f"an operator ({_OPERATOR_LIST})")

    def value(self, op: Op) -> Scalar | tuple[Scalar, ...]:
        if not self.at(TokenType.LPAREN):
            scalar = self.scalar("a value")
            return (scalar,) if op in LIST_OPS else scalar
        if op not in LIST_OPS:
            raise self.error("a single value (a parenthesised list is only allowed after IN or NOT IN)")
        self.advance()
        items: list[Scalar] = []
        if self.at(TokenType.RPAREN):
            self.advance()
            return ()
        while True:
            items.append(self.scalar("a value in the list"))
            if self.at(TokenType.RPAREN):
                self.advance()
                return tuple(items)
            if not self.at(TokenType.COMMA):
                raise self.error("',' or ')' in the list of values")
            self.advance()

    def scalar(self, expected: str) -> Scalar:
        token = self.token
        if token.type in (TokenType.STRING, TokenType.INT, TokenType.FLOAT):
            self.advance()
            return token.value
        if token.type is TokenType.IDENT:
            if token.text.upper() in _BOOLEANS:
                self.advance()
                return _BOOLEANS[token.text.upper()]
            raise self.error(expected, hint=f'string values must be quoted, e.g. "{token.text}"')
        raise self.error(expected)
