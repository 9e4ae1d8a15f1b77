"""orderBy/sortOrder and keyset pages over sorted lists, for models, artifacts and sources alike.

Every sort key ends with the item's id (``id_key``), so no two items tie and a cursor (the key of the last item
returned) names one place in the order. Items without a value for the sort (a model lacking the property) come after
the others in both directions, ordered by id; the rest of DESC is the exact reverse of ASC.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from modelreg.catalog.models import CatalogArtifact, CatalogModel
from modelreg.catalog.query import ARTIFACT_FIELDS, ARTIFACTS_PREFIX, MODEL_FIELDS, SELECTOR_KINDS, property_value
from modelreg.catalog.tokens import INVALID
from modelreg.errors import InvalidInput
from modelreg.filterquery.nodes import SELECTORS

T = TypeVar("T")
SortValue = str | int | float | bool
Key = tuple[Any, ...]  # (value, id key) of an item with a value; (id key,) of one without
Cursor = list[Any]  # [0, value, id key] or [1, id key], as page tokens carry it

BASE_ORDERS = ("NAME", "ID", "CREATE_TIME", "LAST_UPDATE_TIME")
ACCURACY = "artifacts.overall_average.double_value"


def id_key(item_id: str) -> str:
    """Ids sort as numbers (they are decimal strings); anything else after them, as text."""
    return item_id.zfill(20) if item_id.isdigit() else "~" + item_id


def descending(sort_order: str | None) -> bool:
    if sort_order is None or sort_order.upper() == "ASC":
        return False
    if sort_order.upper() == "DESC":
        return True
    raise InvalidInput(f"unsupported sort order: {sort_order} (ASC or DESC)")


@dataclass(frozen=True, slots=True)
class Sorted(Generic[T]):
    """Items in ascending key order: those with a value (``keys``/``items``), then those without (``missing``)."""

    keys: list[Key]
    items: list[T]
    missing_keys: list[str]
    missing: list[T]

    @staticmethod
    def of(items: Iterable[T], value: Callable[[T], SortValue | None], ident: Callable[[T], str]) -> Sorted[T]:
        present: list[tuple[Key, T]] = []
        absent: list[tuple[str, T]] = []
        for item in items:
            v = value(item)
            if v is None:
                absent.append((ident(item), item))
            else:
                present.append(((v, ident(item)), item))
        present.sort(key=lambda pair: pair[0])
        absent.sort(key=lambda pair: pair[0])
        return Sorted([k for k, _ in present], [i for _, i in present], [k for k, _ in absent], [i for _, i in absent])

    def walk(self, reverse: bool, cursor: Cursor | None) -> Iterator[tuple[Cursor, T]]:
        """Items (with their cursors) in order, starting after ``cursor``."""
        try:
            if cursor is None:
                start, missing_start = (len(self.keys) if reverse else 0), (len(self.missing) if reverse else 0)
            elif len(cursor) == 3 and cursor[0] == 0:  # length first: a forged empty cursor has no [0]
                key = (cursor[1], cursor[2])
                start = bisect_left(self.keys, key) if reverse else bisect_right(self.keys, key)
                missing_start = len(self.missing) if reverse else 0
            elif len(cursor) == 2 and cursor[0] == 1 and isinstance(cursor[1], str):
                start = 0 if reverse else len(self.keys)
                bisect = bisect_left if reverse else bisect_right
                missing_start = bisect(self.missing_keys, cursor[1])
            else:
                raise InvalidInput(INVALID)
        except TypeError:  # a value of another type than this sort's
            raise InvalidInput(INVALID) from None
        present = range(start - 1, -1, -1) if reverse else range(start, len(self.keys))
        for i in present:
            yield [0, *self.keys[i]], self.items[i]
        absent = range(missing_start - 1, -1, -1) if reverse else range(missing_start, len(self.missing))
        for i in absent:
            yield [1, self.missing_keys[i]], self.missing[i]


def take(
    walk: Iterator[tuple[Cursor, T]], size: int, accept: Callable[[T], bool] | None
) -> tuple[list[T], Cursor | None]:
    """Up to ``size`` accepted items, and the cursor of the last one if more follow."""
    items: list[T] = []
    last: Cursor | None = None
    for cursor, item in walk:
        if accept is not None and not accept(item):
            continue
        if len(items) == size:
            return items, last
        items.append(item)
        last = cursor
    return items, None


# -- models ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelOrdering:
    """``base`` names one of the orders the index keeps presorted; otherwise ``value`` gives each model's value."""

    field: str
    reverse: bool
    base: str | None = None
    value: Callable[[CatalogModel], SortValue | None] | None = None
    filtered: bool = False  # the values depend on the filterQuery (its artifact conditions): not cacheable


def _split_selector(text: str) -> tuple[str, str] | None:
    name, dot, selector = text.rpartition(".")
    return (name, selector) if dot and name and selector in SELECTORS else None


def _artifact_value(
    prop: str, selector: str, reverse: bool, condition: Callable[[CatalogArtifact], bool] | None
) -> Callable[[CatalogModel], SortValue | None]:
    """min over the model's (counted) artifacts for ASC, max for DESC, as the reference's sort subquery."""
    pick = max if reverse else min

    def value(model: CatalogModel) -> SortValue | None:
        values = [
            v
            for a in model.artifacts
            if (condition is None or condition(a))
            and (v := property_value(a.custom_properties.get(prop), selector)) is not None
        ]
        return pick(values) if values else None

    return value


def model_ordering(
    order_by: str | None, sort_order: str | None, condition: Callable[[CatalogArtifact], bool] | None = None
) -> ModelOrdering:
    reverse = descending(sort_order)
    field = order_by or "NAME"
    if field.upper() in BASE_ORDERS:
        return ModelOrdering(field.upper(), reverse, base=field.upper())
    if field.upper() == "ACCURACY":
        field = ACCURACY
    split = _split_selector(field)
    if split is None:
        raise InvalidInput(f"unsupported order by field: {order_by}")
    name, selector = split
    if name.startswith(ARTIFACTS_PREFIX):
        if len(name) == len(ARTIFACTS_PREFIX):
            raise InvalidInput(f"unsupported order by field: {order_by}")
        value = _artifact_value(name[len(ARTIFACTS_PREFIX) :], selector, reverse, condition)
        return ModelOrdering(field, reverse, value=value, filtered=condition is not None)
    getter = _scalar_getter(MODEL_FIELDS, name, selector)
    return ModelOrdering(field, reverse, value=getter)


def _scalar_getter(fields: Any, name: str, selector: str) -> Callable[[Any], SortValue | None]:
    """A field or custom property's value; arrays (tasks, language) have no single value to sort by."""
    kind_and_getter = fields.get(name)
    if kind_and_getter is not None and kind_and_getter[0] != "a":
        kind, getter = kind_and_getter
        if SELECTOR_KINDS.get(selector) == kind:
            return getter  # type: ignore[no-any-return]
    return lambda obj: property_value(obj.custom_properties.get(name), selector)


# -- artifacts ------------------------------------------------------------------------------------------------------

_ARTIFACT_BASE: dict[str, Callable[[CatalogArtifact], SortValue | None]] = {
    "ID": lambda a: id_key(a.id),
    "NAME": lambda a: a.name,
    "CREATE_TIME": lambda a: a.create_time_ms,
    "LAST_UPDATE_TIME": lambda a: a.last_update_time_ms,
}


def sort_artifacts(
    artifacts: Sequence[CatalogArtifact], order_by: str | None, sort_order: str | None
) -> tuple[Sorted[CatalogArtifact], bool, str]:
    """Artifacts in ``orderBy`` order (ASC), whether to walk it backwards, and the canonical field name. As the
    reference: ``<prop>.<type>_value`` sorts by a custom property, a name without a value type falls back to ID, an
    unknown value type or an empty name is a 400."""
    reverse = descending(sort_order)
    field = (order_by or "ID").upper() if (order_by or "ID").upper() in _ARTIFACT_BASE else order_by or "ID"
    value = _ARTIFACT_BASE.get(field)
    if value is None:
        name, dot, selector = field.rpartition(".")
        if not dot:
            field, value = "ID", _ARTIFACT_BASE["ID"]
        elif selector not in SELECTORS:
            raise InvalidInput(
                f"unsupported order by field: {order_by} (the value type must be one of {', '.join(sorted(SELECTORS))})"
            )
        elif not name:
            raise InvalidInput(f"unsupported order by field: {order_by} (no property name)")
        else:
            value = _scalar_getter(ARTIFACT_FIELDS, name, selector)
    return Sorted.of(artifacts, value, lambda a: id_key(a.id)), reverse, field


def recommended(latency_property: str) -> ModelOrdering:
    """``recommendations=true``: models by the lowest ``latency_property`` among their performance-metrics
    artifacts, ascending, models without one last. A simplification of the reference's Pareto ranking (which also
    weighs requests per second and hardware count): it answers "which model is fastest" and pages like any sort."""

    def value(model: CatalogModel) -> SortValue | None:
        values = [
            v
            for a in model.artifacts
            if a.metrics_type == "performance-metrics"
            and isinstance(v := property_value(a.custom_properties.get(latency_property), None), int | float)
            and not isinstance(v, bool)
        ]
        return min(values) if values else None

    return ModelOrdering(f"recommendations:{latency_property}", False, value=value)
