"""The typed syntax tree that ``parse`` produces and ``to_where`` consumes.

``And``/``Or`` are n-ary (``a AND b AND c`` is one node), so long chains do not nest; only parentheses
nest, and the parser caps their depth. Positions are kept for error messages but excluded from equality,
so two parses of differently spaced text compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

Selector: TypeAlias = Literal["string_value", "int_value", "double_value", "bool_value"]
SELECTORS: frozenset[str] = frozenset({"string_value", "int_value", "double_value", "bool_value"})

Scalar: TypeAlias = str | int | float | bool


class Op(StrEnum):
    """Comparison operators. ``<>`` parses to ``NE`` (the reference server treats it as equality; we do not)."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    NOT_LIKE = "NOT LIKE"
    ILIKE = "ILIKE"
    NOT_ILIKE = "NOT ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"


LIST_OPS: frozenset[Op] = frozenset({Op.IN, Op.NOT_IN})
PATTERN_OPS: frozenset[Op] = frozenset({Op.LIKE, Op.NOT_LIKE, Op.ILIKE, Op.NOT_ILIKE})
NEGATIVE_OPS: frozenset[Op] = frozenset({Op.NE, Op.NOT_LIKE, Op.NOT_ILIKE, Op.NOT_IN})


@dataclass(frozen=True)
class Property:
    """A property reference: ``name`` is the dotted or backquoted name with quoting and escapes removed.

    ``selector`` is the optional trailing ``.string_value|.int_value|.double_value|.bool_value`` that picks
    the custom-property column to compare.
    """

    name: str
    selector: Selector | None = None


@dataclass(frozen=True)
class Comparison:
    """``prop op value``; ``value`` is a tuple exactly when ``op`` is IN or NOT IN."""

    prop: Property
    op: Op
    value: Scalar | tuple[Scalar, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr: TypeAlias = Comparison | And | Or


def mentions(expr: Expr | None, name: str) -> bool:
    """Whether the filter refers to the property ``name`` anywhere."""
    if expr is None:
        return False
    if isinstance(expr, Comparison):
        return expr.prop.name == name
    return any(mentions(operand, name) for operand in expr.operands)
