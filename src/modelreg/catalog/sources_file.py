"""Sources files (``sources.yaml``, the Kubeflow catalog format), parsed strictly: an unknown key, at the top or in
a source, is an error naming the file and the key, as the reference's strict unmarshal makes it.

A file gives ``SourceEntry``s that hold only what the file sets (``None`` = not set), so ``merge`` can combine
several files field by field: a later file overrides a source's fields where it sets them, and a relative
``yamlCatalogPath`` resolves against the folder of the file that set ``properties``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from modelreg.catalog.models import Label, NamedQuery

log = logging.getLogger("modelreg.catalog")

_TOP_KEYS = {"model_catalogs", "catalogs", "mcp_catalogs", "labels", "namedQueries"}
_SOURCE_KEYS = {
    "id",
    "name",
    "type",
    "enabled",
    "labels",
    "includedModels",
    "excludedModels",
    "properties",
    "assetType",
}
_ASSET_TYPES = ("models", "mcp_servers")


class SourcesFileError(ValueError):
    """A sources file that cannot be used; the message starts with the file's path."""


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One source as the files that mention it declare it; ``None``: no file set the field."""

    id: str
    origin: Path  # the file that first defined the source
    name: str | None = None
    type: str | None = None
    enabled: bool | None = None
    labels: tuple[str, ...] | None = None
    included_models: tuple[str, ...] | None = None
    excluded_models: tuple[str, ...] | None = None
    properties: Mapping[str, Any] | None = None
    properties_dir: Path | None = None  # the folder of the file that set ``properties``

    def catalog_path(self) -> Path | None:
        """``properties.yamlCatalogPath``, made absolute; None when not set."""
        raw = (self.properties or {}).get("yamlCatalogPath")
        if not isinstance(raw, str) or not raw:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() or self.properties_dir is None else self.properties_dir / path


@dataclass(frozen=True, slots=True)
class SourcesFile:
    path: Path
    sources: tuple[SourceEntry, ...] = ()
    labels: tuple[Label, ...] = ()
    named_queries: tuple[NamedQuery, ...] = ()


def parse_sources_file(path: Path, text: str | bytes) -> SourcesFile:
    """The sources file ``path`` (whose content is ``text``); ``SourcesFileError`` naming the file and key."""
    try:
        doc = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise SourcesFileError(f"{path}: not valid YAML: {exc}") from None
    if doc is None:
        return SourcesFile(path)
    if not isinstance(doc, dict):
        raise SourcesFileError(f"{path}: expected a mapping with model_catalogs, labels, namedQueries")
    unknown = sorted(str(k) for k in doc if k not in _TOP_KEYS)
    if unknown:
        raise SourcesFileError(f"{path}: unknown key '{unknown[0]}' (expected one of {', '.join(sorted(_TOP_KEYS))})")
    if "mcp_catalogs" in doc:
        log.warning("%s: mcp_catalogs is not supported by this server and is ignored", path)
    sources = _sources(path, doc.get("model_catalogs"), "model_catalogs")
    if "catalogs" in doc:
        log.warning("%s: 'catalogs' is deprecated, use 'model_catalogs'", path)
        newer = {s.id for s in sources}
        sources += tuple(s for s in _sources(path, doc["catalogs"], "catalogs") if s.id not in newer)
    return SourcesFile(path, sources, _labels(path, doc.get("labels")), _named_queries(path, doc.get("namedQueries")))


def merge(files: Sequence[SourcesFile]) -> tuple[SourceEntry, ...]:
    """Every source of ``files``, in order of first appearance, merged field by field (later files win)."""
    merged: dict[str, SourceEntry] = {}
    for file in files:
        for entry in file.sources:
            before = merged.get(entry.id)
            if before is None:
                merged[entry.id] = entry
                continue
            changes = {f: getattr(entry, f) for f in _MERGED_FIELDS if getattr(entry, f) is not None}
            merged[entry.id] = replace(before, **changes)
    return tuple(merged.values())


_MERGED_FIELDS = (
    "name",
    "type",
    "enabled",
    "labels",
    "included_models",
    "excluded_models",
    "properties",
    "properties_dir",
)


def merge_labels(files: Sequence[SourcesFile]) -> tuple[Label, ...]:
    """Every file's labels, in order; a later entry with the same name and asset type replaces the earlier one."""
    out: dict[tuple[str | None, str], Label] = {}
    for file in files:
        for label in file.labels:
            out[(label.name, label.asset_type)] = label
    return tuple(out.values())


def merge_named_queries(files: Sequence[SourcesFile]) -> tuple[NamedQuery, ...]:
    out: dict[str, NamedQuery] = {}
    for file in files:
        for query in file.named_queries:
            out[query.name] = query
    return tuple(out.values())


def _sources(path: Path, raw: Any, key: str) -> tuple[SourceEntry, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SourcesFileError(f"{path}: {key} must be a list of sources")
    entries: list[SourceEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        entry = parse_source(path, item, f"{key}[{index}]")
        if entry.id in seen:
            raise SourcesFileError(f"{path}: {key}: source id '{entry.id}' appears more than once")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


def parse_source(path: Path, raw: Any, where: str) -> SourceEntry:
    """One source mapping of the file ``path`` (also the preview's config); ``where`` names it in errors."""
    if not isinstance(raw, dict):
        raise SourcesFileError(f"{path}: {where} must be a mapping")
    source_id = raw.get("id")
    if not isinstance(source_id, str) or not source_id.strip():
        raise SourcesFileError(f"{path}: {where}: every source needs an id (a non-empty string)")
    where = f"source '{source_id}'"
    unknown = sorted(str(k) for k in raw if k not in _SOURCE_KEYS)
    if unknown:
        raise SourcesFileError(f"{path}: {where}: unknown key '{unknown[0]}'")
    asset_type = raw.get("assetType", "models")
    if asset_type != "models":
        raise SourcesFileError(f"{path}: {where}: assetType must be 'models' in model_catalogs")
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise SourcesFileError(f"{path}: {where}: enabled must be true or false")
    properties = raw.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise SourcesFileError(f"{path}: {where}: properties must be a mapping")
    if properties is not None:
        for key in ("yamlCatalogPath",):
            if key in properties and not isinstance(properties[key], str):
                raise SourcesFileError(f"{path}: {where}: properties.{key} must be a string")
        if "excludedModels" in properties:
            _strings(path, where, "properties.excludedModels", properties["excludedModels"])
    return SourceEntry(
        id=source_id,
        origin=path,
        name=_string(path, where, "name", raw.get("name")),
        type=_string(path, where, "type", raw.get("type")),
        enabled=enabled,
        labels=_strings(path, where, "labels", raw.get("labels")),
        included_models=_strings(path, where, "includedModels", raw.get("includedModels")),
        excluded_models=_strings(path, where, "excludedModels", raw.get("excludedModels")),
        properties=properties,
        properties_dir=path.parent if properties is not None else None,
    )


def _string(path: Path, where: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SourcesFileError(f"{path}: {where}: {key} must be a string")
    return value


def _strings(path: Path, where: str, key: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourcesFileError(f"{path}: {where}: {key} must be a list of strings")
    return tuple(value)


def _labels(path: Path, raw: Any) -> tuple[Label, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SourcesFileError(f"{path}: labels must be a list")
    labels: list[Label] = []
    for index, item in enumerate(raw):
        where = f"{path}: labels[{index}]"
        if not isinstance(item, dict):
            raise SourcesFileError(f"{where} must be a mapping")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise SourcesFileError(f"{where}: name must be a string or null")
        asset_type = item.get("assetType", "models")
        if asset_type not in _ASSET_TYPES:
            raise SourcesFileError(f"{where}: assetType must be one of {', '.join(_ASSET_TYPES)}")
        for key in ("displayName", "description"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise SourcesFileError(f"{where}: {key} must be a string")
        extra = {str(k): v for k, v in item.items() if k not in ("name", "displayName", "description", "assetType")}
        labels.append(Label(name, item.get("displayName"), item.get("description"), asset_type, extra))
    return tuple(labels)


def _named_queries(path: Path, raw: Any) -> tuple[NamedQuery, ...]:
    """Both forms: ``{assetType, filters: {field: {operator, value}}}`` and the legacy ``{field: {operator,
    value}}``. ``value: min|max`` stays as written: the query side resolves it against the current ranges."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SourcesFileError(f"{path}: namedQueries must be a mapping of name to query")
    queries: list[NamedQuery] = []
    for name, body in raw.items():
        where = f"{path}: namedQueries.{name}"
        if not isinstance(body, dict):
            raise SourcesFileError(f"{where} must be a mapping")
        if "filters" in body and set(body) <= {"filters", "assetType"}:
            asset_type, filters = body.get("assetType", "models"), body["filters"]
            if asset_type not in _ASSET_TYPES:
                raise SourcesFileError(f"{where}: assetType must be one of {', '.join(_ASSET_TYPES)}")
        else:
            asset_type, filters = "models", body
        if not isinstance(filters, dict):
            raise SourcesFileError(f"{where}: filters must be a mapping of field to {{operator, value}}")
        checked: dict[str, dict[str, Any]] = {}
        for field, condition in filters.items():
            if not isinstance(condition, dict) or set(condition) != {"operator", "value"}:
                raise SourcesFileError(f"{where}: filter '{field}' must be {{operator, value}}")
            if not isinstance(condition["operator"], str):
                raise SourcesFileError(f"{where}: filter '{field}': operator must be a string")
            checked[str(field)] = {"operator": condition["operator"], "value": condition["value"]}
        queries.append(NamedQuery(str(name), asset_type, checked))
    return tuple(queries)
