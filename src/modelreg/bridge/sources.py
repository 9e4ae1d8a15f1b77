"""The local registry as a bridge source: (part of) this database as a `RegistrySnapshot`.

`LocalRegistry` reads this database in the sync's read transaction, either whole or just the registered models and
model versions a batch of changes touched (`scope`): a new version costs a read of that version, its model row,
its artifacts and services, however many versions the model has. Remote Kubeflow registries (`remote.py`) are
polled over REST and produce the same REST-shaped snapshot, so `normalize` and the store treat every source alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Column, Connection, Select, bindparam, select

from modelreg.bridge import driver
from modelreg.bridge.normalize import RegistrySnapshot
from modelreg.bridge.pacing import pace
from modelreg.db.tables import (
    artifact_attributions,
    artifacts,
    inference_services,
    model_versions,
    properties,
    registered_models,
    serve_models,
)
from modelreg.redact import public_url
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.stages import INITIAL_STAGE, LIFECYCLE_PROPERTY
from modelreg.wire import to_wire

Json = dict[str, Any]
# Audit entity kinds whose change can alter a model's records; others (tokens, experiments, ...) never do.
BRIDGE_KINDS = frozenset(
    {"registered_model", "model_version", "artifact", "inference_service", "serving_environment", "serve_model"}
)


@cache
def _where_in(query: Select[Any], column: Column[Any]) -> Select[Any]:
    """`query` narrowed to `column IN :ids`, built once: a refresh runs these statements a few times a second,
    and building an IN clause from a list costs SQLAlchemy several microseconds per value."""
    return query.where(column.in_(bindparam("ids", expanding=True)))


def _in(conn: Connection, query: Select[Any], column: Column[Any], ids: Collection[int]) -> Iterator[dict[str, Any]]:
    """Rows of `query` whose `column` is in `ids` (on the driver's cursor: bridge/driver.py)."""
    return driver.rows_in(conn, _where_in(query, column), list(ids))


def _select(
    conn: Connection, query: Select[Any], column: Column[Any] | None, ids: Collection[int] | None
) -> list[dict[str, Any]]:
    """Rows (as mappings) of `query`: all of them (`ids` None), or those whose `column` is in `ids`."""
    if ids is None or column is None:
        return list(driver.rows(conn, query, {}))
    return list(_in(conn, query, column, ids))


_mv, _a, _link, _isvc = model_versions.c, artifacts.c, artifact_attributions.c, inference_services.c
_VERSIONS = select(model_versions).where(_mv.state != "ARCHIVED")
_MODELS = select(registered_models)
_MODEL_ARTIFACTS = select(artifacts).where(_a.artifact_type == "model-artifact")
_SERVICES = select(inference_services)
_ENVIRONMENTS = select(e.SERVING_ENVIRONMENT.table)
_OWNED = select(_a.id, _a.parent_model_version_id).where(_a.parent_model_version_id.is_not(None))
_LINKED = select(_link.artifact_id, _link.parent_id).where(_link.parent_kind == "model_version")
_ARTIFACT_OWNER = select(_a.parent_model_version_id)
_ARTIFACT_LINKS = select(_link.parent_id).where(_link.parent_kind == "model_version")
_SERVED_VERSION = select(serve_models.c.model_version_id)
_SERVICE_MODEL = select(_isvc.registered_model_id)
# Many registries record no inference service: one cheap look saves a refresh the IN-list of that table.
_ANY_SERVICE = select(_isvc.id).limit(1)


def _wire(conn: Connection, kind: e.Kind, rows: Sequence[Mapping[str, Any]]) -> list[Json]:
    """The REST shapes of `rows` with their custom properties, as the API returns them."""
    props = _properties(conn, kind.name, [r["id"] for r in rows])
    out: list[Json] = []
    for i, row in enumerate(rows):
        out.append(to_wire(kind.name, row, props[row["id"]]))
        if not i & 7:
            pace()
    return out


_p = properties.c
_PROPERTIES = select(_p.owner_id, _p.name, _p.value_type, _p.string_value, _p.int_value, _p.double_value, _p.bool_value)
_PROPERTIES_OF = _PROPERTIES.where(
    _p.owner_kind == bindparam("owner_kind"), _p.owner_id.in_(bindparam("ids", expanding=True))
)
# As services/properties.py stores them: the value's column by type (struct and proto values are text).
_VALUE_COLUMN = {"string": "string_value", "int": "int_value", "double": "double_value", "bool": "bool_value"}


def _properties(conn: Connection, owner_kind: str, ids: Sequence[int]) -> dict[int, dict[str, PropValue]]:
    """`services.properties.load` on the driver's cursor (a test checks that both read the same)."""
    out: dict[int, dict[str, PropValue]] = {i: {} for i in ids}
    for row in driver.rows_in(conn, _PROPERTIES_OF, ids, owner_kind=owner_kind):
        value_type = row["value_type"]
        value = row[_VALUE_COLUMN.get(value_type, "string_value")]
        out[row["owner_id"]][row["name"]] = PropValue(value_type, bool(value) if value_type == "bool" else value)
    return out


@dataclass(frozen=True)
class Scope:
    """What a batch of changes requires to be read again: whole registered models (their own fields and
    properties reach every version's record) and single model versions."""

    models: frozenset[int] = field(default_factory=frozenset)
    versions: frozenset[int] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return bool(self.models or self.versions)


class LocalRegistry:
    """This registry, read in the sync's own transaction (no HTTP round trip, one query per kind)."""

    name = ""

    def snapshot(
        self, conn: Connection, model_ids: Collection[str] | None, version_ids: Collection[str] = ()
    ) -> RegistrySnapshot:
        """Every model (None), or the given models whole plus the given versions (with their models' rows)."""
        models_whole = None if model_ids is None else {int(i) for i in model_ids}
        if models_whole is None:
            versions = _select(conn, _VERSIONS, None, None)
        else:
            versions = _select(conn, _VERSIONS, _mv.registered_model_id, models_whole)
            loaded = {v["id"] for v in versions}
            versions += _select(conn, _VERSIONS, _mv.id, {int(i) for i in version_ids} - loaded)
        version_ids_read = [v["id"] for v in versions]
        wanted_models = None if models_whole is None else models_whole | {v["registered_model_id"] for v in versions}
        model_rows = _select(conn, _MODELS, registered_models.c.id, wanted_models)
        parents = self._artifact_parents(conn, version_ids_read if models_whole is not None else None)
        found = _select(conn, _MODEL_ARTIFACTS, _a.id, set(parents))
        by_version: dict[str, list[Json]] = {}
        for wire in _wire(conn, e.ARTIFACT, found):
            wire["uri"] = public_url(wire.get("uri")) or None
            for version_id in parents[int(wire["id"])]:
                by_version.setdefault(str(version_id), []).append(wire)
        for listed in by_version.values():
            listed.sort(key=lambda a: int(a["id"]))
        # services are published with the version they serve
        services = []
        if models_whole is None:
            services = _select(conn, _SERVICES, None, None)
        elif conn.execute(_ANY_SERVICE).first() is not None:
            services = _select(conn, _SERVICES, _isvc.model_version_id, version_ids_read)
        env_ids = {s["serving_environment_id"] for s in services}
        environments = _select(conn, _ENVIRONMENTS, e.SERVING_ENVIRONMENT.table.c.id, env_ids) if services else []
        service_wire = _wire(conn, e.INFERENCE_SERVICE, services)
        for wire in service_wire:
            url = wire.get("customProperties", {}).get("url")
            if isinstance(url, dict) and isinstance(url.get("string_value"), str):
                url["string_value"] = public_url(url["string_value"])
        version_wire = _wire(conn, e.MODEL_VERSION, versions)
        for row, wire in zip(versions, version_wire, strict=True):
            wire.setdefault("customProperties", {})[LIFECYCLE_PROPERTY] = _stage(row)
        return RegistrySnapshot(
            registered_models=_wire(conn, e.REGISTERED_MODEL, model_rows),
            model_versions=version_wire,
            artifacts_by_version=by_version,
            inference_services=service_wire,
            serving_environments=_wire(conn, e.SERVING_ENVIRONMENT, environments),
        )

    @staticmethod
    def _artifact_parents(conn: Connection, version_ids: Sequence[int] | None) -> dict[int, list[int]]:
        """Model version ids per artifact id: the owning version and every attribution link."""
        parents: dict[int, set[int]] = {}
        if version_ids is None:
            rows = [(r["id"], r["parent_model_version_id"]) for r in driver.rows(conn, _OWNED, {})]
            rows += [(r["artifact_id"], r["parent_id"]) for r in driver.rows(conn, _LINKED, {})]
        else:
            owned = _in(conn, _OWNED, _a.parent_model_version_id, version_ids)
            rows = [(r["id"], r["parent_model_version_id"]) for r in owned]
            rows += [(r["artifact_id"], r["parent_id"]) for r in _in(conn, _LINKED, _link.parent_id, version_ids)]
        for artifact_id, version_id in rows:
            parents.setdefault(artifact_id, set()).add(version_id)
        return {k: sorted(v) for k, v in parents.items()}

    def scope(self, conn: Connection, changes: Iterable[tuple[str, int]]) -> Scope:
        """What audited changes (kind, id) require to be read again. Looked up here, in the worker, so the commit
        hook stays free of queries. A version, artifact or serve model touches one version; a registered model,
        an inference service (it may move between versions) or a serving environment touch whole models."""
        by_kind: dict[str, set[int]] = {}
        for kind, id_ in changes:
            by_kind.setdefault(kind, set()).add(id_)
        models = set(by_kind.get("registered_model", ()))
        versions = set(by_kind.get("model_version", ()))
        if ids := by_kind.get("artifact"):
            versions |= _column(conn, _ARTIFACT_OWNER, _a.id, ids)
            versions |= _column(conn, _ARTIFACT_LINKS, _link.artifact_id, ids)
        if ids := by_kind.get("serve_model"):
            versions |= _column(conn, _SERVED_VERSION, serve_models.c.id, ids)
        if ids := by_kind.get("inference_service"):
            models |= _column(conn, _SERVICE_MODEL, _isvc.id, ids)
        if ids := by_kind.get("serving_environment"):
            models |= _column(conn, _SERVICE_MODEL, _isvc.serving_environment_id, ids)
        return Scope(frozenset(models), frozenset(versions))


def _stage(version: Mapping[str, Any]) -> Json:
    """The version's governance stage, which the bridge publishes as its lifecycle: a version never promoted is in
    the first stage (`development`) even when it carries no `Lifecycle` property (issue 14 item 13), rather than
    falling through to the model's property or `DEFAULT_LIFECYCLE`."""
    return {"metadataType": "MetadataStringValue", "string_value": version.get("stage") or INITIAL_STAGE}


def _column(conn: Connection, query: Select[Any], key: Column[Any], ids: Collection[int]) -> set[int]:
    """The values of `query`'s one column in the rows whose `key` is in `ids`."""
    return {value for row in _in(conn, query, key, ids) for value in row.values() if value is not None}
