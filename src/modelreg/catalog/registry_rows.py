"""Registered models read as catalog models, and audit records read as the registered models they touch.

A read costs a handful of bulk statements whatever the number of models (all of them, or a chunk of ids at a
time): live models, the latest live version of each (a window function, so the database picks it), the custom
properties of both, the latest versions' model and metric artifacts and their properties. The caller supplies the
transaction, so one refresh sees one state of the database.

Where the issue leaves the mapping open (see docs/decisions.md):
- "Latest" is the live version with the greatest create time, then id.
- A well-known field comes from the registered model's column, else a custom property of the model, else of its
  latest version, matched by name without case, spaces, ``_`` or ``-`` (``License``, ``license_link``): models
  registered from a catalog carry ``License`` and ``Provider`` as version properties. The license is made readable
  as in catalog files (``apache-2.0`` → ``Apache 2.0``), so one filter matches every source; a license that is a
  link is the license link too, when there is none.
- The model card is the latest version's ``readme`` property, else the model's ``readme`` column, else the latest
  version's description when it is not the description already shown.
- Custom properties are the latest version's overlaid by the model's (the model's win); the readme is left out.
- A registry ``metric`` artifact of the version becomes a ``metrics-artifact`` of type ``accuracy-metrics`` with
  ``benchmark`` (its name) and ``score`` (its value), the shape of the catalog's accuracy artifacts.
- Artifact URIs are published without credentials (``redact.public_url``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import orjson
from sqlalchemy import BindParameter, Connection, Row, Select, bindparam, func, select

from modelreg.catalog.licenses import readable_license
from modelreg.catalog.models import REGISTRY_SOURCE_ID, ArtifactType, CatalogArtifact, CatalogModel, RegistryRef
from modelreg.db.tables import (
    artifact_attributions,
    artifacts,
    audit_log,
    model_versions,
    properties,
    registered_models,
)
from modelreg.redact import public_url
from modelreg.services import entities as e
from modelreg.services.lifecycle import stage_of
from modelreg.services.properties import PropValue
from modelreg.stages import LIFECYCLE_PROPERTY
from modelreg.wire import properties_to_wire

_Row = Row[*tuple[Any, ...]]
CHUNK = 500  # ids per IN list: well below every database's bind parameter limit
WATCHED_KINDS = frozenset({"registered_model", "model_version", "artifact"})  # audit entity kinds a model shows
_ARTIFACT_TYPES = ("model-artifact", "metric")
_GONE_ARTIFACT_STATES = ("DELETED", "MARKED_FOR_DELETION")
_MODEL_FORMAT = (("model_format_name", "modelFormatName"), ("model_format_version", "modelFormatVersion"))
_MODEL_SOURCE = (
    ("model_source_kind", "modelSourceKind"),
    ("model_source_class", "modelSourceClass"),
    ("model_source_group", "modelSourceGroup"),
    ("model_source_id", "modelSourceId"),
    ("model_source_name", "modelSourceName"),
)


class AuditFields(Protocol):
    """What is read of an audit record: a committed ``AuditEntry`` or a row of ``audit_log``."""

    @property
    def seq(self) -> int: ...
    @property
    def entity_kind(self) -> str: ...
    @property
    def entity_id(self) -> int | None: ...
    @property
    def changes(self) -> str: ...


# --- statements (built once) ------------------------------------------------------------------------------------

_m, _v, _a, _l, _log, _p = (
    registered_models.c,
    model_versions.c,
    artifacts.c,
    artifact_attributions.c,
    audit_log.c,
    properties.c,
)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)

_MODELS = select(registered_models).where(_m.state != "ARCHIVED")
_MODELS_IN = _MODELS.where(_m.id.in_(_IDS))


def _latest(where_in: bool) -> Select[Any]:
    rank = (
        func.row_number()
        .over(partition_by=_v.registered_model_id, order_by=(_v.create_time.desc(), _v.id.desc()))
        .label("rank")
    )
    live = select(
        _v.id, _v.registered_model_id, _v.name, _v.description, _v.stage, _v.create_time, _v.last_update_time, rank
    ).where(_v.state != "ARCHIVED")
    if where_in:
        live = live.where(_v.registered_model_id.in_(_IDS))
    ranked = live.subquery("ranked")
    return select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1)


_LATEST = _latest(False)
_LATEST_IN = _latest(True)

_ARTIFACT_COLUMNS = (
    _a.id,
    _a.artifact_type,
    _a.name,
    _a.uri,
    _a.number_value,
    _a.create_time,
    _a.last_update_time,
    *(_a[column] for column, _ in _MODEL_FORMAT + _MODEL_SOURCE),
)
_SHOWN = (_a.artifact_type.in_(_ARTIFACT_TYPES), _a.state.not_in(_GONE_ARTIFACT_STATES))
_LINKED = (
    select(_l.parent_id, *_ARTIFACT_COLUMNS)
    .join(artifacts, _a.id == _l.artifact_id)
    .where(_l.parent_kind == "model_version", _l.parent_id.in_(_IDS), *_SHOWN)
)

_VERSION_MODELS = select(_v.registered_model_id).where(_v.id.in_(_IDS))
_ARTIFACT_VERSIONS = select(_l.parent_id).where(_l.parent_kind == "model_version", _l.artifact_id.in_(_IDS))

_PROPS = select(
    _p.owner_id, _p.name, _p.value_type, _p.string_value, _p.int_value, _p.double_value, _p.bool_value
).where(_p.owner_kind == bindparam("kind"), _p.owner_id.in_(_IDS))
_VALUE_INDEX = {"string": 0, "int": 1, "double": 2, "bool": 3}  # struct and proto values are text, as stored

_HEAD = select(_log.seq, _log.hash).order_by(_log.seq.desc()).limit(1)
_HASH_AT = select(_log.hash).where(_log.seq == bindparam("seq"))
_SINCE = (
    select(_log.seq, _log.entity_kind, _log.entity_id, _log.changes)
    .where(_log.seq > bindparam("after"), _log.seq <= bindparam("upto"))
    .order_by(_log.seq)
    .limit(bindparam("limit"))
)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _rows_in(conn: Connection, statement: Select[Any], ids: Iterable[int], **params: Any) -> Iterator[_Row]:
    for chunk in _chunks(ids):
        yield from conn.execute(statement, {"ids": chunk, **params}).all()  # fetchall: one driver call, not one per row


def _props(conn: Connection, owner_kind: str, ids: Iterable[int]) -> dict[int, dict[str, PropValue]]:
    """``services.properties.load`` a chunk at a time, fetching each chunk in one driver call."""
    out: dict[int, dict[str, PropValue]] = {}
    for owner_id, name, value_type, *values in _rows_in(conn, _PROPS, ids, kind=owner_kind):
        value = values[_VALUE_INDEX.get(value_type, 0)]
        out.setdefault(owner_id, {})[name] = PropValue(value_type, bool(value) if value_type == "bool" else value)
    return out


# --- the audit trail --------------------------------------------------------------------------------------------


def audit_head(conn: Connection) -> tuple[int, str | None]:
    """The newest committed audit record this transaction sees: its sequence number and hash ((0, None) for an
    empty trail)."""
    row = conn.execute(_HEAD).first()
    return (0, None) if row is None else (int(row.seq), str(row.hash))


def audit_hash(conn: Connection, seq: int) -> str | None:
    """The hash of audit record ``seq`` (None: there is none). Numbers alone do not say a trail is the one read
    before: one emptied and written again (a restore, a test's reset) reuses them; the hash chain tells."""
    if seq <= 0:
        return None
    found = conn.execute(_HASH_AT, {"seq": seq}).scalar()
    return None if found is None else str(found)


def audit_since(conn: Connection, after: int, upto: int, limit: int) -> list[_Row] | None:
    """The audit records numbered ``after`` < seq <= ``upto``, or None when there are more than ``limit`` (the
    caller reloads everything instead: cheaper than reading a long stretch of the trail)."""
    rows = list(conn.execute(_SINCE, {"after": after, "upto": upto, "limit": limit + 1}).all())
    return None if len(rows) > limit else rows


def affected_models(conn: Connection, entries: Iterable[AuditFields]) -> set[int]:
    """The registered models whose catalog entry audit records may change: their own records, their versions' and
    their versions' artifacts'. A record that names its parent (creation, deletion) is resolved without a query, so
    a deleted version or artifact still finds its model; the others are looked up, a chunk of ids at a time."""
    models: set[int] = set()
    versions: set[int] = set()
    artifact_ids: set[int] = set()
    for entry in entries:
        kind, id_ = entry.entity_kind, entry.entity_id
        if kind not in WATCHED_KINDS or id_ is None:
            continue
        if kind == "registered_model":
            models.add(id_)
        elif kind == "model_version":
            parent = _named_parent(entry.changes, "registered_model_id")
            if parent is None:
                versions.add(id_)
            else:
                models.add(parent)
        else:
            parent = _named_parent(entry.changes, "parent_model_version_id")
            if parent is None:
                artifact_ids.add(id_)
            else:
                versions.add(parent)
    if artifact_ids:
        versions.update(r[0] for r in _rows_in(conn, _ARTIFACT_VERSIONS, artifact_ids))
    if versions:
        models.update(r[0] for r in _rows_in(conn, _VERSION_MODELS, versions))
    return models


def _named_parent(changes: str, key: str) -> int | None:
    """The parent id an audit record's ``before`` or ``after`` names (creations and deletions carry it)."""
    if f'"{key}"' not in changes:
        return None
    try:
        parsed = orjson.loads(changes)
    except orjson.JSONDecodeError:
        return None
    for side in ("after", "before"):
        value = (parsed.get(side) or {}).get(key)
        if isinstance(value, int):
            return value
    return None


# --- models -----------------------------------------------------------------------------------------------------


def read_models(conn: Connection, model_ids: Collection[int] | None = None) -> dict[int, CatalogModel]:
    """The live registered models among ``model_ids`` (every one for None) as catalog models, by registered model
    id; an id missing from the result is archived or gone."""
    if model_ids is None:
        model_rows = conn.execute(_MODELS).all()
        version_rows = conn.execute(_LATEST).all()
    else:
        model_rows = list(_rows_in(conn, _MODELS_IN, model_ids))
        version_rows = list(_rows_in(conn, _LATEST_IN, model_ids))
    live = {row.id for row in model_rows}
    latest = {row.registered_model_id: row for row in version_rows if row.registered_model_id in live}
    version_ids = [row.id for row in latest.values()]
    model_props = _props(conn, e.REGISTERED_MODEL.name, live)
    version_props = _props(conn, e.MODEL_VERSION.name, version_ids)
    found = _artifacts(conn, version_ids)
    return {
        row.id: _model(
            row,
            latest.get(row.id),
            model_props.get(row.id, {}),
            version_props.get(latest[row.id].id, {}) if row.id in latest else {},
            found,
        )
        for row in model_rows
    }


def _artifacts(conn: Connection, version_ids: Sequence[int]) -> dict[int, tuple[CatalogArtifact, ...]]:
    """The model and metric artifacts linked to each version (as the registry API lists them: a version's own
    artifacts are linked to it when created)."""
    by_version: dict[int, dict[int, _Row]] = {}
    for row in _rows_in(conn, _LINKED, version_ids):
        by_version.setdefault(row[0], {})[row.id] = row
    ids = {a for rows in by_version.values() for a in rows}
    props = _props(conn, e.ARTIFACT.name, ids)
    out: dict[int, tuple[CatalogArtifact, ...]] = {}
    for version_id, rows in by_version.items():
        ordered = sorted(rows.values(), key=lambda r: (r.artifact_type != "model-artifact", r.id))
        out[version_id] = tuple(_artifact(row, props.get(row.id, {})) for row in ordered)
    return out


def _artifact(row: _Row, props: Mapping[str, PropValue]) -> CatalogArtifact:
    custom: dict[str, Any] = properties_to_wire(props)
    if row.artifact_type == "metric":
        custom.setdefault("benchmark", _string(row.name))
        if row.number_value is not None:
            custom.setdefault("score", {"metadataType": "MetadataDoubleValue", "double_value": row.number_value})
        return CatalogArtifact(
            id=str(row.id),
            artifact_type=ArtifactType.METRICS,
            metrics_type="accuracy-metrics",
            name=row.name,
            custom_properties=custom,
            create_time_ms=row.create_time,
            last_update_time_ms=row.last_update_time,
        )
    for column, key in _MODEL_FORMAT + _MODEL_SOURCE:
        value = row._mapping[column]
        if value is not None:
            custom.setdefault(key, _string(value))
    return CatalogArtifact(
        id=str(row.id),
        artifact_type=ArtifactType.MODEL,
        uri=public_url(row.uri) or None,
        name=row.name,
        custom_properties=custom,
        create_time_ms=row.create_time,
        last_update_time_ms=row.last_update_time,
    )


def _model(
    row: _Row,
    version: _Row | None,
    model_props: Mapping[str, PropValue],
    version_props: Mapping[str, PropValue],
    artifacts_by_version: Mapping[int, tuple[CatalogArtifact, ...]],
) -> CatalogModel:
    m = row._mapping
    lookup = _Lookup(model_props, version_props)
    found = artifacts_by_version.get(version.id, ()) if version is not None else ()
    description = row.description or (version.description if version is not None else None) or None
    readme = lookup.text("readme", version_only=True) or row.readme
    if not readme and version is not None and version.description and version.description != description:
        readme = version.description
    custom = {k: v for k, v in properties_to_wire({**version_props, **model_props}).items() if _key(k) != "readme"}
    license_text = m["license"] or lookup.text("license")
    times = [row.last_update_time, *(a.last_update_time_ms for a in found)]
    if version is not None:
        times.append(version.last_update_time)
    return CatalogModel(
        source_id=REGISTRY_SOURCE_ID,
        name=row.name,
        id=str(row.id),
        description=description,
        readme=readme or None,
        maturity=m["maturity"] or lookup.text("maturity"),
        language=_list(m["language"]) or lookup.list("language"),
        tasks=_list(m["tasks"]) or lookup.list("tasks"),
        provider=m["provider"] or lookup.text("provider"),
        logo=m["logo"] or lookup.text("logo"),
        license=readable_license(license_text),
        license_link=m["license_link"]
        or lookup.text("licenselink")
        or (license_text if _is_link(license_text) else None),
        library_name=m["library_name"] or lookup.text("libraryname"),
        custom_properties=custom,
        create_time_ms=row.create_time,
        last_update_time_ms=max(times),
        artifacts=found,
        registry=RegistryRef(
            registered_model_id=row.id,
            latest_version_id=None if version is None else version.id,
            latest_version_name=None if version is None else version.name,
            stage=None if version is None else _stage(version.stage),
            owner=m["owner"],
        ),
    )


class _Lookup:
    """String custom properties of a model and its latest version by normalized name (model first)."""

    def __init__(self, model_props: Mapping[str, PropValue], version_props: Mapping[str, PropValue]) -> None:
        self._model = _strings(model_props)
        self._version = _strings(version_props)

    def text(self, key: str, *, version_only: bool = False) -> str | None:
        value = self._version.get(key) if version_only else self._model.get(key) or self._version.get(key)
        return value or None

    def list(self, key: str) -> tuple[str, ...]:
        """A list property: a JSON array, or comma-separated text."""
        text = self.text(key)
        if text is None:
            return ()
        return _list(text) or tuple(part.strip() for part in text.split(",") if part.strip())


def _strings(props: Mapping[str, PropValue]) -> dict[str, str]:
    return {_key(name): p.value for name, p in props.items() if p.type == "string" and isinstance(p.value, str)}


@lru_cache(maxsize=4096)  # property names repeat across models
def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "").replace("-", "")


def _list(text: str | None) -> tuple[str, ...]:
    """A JSON array of strings (the ``language`` and ``tasks`` columns); anything else is no list."""
    if not text or not text.startswith("["):
        return ()
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    return tuple(str(item) for item in items if item not in (None, "")) if isinstance(items, list) else ()


def _is_link(text: str | None) -> bool:
    return text is not None and text.startswith(("https://", "http://"))


def _stage(column: str | None) -> str:
    return stage_of({} if column is None else {LIFECYCLE_PROPERTY: PropValue("string", column)})


def _string(value: Any) -> dict[str, Any]:
    return {"metadataType": "MetadataStringValue", "string_value": str(value)}
