"""Syntax tree -> SQLAlchemy where-clause for one ``Target``; one expression for SQLite, PostgreSQL and MariaDB.

Choices, where the reference server is vague or quirky:

* Literals are converted to the type of what they are compared with before binding, because PostgreSQL refuses
  e.g. ``bigint = varchar``. API ids are strings, so ``id = "3"`` and ``experimentRunId IN ('5','7')`` work:
  integer-like strings become integers. String fields accept integer literals (``externalId = 42``). Anything
  else that does not fit raises ``FilterTypeError`` instead of the reference's database-dependent result.
* A name that is not a field of the target is a custom property, matched with ``<table>.id IN (SELECT owner_id FROM
  properties WHERE owner_kind = ... AND name = ... AND <condition>)``. An uncorrelated ``IN`` lets every database
  drive the lookup from the typed property index: at 100,000 versions a selective property filter takes ~3 ms this
  way against ~130 ms for a correlated ``EXISTS`` on SQLite, whose planner would scan every version (``bench/``
  measures it). The compared column is the explicit
  ``.string_value``/``.int_value``/``.double_value``/``.bool_value`` suffix, else it follows the literal: string ->
  string_value, float or integer -> ``int_value <op> v OR double_value <op> v``, bool -> bool_value
  (an IN list follows its first value); LIKE/ILIKE always compare string_value.
* Negative operators (``!=``/``<>``, NOT IN, NOT LIKE, NOT ILIKE) on a custom property mean "has the property and
  its value differs", never "lacks the property". This matches SQL on the entity's own columns, where a NULL
  column matches neither ``=`` nor ``!=``: a comparison never matches a missing value.
* LIKE is case-sensitive on every database (SQLite needs ``PRAGMA case_sensitive_like = ON``, MariaDB gets
  binary collations from ``tables.py``); ILIKE lower-cases both sides. ``\\`` escapes ``%`` and ``_``.
* ``IN ()`` matches nothing and ``NOT IN ()`` matches everything.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    String,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.types import TypeEngine

from modelreg.db.tables import properties
from modelreg.filterquery._lexer import INT64_MAX, INT64_MIN
from modelreg.filterquery.errors import FilterTypeError
from modelreg.filterquery.fields import Field, FieldType, Target
from modelreg.filterquery.nodes import LIST_OPS, PATTERN_OPS, And, Comparison, Expr, Op, Or, Scalar
from modelreg.filterquery.parser import parse

_SELECTOR_TYPES: dict[str, FieldType] = {
    "string_value": "str",
    "int_value": "int",
    "double_value": "float",
    "bool_value": "bool",
}
_TYPE_NAMES: dict[FieldType, str] = {"int": "an integer", "float": "a number", "str": "a string", "bool": "a boolean"}
_BIND_TYPES: dict[type, Callable[[], TypeEngine[Any]]] = {
    bool: Boolean,
    int: BigInteger,
    float: lambda: Float(53),
    str: String,
}
_COMPARE: dict[Op, Callable[[Any, Any], ColumnElement[bool]]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}
_INTEGER = re.compile(r"[-+]?[0-9]{1,20}")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def compile_filter(text: str | None, target: Target) -> ColumnElement[bool] | None:
    """Parse a filterQuery and build its where-clause; ``None`` when there is nothing to filter by."""
    if text is None:
        return None
    expr = parse(text)
    return None if expr is None else to_where(expr, target)


def to_where(expr: Expr, target: Target) -> ColumnElement[bool]:
    """The condition for ``expr`` on rows of ``target.table``; raises ``FilterTypeError`` for ill-typed comparisons."""
    if isinstance(expr, And):
        return and_(*(to_where(operand, target) for operand in expr.operands))
    if isinstance(expr, Or):
        return or_(*(to_where(operand, target) for operand in expr.operands))
    field = target.fields.get(expr.prop.name)
    if field is not None:
        return _field_condition(expr, field)
    return _property_condition(expr, target)


def _field_condition(comparison: Comparison, field: Field) -> ColumnElement[bool]:
    name, selector = comparison.prop.name, comparison.prop.selector
    if selector is not None and _SELECTOR_TYPES[selector] != field.type:
        raise FilterTypeError(
            f"invalid filter query, type mismatch: field {name!r} is {_TYPE_NAMES[field.type]}, "
            f"it cannot be read as {selector}",
            comparison.position,
        )
    return _condition(field.column, field.type, comparison, f"field {name!r} is")


def _property_condition(comparison: Comparison, target: Target) -> ColumnElement[bool]:
    p = properties.alias("p")
    name, selector = comparison.prop.name, comparison.prop.selector
    if selector is not None:
        condition = _condition(p.c[selector], _SELECTOR_TYPES[selector], comparison, f"property '{name}.{selector}' is")
    elif comparison.op in PATTERN_OPS:
        condition = _condition(p.c.string_value, "str", comparison, f"property {name!r} is compared as")
    else:
        condition = _inferred_condition(p, comparison)
    return target.table.c.id.in_(
        select(p.c.owner_id).where(p.c.owner_kind == target.owner_kind, p.c.name == name, condition)
    )


def _inferred_condition(p: Any, comparison: Comparison) -> ColumnElement[bool]:
    """Pick the property column from the literal (an IN list's first value); numbers compare with int and double
    values alike, so ``accuracy > 0.9`` also finds an accuracy stored as the integer 1."""
    value = comparison.value
    sample = value[0] if isinstance(value, tuple) and value else value
    subject = f"the list for property {comparison.prop.name!r} starts with"
    if isinstance(sample, bool):
        return _condition(p.c.bool_value, "bool", comparison, subject)
    if isinstance(sample, int | float):
        return or_(
            _condition(p.c.int_value, "int", comparison, subject),
            _condition(p.c.double_value, "float", comparison, subject),
        )
    return _condition(p.c.string_value, "str", comparison, subject)


def _condition(column: Any, field_type: FieldType, comparison: Comparison, subject: str) -> ColumnElement[bool]:
    """``column <op> value`` with the literal converted to ``field_type``; ``subject`` prefixes type errors."""
    op, value = comparison.op, comparison.value

    def coerce(item: Scalar) -> Scalar:
        converted = _coerce(item, field_type)
        if converted is None:
            raise FilterTypeError(
                f"invalid filter query, type mismatch: {subject} {_TYPE_NAMES[field_type]}, got {_show(item)}",
                comparison.position,
            )
        return converted

    if op in LIST_OPS:
        assert isinstance(value, tuple)
        return _in_list(column, field_type, op, [coerce(item) for item in value])
    assert not isinstance(value, tuple)
    if op in PATTERN_OPS:
        if field_type != "str":
            raise FilterTypeError(
                f"invalid filter query, type mismatch: {op} needs a string, but {subject} {_TYPE_NAMES[field_type]}",
                comparison.position,
            )
        return _like(column, op, _bind(coerce(value)))
    return _COMPARE[op](column, _bind(coerce(value)))


def _in_list(
    column: ColumnElement[Any], field_type: FieldType, op: Op, values: Sequence[Scalar]
) -> ColumnElement[bool]:
    if field_type == "int":
        # A fractional number never equals an integer; binding it as one would round it on some databases.
        values = [v for v in values if not isinstance(v, float)]
    if not values:
        return false() if op is Op.IN else true()
    return column.in_(values) if op is Op.IN else column.not_in(values)


def _like(column: ColumnElement[Any], op: Op, pattern: Any) -> ColumnElement[bool]:
    if op in (Op.ILIKE, Op.NOT_ILIKE):
        column, pattern = func.lower(column), func.lower(pattern)
    if op in (Op.LIKE, Op.ILIKE):
        return column.like(pattern, escape="\\")
    return column.not_like(pattern, escape="\\")


def _bind(value: Scalar) -> ColumnElement[Any]:
    """A bind parameter typed after the Python value, so a fractional number compared with an integer stays one."""
    return literal(value, _BIND_TYPES[type(value)]())


def _coerce(value: Scalar, field_type: FieldType) -> Scalar | None:
    """``value`` converted to ``field_type``, or ``None`` if it does not fit.

    Integer fields keep fractional numbers as floats: ``id > 2.5`` is a meaningful comparison.
    """
    if isinstance(value, bool):
        return value if field_type == "bool" else None
    if field_type == "bool":
        lowered = value.lower() if isinstance(value, str) else None
        return {"true": True, "false": False}.get(lowered) if lowered is not None else None
    if field_type == "str":
        return str(value) if isinstance(value, (str, int)) else None
    if isinstance(value, str):
        if field_type == "int" and _INTEGER.fullmatch(value):
            number = int(value)
            return number if INT64_MIN <= number <= INT64_MAX else None
        if field_type == "float" and _NUMBER.fullmatch(value):
            number_value = float(value)
            return number_value if math.isfinite(number_value) else None
        return None
    if field_type == "float":
        return float(value)
    if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    return value


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
