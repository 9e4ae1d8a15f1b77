"""How registry records read on the pages: labels (custom properties with an empty string value, as the
Kubeflow UI writes them), typed property values, the model location parsed from an artifact URI, the catalog page
a version came from, and an audit record's changes as a short before → after list. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from modelreg.blobs.uris import InvalidUri, parse_uri
from modelreg.services.audit import CUSTOM_PROPERTIES
from modelreg.services.entities import Record
from modelreg.services.properties import PropValue
from modelreg.stages import LIFECYCLE_PROPERTY

_TYPE_NAMES = {"string": "String", "int": "Integer", "double": "Double", "bool": "Boolean", "struct": "Struct"}


@dataclass(frozen=True)
class Property:
    name: str
    type: str  # as people read it: String, Integer, ...
    value: str


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None  # None: the field was not set
    after: str | None


def labels(props: Mapping[str, PropValue]) -> list[str]:
    """Custom properties with an empty string value are labels in the Kubeflow UI."""
    return sorted(name for name, p in props.items() if p.type == "string" and p.value == "")


def properties(props: Mapping[str, PropValue]) -> list[Property]:
    """Every other custom property (the stage has its own place on the page), by name, with its type."""
    out = []
    for name in sorted(props):
        prop = props[name]
        if name == LIFECYCLE_PROPERTY or (prop.type == "string" and prop.value == ""):
            continue
        out.append(Property(name, _TYPE_NAMES.get(prop.type, prop.type.title()), shown(prop.value)))
    return out


def shown(value: Any) -> str:
    """A value as text: booleans in lower case, structures as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ": "), default=str)
    return str(value)


def location(uri: str | None) -> list[tuple[str, str]]:
    """Endpoint, Region, Bucket and Path of an ``s3://`` URI (the upstream client's ``?endpoint=..&defaultRegion=``
    form included), else just the URI; empty without one."""
    if not uri:
        return []
    if uri.lower().startswith("s3://"):
        try:
            config = parse_uri(uri)
        except InvalidUri:
            return [("URI", uri)]
        fields = [
            ("Endpoint", config.config.endpoint or ""),
            ("Region", config.config.region or ""),
            ("Bucket", config.config.bucket or ""),
            ("Path", config.key),
        ]
        return [(name, value) for name, value in fields if value]
    return [("URI", uri)]


def catalog_link(artifact_records: Iterable[Record]) -> str | None:
    """The catalog page a version was registered from: its model artifact's ``modelSourceKind=catalog`` with the
    source id (``modelSourceClass``) and the catalog model's name (``modelSourceName``)."""
    for artifact in artifact_records:
        row = artifact.row
        if row["artifact_type"] != "model-artifact" or row.get("model_source_kind") != "catalog":
            continue
        source, name = row.get("model_source_class"), row.get("model_source_name")
        if source and name:
            return f"/catalog/{quote(source, safe='')}/models/{quote(name, safe='/')}"
    return None


def changes(before: Any, after: Any) -> list[Change]:
    """An audit record's before/after as one line per field, custom properties by name (``Lifecycle`` among
    them); a create lists what was set, a delete what was there."""
    old, new = _mapping(before), _mapping(after)
    out = []
    for key in sorted(old.keys() | new.keys()):
        if key == CUSTOM_PROPERTIES:
            old_props, new_props = _mapping(old.get(key)), _mapping(new.get(key))
            for name in sorted(old_props.keys() | new_props.keys()):
                out.append(Change(name, _maybe(old_props, name), _maybe(new_props, name)))
        else:
            out.append(Change(key, _maybe(old, key), _maybe(new, key)))
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _maybe(values: Mapping[str, Any], key: str) -> str | None:
    """The value as text (``""`` for an empty string, such as a label's), ``None`` when not set."""
    if key not in values or values[key] is None:
        return None
    return shown(values[key]) or '""'
