"""``GET /models/filter_options``: the values a filter can take, per field, as the reference computes them.

String fields list their sorted distinct values, number fields their range. Model keys are bare names (the fields
``license, provider, tasks, language, maturity, libraryName`` and custom property names); artifact keys are
``artifacts.<name>.<value column>``. A property with no value (a label, whose value is "") is left out, and so are
``source_id, logo, license_link, metricsType, model_id``, as the reference does. Each source's part is collected once
per snapshot (index.py keeps it), so a registry change does not walk the file sources again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from modelreg.catalog.models import CatalogModel, NamedQuery
from modelreg.catalog.query import property_value

_LEFT_OUT = frozenset({"source_id", "logo", "license_link", "licenseLink", "metricsType", "model_id"})
_COLUMNS = {str: "string_value", int: "int_value", float: "double_value"}


@dataclass(slots=True)
class Part:
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


def collect(models: Iterable[CatalogModel]) -> Part:
    part = Part()
    for m in models:
        part.add("license", m.license)
        part.add("provider", m.provider)
        part.add("maturity", m.maturity)
        part.add("libraryName", m.library_name)
        for task in m.tasks:
            part.add("tasks", task)
        for language in m.language:
            part.add("language", language)
        for name, raw in m.custom_properties.items():
            if name not in _LEFT_OUT:
                part.add(name, property_value(raw, None))
        for artifact in m.artifacts:
            for name, raw in artifact.custom_properties.items():
                value = property_value(raw, None)
                if name not in _LEFT_OUT and not isinstance(value, bool) and value is not None:
                    part.add(f"artifacts.{name}.{_COLUMNS[type(value)]}", value)
    return part


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
