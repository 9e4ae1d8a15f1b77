"""Where bridge records come from: a `Source` turns (part of) a registry into a `RegistrySnapshot`.

Only the local registry is implemented (`LocalRegistry`, read straight from the database inside the sync's
transaction). Remote Kubeflow registries polled over REST and KServe status plug in as further `Source`s: they
produce the same REST-shaped snapshot, so `normalize` and the store treat every source alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import ColumnElement, Connection, Table, select

from modelreg.api.registry.convert import to_wire
from modelreg.bridge.normalize import RegistrySnapshot
from modelreg.services import entities as e
from modelreg.storage.tables import (
    artifact_attributions,
    artifacts,
    bridge_records,
    inference_services,
    model_versions,
    registered_models,
    serve_models,
)

Json = dict[str, Any]
# Audit entity kinds whose change can alter a model's records; others (tokens, experiments, ...) never do.
BRIDGE_KINDS = frozenset(
    {"registered_model", "model_version", "artifact", "inference_service", "serving_environment", "serve_model"}
)
_CHUNK = 2000  # ids per IN list: well under every backend's bound-parameter limit


class Source(Protocol):
    """A registry the bridge publishes. `name` is the records' `source` ("" for this registry)."""

    name: str

    def snapshot(self, conn: Connection, model_ids: Collection[str] | None) -> RegistrySnapshot:
        """The REST shapes of the given registered models (all of them for None). Raise on any error: the sync
        then keeps the previous records instead of deleting what it could not read."""
        ...


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _select(conn: Connection, table: Table, column: str | None, ids: Collection[int] | None, *where: Any) -> list:
    """Rows of `table` (all, or those whose `column` is in `ids`), chunked so huge syncs stay within limits."""
    if ids is None or column is None:
        return list(conn.execute(select(table).where(*where)).mappings())
    rows: list = []
    for chunk in _chunks(sorted(ids)):
        rows.extend(conn.execute(select(table).where(table.c[column].in_(chunk), *where)).mappings())
    return rows


def _wire(conn: Connection, kind: e.Kind, rows: Sequence[Mapping[str, Any]]) -> list[Json]:
    out: list[Json] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        out.extend(to_wire(r.kind, r.row, r.props) for r in e.records(conn, kind, chunk))  # type: ignore[arg-type]
    return out


def without_userinfo(url: str | None) -> str | None:
    """Drop `user:password@` from a URL: published documents never carry credentials."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class LocalRegistry:
    """This registry, read in the sync's own transaction (no HTTP round trip, one query per kind)."""

    name = ""

    def snapshot(self, conn: Connection, model_ids: Collection[str] | None) -> RegistrySnapshot:
        ids = None if model_ids is None else {int(i) for i in model_ids}
        models = _select(conn, registered_models, "id", ids)
        versions = _select(conn, model_versions, "registered_model_id", ids, model_versions.c.state != "ARCHIVED")
        version_ids = [v["id"] for v in versions]
        parents = self._artifact_parents(conn, version_ids if ids is not None else None)
        found = _select(conn, artifacts, "id", set(parents), artifacts.c.artifact_type == "model-artifact")
        by_version: dict[str, list[Json]] = {}
        for wire in _wire(conn, e.ARTIFACT, found):
            wire["uri"] = without_userinfo(wire.get("uri"))
            for version_id in parents[int(wire["id"])]:
                by_version.setdefault(str(version_id), []).append(wire)
        for listed in by_version.values():
            listed.sort(key=lambda a: int(a["id"]))
        services = _select(conn, inference_services, "registered_model_id", ids)
        environments = _select(conn, e.SERVING_ENVIRONMENT.table, "id", {s["serving_environment_id"] for s in services})
        service_wire = _wire(conn, e.INFERENCE_SERVICE, services)
        for wire in service_wire:
            url = wire.get("customProperties", {}).get("url")
            if isinstance(url, dict) and isinstance(url.get("string_value"), str):
                url["string_value"] = without_userinfo(url["string_value"])
        return RegistrySnapshot(
            registered_models=_wire(conn, e.REGISTERED_MODEL, models),
            model_versions=_wire(conn, e.MODEL_VERSION, versions),
            artifacts_by_version=by_version,
            inference_services=service_wire,
            serving_environments=_wire(conn, e.SERVING_ENVIRONMENT, environments),
        )

    @staticmethod
    def _artifact_parents(conn: Connection, version_ids: Sequence[int] | None) -> dict[int, list[int]]:
        """Model version ids per artifact id: the owning version and every attribution link."""
        a, link = artifacts.c, artifact_attributions.c
        parents: dict[int, set[int]] = {}
        owned = select(a.id, a.parent_model_version_id).where(a.parent_model_version_id.is_not(None))
        linked = select(link.artifact_id, link.parent_id).where(link.parent_kind == "model_version")
        queries: list[Any] = []
        if version_ids is None:
            queries = [owned, linked]
        else:
            for chunk in _chunks(version_ids):
                queries += [owned.where(a.parent_model_version_id.in_(chunk)), linked.where(link.parent_id.in_(chunk))]
        for query in queries:
            for artifact_id, version_id in conn.execute(query):
                parents.setdefault(artifact_id, set()).add(version_id)
        return {k: sorted(v) for k, v in parents.items()}

    def affected_models(self, conn: Connection, changes: Iterable[tuple[str, int]]) -> set[str]:
        """Registered model ids touched by audited changes (kind, id). Looked up here, in the worker, so the
        commit hook stays free of queries; a deleted version is found through the records it left."""
        by_kind: dict[str, set[int]] = {}
        for kind, id_ in changes:
            by_kind.setdefault(kind, set()).add(id_)
        models = set(by_kind.get("registered_model", ()))
        versions = set(by_kind.get("model_version", ()))
        if ids := by_kind.get("artifact"):
            a, link = artifacts.c, artifact_attributions.c
            versions |= _column(conn, select(a.parent_model_version_id), a.id, ids)
            versions |= _column(
                conn, select(link.parent_id).where(link.parent_kind == "model_version"), link.artifact_id, ids
            )
        if ids := by_kind.get("serve_model"):
            versions |= _column(conn, select(serve_models.c.model_version_id), serve_models.c.id, ids)
        if ids := by_kind.get("inference_service"):
            isvc = inference_services.c
            models |= _column(conn, select(isvc.registered_model_id), isvc.id, ids)
            versions |= _column(conn, select(isvc.model_version_id), isvc.id, ids)
        if ids := by_kind.get("serving_environment"):
            isvc = inference_services.c
            models |= _column(conn, select(isvc.registered_model_id), isvc.serving_environment_id, ids)
        if versions:
            mv = model_versions.c
            models |= _column(conn, select(mv.registered_model_id), mv.id, versions)
            r = bridge_records.c
            gone = {str(v) for v in versions}
            for (model_id,) in conn.execute(
                select(r.registered_model_id).where(r.source == self.name, r.model_version_id.in_(sorted(gone)))
            ):
                models.add(int(model_id))
        return {str(m) for m in models}


def _column(conn: Connection, query: Any, key: Any, ids: Collection[int]) -> set[int]:
    out: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        clause: ColumnElement[bool] = key.in_(chunk)
        out.update(row[0] for row in conn.execute(query.where(clause)) if row[0] is not None)
    return out
