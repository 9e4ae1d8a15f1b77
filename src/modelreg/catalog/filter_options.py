"""``GET /models/filter_options``: the values a filter can take, per field, as the reference computes them.

String fields list their sorted distinct values, number fields their range. Model keys are bare names (the fields
``license, provider, tasks, language, maturity, libraryName`` and custom property names); artifact keys are
``artifacts.<name>.<value column>``. A property with no value (a label, whose value is "") is left out, and so are
``source_id, logo, license_link, metricsType, model_id``, as the reference does.

Speed: the web UI's catalog page asks for the options on every render, so they must stay cheap after a registry
write. Each source keeps ``Counts`` (how many of its models give each value; index.py holds them with the source's
prepared data): when a snapshot differs from the previous one by a few models, the counts are updated by those
models alone, and a source whose snapshot did not change keeps its counts. A request merges each source's
``Part`` (distinct values, ranges), which is small next to the models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelreg.catalog.models import CatalogModel, NamedQuery
from modelreg.catalog.query import property_value

_LEFT_OUT = frozenset({"source_id", "logo", "license_link", "licenseLink", "metricsType", "model_id"})
_COLUMNS = {str: "string_value", int: "int_value", float: "double_value"}
_V = TypeVar("_V", str, float)


@dataclass(slots=True)
class Part:
    """Distinct string values and number ranges per key: what a response is made of."""

    strings: dict[str, set[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, key: str, value: object) -> None:
        if isinstance(value, bool) or value is None or value == "":
            return
        if isinstance(value, str):
            self.strings.setdefault(key, set()).add(value)
        elif isinstance(value, int | float):
            low, high = self.ranges.get(key, (value, value))
            self.ranges[key] = (min(low, value), max(high, value))


def values(m: CatalogModel) -> Iterator[tuple[str, object]]:
    """Every (key, value) a model gives the options (values not yet checked for emptiness)."""
    yield "license", m.license
    yield "provider", m.provider
    yield "maturity", m.maturity
    yield "libraryName", m.library_name
    for task in m.tasks:
        yield "tasks", task
    for language in m.language:
        yield "language", language
    for name, raw in m.custom_properties.items():
        if name not in _LEFT_OUT:
            yield name, property_value(raw, None)
    for artifact in m.artifacts:
        for name, raw in artifact.custom_properties.items():
            value = property_value(raw, None)
            if name not in _LEFT_OUT and not isinstance(value, bool) and value is not None:
                yield f"artifacts.{name}.{_COLUMNS[type(value)]}", value


@dataclass(slots=True)
class Counts:
    """How many models give each value, per key: what lets a source's options follow a change of a few models."""

    strings: dict[str, Counter[str]] = field(default_factory=dict)
    numbers: dict[str, Counter[float]] = field(default_factory=dict)

    def update(self, models: Iterable[CatalogModel], sign: int) -> None:
        for m in models:
            for key, value in values(m):
                if isinstance(value, bool) or value is None or value == "":
                    continue
                if isinstance(value, str):
                    _bump(self.strings.setdefault(key, Counter()), value, sign)
                elif isinstance(value, int | float):
                    _bump(self.numbers.setdefault(key, Counter()), value, sign)

    def copy(self) -> Counts:
        return Counts({k: c.copy() for k, c in self.strings.items()}, {k: c.copy() for k, c in self.numbers.items()})

    def part(self) -> Part:
        return Part(
            {k: set(c) for k, c in self.strings.items() if c},
            {k: (min(c), max(c)) for k, c in self.numbers.items() if c},
        )


def _bump(table: Counter[_V], value: _V, sign: int) -> None:
    left = table[value] + sign
    if left > 0:
        table[value] = left
    else:
        del table[value]


def count(models: Iterable[CatalogModel]) -> Counts:
    counts = Counts()
    counts.update(models, 1)
    return counts


def changed(before: Counts, removed: Iterable[CatalogModel], added: Iterable[CatalogModel]) -> Counts:
    """``before`` (left as it is) without the ``removed`` models and with the ``added`` ones."""
    after = before.copy()
    after.update(removed, -1)
    after.update(added, 1)
    return after


def merge(parts: Iterable[Part]) -> Part:
    merged = Part()
    for part in parts:
        for key, values in part.strings.items():
            merged.strings.setdefault(key, set()).update(values)
        for key, (low, high) in part.ranges.items():
            merged.add(key, low)
            merged.add(key, high)
    return merged


def render(part: Part, named_queries: Iterable[NamedQuery]) -> dict[str, object]:
    """The response body; a key with both string and number values is a string filter."""
    filters: dict[str, Any] = {}
    for key in sorted({*part.strings, *part.ranges}):
        if key in part.strings:
            filters[key] = {"type": "string", "values": sorted(part.strings[key])}
        else:
            low, high = part.ranges[key]
            filters[key] = {"type": "number", "range": {"min": low, "max": high}}
    queries = {
        nq.name: {name: _resolved(name, dict(spec), part) for name, spec in nq.filters.items()}
        for nq in named_queries
        if nq.asset_type == "models"
    }
    return {"filters": filters, "namedQueries": queries}


def _resolved(name: str, spec: dict[str, Any], part: Part) -> dict[str, Any]:
    """``value: min|max`` becomes that field's range bound (left as is when the field has no range)."""
    value = spec.get("value")
    if value in ("min", "max"):
        bounds = part.ranges.get(name) or part.ranges.get(name.rsplit(".", 1)[0])
        if bounds is not None:
            spec["value"] = bounds[0] if value == "min" else bounds[1]
    return spec
