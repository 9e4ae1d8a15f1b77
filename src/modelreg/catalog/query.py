"""filterQuery over catalog models and artifacts in memory: the registry's parser (``modelreg.filterquery``), and an
evaluator over Python objects instead of SQL.

Semantics, as the reference's SQL gives them:
- a value that is absent (a field that is None, a property the object does not have) matches nothing, ``!=`` and
  ``NOT ...`` included (SQL's NULL);
- a comparison between different kinds (a string with a number, a bool with anything else) matches nothing;
- an array field (``tasks``, ``language``) matches when any element does (``tasks = 'x'`` means "contains"); its
  negated forms match a non-empty array none of whose elements match the positive form;
- ``artifacts.<prop>[.<type>_value]`` (and the artifact fields) matches when any artifact of the model does; each
  such comparison is tested on its own, so two of them may be met by two different artifacts;
- ``LIKE`` is case-sensitive, ``ILIKE`` not; ``%`` and ``_`` are the wildcards and ``\\`` escapes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from modelreg.catalog.models import CatalogArtifact, CatalogModel, MetadataValue
from modelreg.errors import InvalidInput
from modelreg.filterquery import And, Comparison, Expr, FilterSyntaxError, Op, Property, parse
from modelreg.filterquery.nodes import NEGATIVE_OPS, Scalar

Value = str | int | float | bool | tuple[str, ...] | None  # None: absent; a tuple: an array field
Getter = Callable[[Any], Value]
ModelPredicate = Callable[[CatalogModel], bool]
ArtifactPredicate = Callable[[CatalogArtifact], bool]

ARTIFACTS_PREFIX = "artifacts."
_POSITIVE = {Op.NE: Op.EQ, Op.NOT_LIKE: Op.LIKE, Op.NOT_ILIKE: Op.ILIKE, Op.NOT_IN: Op.IN}
SELECTOR_KINDS = {"string_value": "s", "int_value": "n", "double_value": "n", "bool_value": "b"}


@dataclass(frozen=True, slots=True)
class ModelFilter:
    """A compiled model filterQuery. ``artifact_condition`` is the conjunction of its ``artifacts.*`` comparisons,
    which also decides which artifacts count when sorting by an artifact property (as the reference does)."""

    matches: ModelPredicate
    artifact_condition: ArtifactPredicate | None


# -- values ---------------------------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int | float):
        return "n"
    return "s"


def property_value(value: MetadataValue | None, selector: str | None) -> str | int | float | bool | None:
    """The typed value of a ``MetadataValue`` (``int_value`` is a string on the wire), or None when it has no value
    of the ``selector``'s column (e.g. ``x.double_value`` on a string property)."""
    if value is None:
        return None
    for column in (selector,) if selector else ("string_value", "int_value", "double_value", "bool_value"):
        raw = value.get(column)
        if raw is None:
            continue
        try:
            if column == "int_value":
                return int(raw)
            if column == "double_value":
                return float(raw)
        except (TypeError, ValueError):
            return None
        if column == "bool_value":
            return raw if isinstance(raw, bool) else None
        return raw if isinstance(raw, str) else None
    return None


def _numeric_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


MODEL_FIELDS: dict[str, tuple[str, Getter]] = {
    # name → (kind, getter); kind "s" string, "n" number, "a" array of strings
    "name": ("s", attrgetter("name")),
    "description": ("s", attrgetter("description")),
    "provider": ("s", attrgetter("provider")),
    "license": ("s", attrgetter("license")),
    "licenseLink": ("s", attrgetter("license_link")),
    "license_link": ("s", attrgetter("license_link")),
    "libraryName": ("s", attrgetter("library_name")),
    "library_name": ("s", attrgetter("library_name")),
    "maturity": ("s", attrgetter("maturity")),
    "source_id": ("s", attrgetter("source_id")),
    "language": ("a", attrgetter("language")),
    "tasks": ("a", attrgetter("tasks")),
    "id": ("n", lambda m: _numeric_id(m.id)),
    "createTimeSinceEpoch": ("n", attrgetter("create_time_ms")),
    "lastUpdateTimeSinceEpoch": ("n", attrgetter("last_update_time_ms")),
}

ARTIFACT_FIELDS: dict[str, tuple[str, Getter]] = {
    "name": ("s", attrgetter("name")),
    "uri": ("s", attrgetter("uri")),
    "artifactType": ("s", lambda a: a.artifact_type.value),
    "artifact_type": ("s", lambda a: a.artifact_type.value),
    "metricsType": ("s", attrgetter("metrics_type")),
    "metrics_type": ("s", attrgetter("metrics_type")),
    "id": ("n", lambda a: _numeric_id(a.id)),
    "createTimeSinceEpoch": ("n", attrgetter("create_time_ms")),
    "lastUpdateTimeSinceEpoch": ("n", attrgetter("last_update_time_ms")),
}


def field_getter(fields: Mapping[str, tuple[str, Getter]], name: str, selector: str | None) -> tuple[Getter, bool]:
    """The getter of a field or custom property, and whether it is a numeric field (whose quoted operands are read
    as numbers, since the API sends ids and times as strings). A field named with a selector of another kind
    (``provider.double_value``) is read as a custom property of that name."""
    field = fields.get(name)
    if field is not None:
        kind, getter = field
        wanted = SELECTOR_KINDS.get(selector or "")
        if wanted is None or wanted == kind or (wanted == "s" and kind == "a"):
            return getter, kind == "n"

    def custom(obj: Any) -> Value:
        return property_value(obj.custom_properties.get(name), selector)

    return custom, False


# -- comparisons ----------------------------------------------------------------------------------------------------


def _like(pattern: str, insensitive: bool) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if insensitive else 0))


def _as_number(operand: Scalar) -> Scalar:
    if isinstance(operand, str):
        try:
            return int(operand)
        except ValueError:
            try:
                return float(operand)
            except ValueError:
                return operand
    return operand


def _scalar_test(op: Op, operand: Scalar | tuple[Scalar, ...]) -> Callable[[Any], bool]:
    """A positive operator's test of one scalar value (not None, not an array)."""
    if op is Op.IN:
        members = tuple(operand) if isinstance(operand, tuple) else (operand,)
        tests = [_scalar_test(Op.EQ, member) for member in members]
        return lambda v: any(test(v) for test in tests)
    assert not isinstance(operand, tuple)
    kind = _kind(operand)
    if op in (Op.LIKE, Op.ILIKE):
        if kind != "s":
            return lambda v: False
        fullmatch = _like(str(operand), op is Op.ILIKE).fullmatch
        return lambda v: isinstance(v, str) and fullmatch(v) is not None
    if op is Op.EQ:
        return lambda v: _kind(v) == kind and v == operand
    if kind == "b":
        return lambda v: False
    compare: Callable[[Any, Any], bool] = {
        Op.LT: lambda a, b: a < b,
        Op.LE: lambda a, b: a <= b,
        Op.GT: lambda a, b: a > b,
        Op.GE: lambda a, b: a >= b,
    }[op]
    return lambda v: _kind(v) == kind and compare(v, operand)


def _kinds_of(operand: Scalar | tuple[Scalar, ...]) -> set[str]:
    return {_kind(o) for o in operand} if isinstance(operand, tuple) else {_kind(operand)}


def _value_test(op: Op, operand: Scalar | tuple[Scalar, ...]) -> Callable[[Value], bool]:
    """The test of a field's value (None, scalar or array) for any operator, negated ones included."""
    negative = op in NEGATIVE_OPS
    positive = _scalar_test(_POSITIVE[op] if negative else op, operand)
    kinds = _kinds_of(operand)
    if op is Op.NOT_IN and not kinds:  # NOT IN (): every present value
        kinds = {"s", "n", "b"}

    def test(value: Value) -> bool:
        if value is None:
            return False
        if isinstance(value, tuple):
            if not negative:
                return any(positive(v) for v in value)
            return bool(value) and "s" in kinds and not any(positive(v) for v in value)
        if negative:
            return _kind(value) in kinds and not positive(value)
        return positive(value)

    return test


def _fast(fields: Mapping[str, tuple[str, Getter]], node: Comparison) -> Callable[[Any], bool] | None:
    """The common filters of the UI (``=`` and ``IN`` with strings, on a field or a string property) as one small
    closure each: the general path costs several calls per model, which a scan of 20,000 models feels."""
    op, operand, name, selector = node.op, node.value, node.prop.name, node.prop.selector
    members = operand if isinstance(operand, tuple) else (operand,)
    if op not in (Op.EQ, Op.IN) or not all(isinstance(m, str) for m in members):
        return None
    field = fields.get(name)
    if field is not None and selector in (None, "string_value") and field[0] in ("s", "a"):
        get: Callable[[Any], Any] = field[1]
        if field[0] == "s":
            if op is Op.EQ:
                return lambda obj: get(obj) == operand
            wanted = frozenset(members)
            return lambda obj: get(obj) in wanted
        if op is Op.EQ:
            return lambda obj: operand in get(obj)
        wanted = frozenset(members)
        return lambda obj: not wanted.isdisjoint(get(obj))
    if field is None and selector in (None, "string_value"):
        wanted = frozenset(members)

        def string_property(obj: Any) -> bool:
            value = obj.custom_properties.get(name)
            return value is not None and value.get("string_value") in wanted

        return string_property
    return None


def _comparison(fields: Mapping[str, tuple[str, Getter]], node: Comparison) -> Callable[[Any], bool]:
    fast = _fast(fields, node)
    if fast is not None:
        return fast
    getter, numeric = field_getter(fields, node.prop.name, node.prop.selector)
    operand = node.value
    if numeric:
        operand = tuple(_as_number(o) for o in operand) if isinstance(operand, tuple) else _as_number(operand)
    test = _value_test(node.op, operand)
    return lambda obj: test(getter(obj))


def _artifact_comparison(node: Comparison) -> ArtifactPredicate:
    inner = Comparison(Property(node.prop.name[len(ARTIFACTS_PREFIX) :], node.prop.selector), node.op, node.value)
    return _comparison(ARTIFACT_FIELDS, inner)


def _compile(expr: Expr, leaf: Callable[[Comparison], Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if isinstance(expr, Comparison):
        return leaf(expr)
    operands = [_compile(operand, leaf) for operand in expr.operands]
    return _all(operands) if isinstance(expr, And) else _any(operands)


def _all(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """Nested two-operand closures: cheaper per call than ``all()`` over a generator."""
    first = tests[0]
    if len(tests) == 1:
        return first
    rest = _all(tests[1:])
    return lambda obj: first(obj) and rest(obj)


def _any(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    first = tests[0]
    if len(tests) == 1:
        return first
    rest = _any(tests[1:])
    return lambda obj: first(obj) or rest(obj)


def _model_leaf(node: Comparison) -> ModelPredicate:
    if not node.prop.name.startswith(ARTIFACTS_PREFIX):
        return _comparison(MODEL_FIELDS, node)
    on_artifact = _artifact_comparison(node)
    return lambda m: any(on_artifact(a) for a in m.artifacts)


def _artifact_comparisons(expr: Expr) -> list[Comparison]:
    if isinstance(expr, Comparison):
        return [expr] if expr.prop.name.startswith(ARTIFACTS_PREFIX) else []
    return [c for operand in expr.operands for c in _artifact_comparisons(operand)]


def _parse(text: str | None) -> Expr | None:
    if text is None:
        return None
    try:
        return parse(text)
    except FilterSyntaxError as exc:
        raise InvalidInput(exc.message) from exc


def compile_model_filter(text: str | None) -> ModelFilter | None:
    """The predicate of a ``/models`` filterQuery; None for no filter. Raises ``InvalidInput`` ("invalid filter query
    syntax: ...") for text that is not a query."""
    expr = _parse(text)
    if expr is None:
        return None
    artifact_tests = [_artifact_comparison(c) for c in _artifact_comparisons(expr)]
    condition: ArtifactPredicate | None = None
    if artifact_tests:
        condition = lambda a: all(test(a) for test in artifact_tests)  # noqa: E731
    return ModelFilter(_compile(expr, _model_leaf), condition)


def compile_artifact_filter(text: str | None) -> ArtifactPredicate | None:
    """The predicate of an ``/artifacts`` filterQuery (artifact fields and custom properties); None for no filter."""
    expr = _parse(text)
    if expr is None:
        return None
    return _compile(expr, lambda node: _comparison(ARTIFACT_FIELDS, node))


def search_text(model: CatalogModel) -> str:
    """What ``q`` searches, lower-cased once per model: name, description, provider, libraryName and tasks."""
    parts = (model.name, model.description or "", model.provider or "", model.library_name or "", *model.tasks)
    return "\x00".join(parts).lower()


__all__ = [
    "ARTIFACTS_PREFIX",
    "ARTIFACT_FIELDS",
    "MODEL_FIELDS",
    "ModelFilter",
    "compile_artifact_filter",
    "compile_model_filter",
    "field_getter",
    "property_value",
    "search_text",
]
