"""Audit record → CloudEvent (JSON format, CloudEvents 1.0). Pure but for the lookups that give an event its model
name and stage (webhook filters, and what receivers need most).

Which audit records are events: registry entities (registered_model, model_version, artifact, experiment,
experiment_run, serving_environment, inference_service, serve_model), stage changes, upload commits, transfer jobs
and deployments. Governance records (tokens, role bindings, users, data connections, webhooks, deploy targets)
are not: they stay in the admin-only audit log.

The model name and stage are looked up when the relay reads the record ("at relay time": a version promoted since
shows its new stage), except a stage change's, which is the stage it changed to; an entity deleted since is
described from its record."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from modelreg import wire
from modelreg.db.repository import AnyRow
from modelreg.db.tables import (
    artifact_attributions,
    artifacts,
    deployments,
    inference_services,
    model_versions,
    registered_models,
    serve_models,
    transfer_jobs,
)
from modelreg.services import entities as e
from modelreg.services.audit import iso_time
from modelreg.stages import INITIAL_STAGE, LIFECYCLE_PROPERTY

TYPE_PREFIX = "io.modelreg."
SPEC_VERSION = "1.0"

# Registry kinds (the audit's names) and their tables, which are also the plural of the subject.
REGISTRY_KINDS = {kind.audit_name: kind.name for kind in e.ENTITY_KINDS}
_REGISTRY_VERBS = {
    "create": "created",
    "update": "updated",
    "archive": "archived",
    "restore": "restored",
    "delete": "deleted",
}
# The other kinds that make events, with their actions: (audit kind, action) → the type's last part.
_OTHER_VERBS: dict[str, dict[str, str]] = {
    "model_version": {"promote": "stage_changed"},
    "upload": {"commit": "committed"},
    "transfer_job": {"create": "created", "cancel": "cancelled"},
    "deployment": {
        "deploy": "deployed",
        "deploy_failed": "failed",
        "edit": "updated",
        "stop": "stopped",
        "start": "started",
        "undeploy": "undeployed",
        "status": "status_changed",
        "adopt": "adopted",
    },
}
_PLURALS = {**REGISTRY_KINDS, "upload": "uploads", "transfer_job": "transfer_jobs", "deployment": "deployments"}


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the ``events`` table."""

    seq: int  # the audit record's sequence number, the CloudEvent's id
    type: str
    subject: str | None
    entity_key: str  # "model_version:12": deliveries are in order per key
    model_name: str | None
    stage: str | None
    time_ms: int
    body: bytes  # the CloudEvent, structured JSON, exactly as sent


def event_type(kind: str, action: str) -> str | None:
    """The type of an audit record's event, None when the record is no event."""
    verb = _OTHER_VERBS.get(kind, {}).get(action)
    if verb is None and kind in REGISTRY_KINDS:
        verb = _REGISTRY_VERBS.get(action)
    return None if verb is None else f"{TYPE_PREFIX}{kind}.{verb}"


@cache
def event_types() -> Sequence[str]:
    """Every event type modelreg emits (documented in docs/events.md; webhook filters are checked against it)."""
    types = {f"{TYPE_PREFIX}{kind}.{verb}" for kind in REGISTRY_KINDS for verb in _REGISTRY_VERBS.values()}
    types |= {f"{TYPE_PREFIX}{kind}.{verb}" for kind, verbs in _OTHER_VERBS.items() for verb in verbs.values()}
    return tuple(sorted(types))


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a webhook's type patterns (``*`` wildcards, e.g. ``io.modelreg.model_version.*``) select the type.
    (The model filter, a name glob, matches the same way.)"""
    return any(_pattern(p).fullmatch(event_type) for p in patterns)


def selects_any(pattern: str) -> bool:
    """Whether a type pattern selects any type modelreg emits (a pattern that selects none is a typo)."""
    return any(matches([pattern], t) for t in event_types())


@lru_cache(maxsize=1024)  # bounded: patterns come from callers too (the stream's ?types= and ?model=)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass
class Lookups:
    """The rows an event's description needs, read once per relay round: `prefetch` loads those of a batch of
    records in a few statements (a batch names the same models and versions again and again)."""

    conn: Connection
    _models: dict[int, str | None] = field(default_factory=dict)
    _versions: dict[int, tuple[int, str, str | None] | None] = field(default_factory=dict)
    _artifact_versions: dict[int, int | None] = field(default_factory=dict)

    def prefetch(self, records: Sequence[AnyRow]) -> None:
        artifact_ids = {r["entity_id"] for r in records if r["entity_kind"] == "artifact" and r["entity_id"]}
        version_ids = {r["entity_id"] for r in records if r["entity_kind"] == "model_version" and r["entity_id"]}
        if artifact_ids:
            a, at = artifacts.c, artifact_attributions.c
            found = dict(self.conn.execute(select(a.id, a.parent_model_version_id).where(a.id.in_(artifact_ids))).all())
            linked = [id_ for id_, parent in found.items() if parent is None]
            if linked:
                query = select(at.artifact_id, func.min(at.parent_id)).where(
                    at.artifact_id.in_(linked), at.parent_kind == "model_version"
                )
                found.update(self.conn.execute(query.group_by(at.artifact_id)).all())
            self._artifact_versions.update({id_: found.get(id_) for id_ in artifact_ids})
            version_ids |= {v for v in found.values() if v is not None}
        if version_ids:
            mv = model_versions.c
            rows = self.conn.execute(
                select(mv.id, mv.registered_model_id, mv.name, mv.stage).where(mv.id.in_(version_ids))
            ).all()
            self._versions.update(dict.fromkeys(version_ids))
            self._versions.update({r[0]: (r[1], r[2], r[3]) for r in rows})
            model_ids = {r[1] for r in rows}
            rm = registered_models.c
            names = self.conn.execute(select(rm.id, rm.name).where(rm.id.in_(model_ids))).all()
            self._models.update(dict(names))

    def model_name(self, model_id: int) -> str | None:
        if model_id not in self._models:
            rm = registered_models.c
            self._models[model_id] = self.conn.execute(select(rm.name).where(rm.id == model_id)).scalar()
        return self._models[model_id]

    def version(self, version_id: int) -> tuple[int, str, str | None] | None:
        """(registered model id, name, stage) of a version, None when it is gone."""
        if version_id not in self._versions:
            mv = model_versions.c
            row = self.conn.execute(
                select(mv.registered_model_id, mv.name, mv.stage).where(mv.id == version_id)
            ).first()
            self._versions[version_id] = None if row is None else (row[0], row[1], row[2])
        return self._versions[version_id]

    def artifact_version(self, artifact_id: int) -> int | None:
        """The model version an artifact belongs to (its parent, else the first version it is linked to)."""
        if artifact_id not in self._artifact_versions:
            self.prefetch([{"entity_kind": "artifact", "entity_id": artifact_id}])
        return self._artifact_versions[artifact_id]

    def row(self, query: Any) -> AnyRow:
        found = self.conn.execute(query).mappings().first()
        return {} if found is None else found


def from_audit(conn: Connection, record: AnyRow, source: str, lookups: Lookups | None = None) -> Event | None:
    """The event of one audit record (a row of ``audit_log``), None when it is not one. ``lookups`` shares the
    rows read across the records of one relay round."""
    kind = str(record["entity_kind"])
    type_ = event_type(kind, str(record["action"]))
    if type_ is None:
        return None
    lookups = lookups or Lookups(conn)
    changes = orjson.loads(record["changes"])
    before, after = changes.get("before") or {}, changes.get("after") or {}
    entity_id, name = record["entity_id"], record["entity_name"]
    ref = str(entity_id) if entity_id is not None else name
    entity: dict[str, Any] = {"kind": kind, "id": None if entity_id is None else str(entity_id), "name": name}
    model_id, version_id = _model_and_version(kind, entity_id, name, {**before, **after}, lookups)
    if kind == "transfer_job":
        job = lookups.row(select(transfer_jobs.c.id).where(transfer_jobs.c.name == name))
        entity["id"] = job.get("id")
    elif kind == "upload":
        entity["id"] = name  # an upload's id is its name in the audit log
    stage = None
    if version_id is not None:
        version = lookups.version(version_id)
        entity["modelVersionId"] = str(version_id)
        if version is not None:
            model_id = model_id or version[0]
            entity["modelVersionName"], stage = version[1], version[2] or INITIAL_STAGE  # never set: the first
    if kind == "model_version" and record["action"] == "promote":
        stage = after.get(LIFECYCLE_PROPERTY, stage)
    model_name = name if kind == "registered_model" else None
    if model_id is not None and kind != "registered_model":
        entity["registeredModelId"] = str(model_id)
        model_name = lookups.model_name(model_id)
        entity["registeredModelName"] = model_name
    if version_id is not None:
        entity["stage"] = stage
    data = {
        "entity": entity,
        "changes": {
            "before": _wire_names(kind, changes.get("before")),
            "after": _wire_names(kind, changes.get("after")),
        },
        "actor": record["actor"],
        "via": record["via"],
        "requestId": record["request_id"],
    }
    subject = None if ref is None else f"{_PLURALS[kind]}/{ref}"
    body = envelope(str(record["seq"]), source, type_, int(record["time_ms"]), data, subject=subject)
    return Event(
        seq=int(record["seq"]),
        type=type_,
        subject=subject,
        entity_key=f"{kind}:{ref}",
        model_name=model_name,
        stage=stage,
        time_ms=int(record["time_ms"]),
        body=orjson.dumps(body, default=str),
    )


def envelope(
    id_: str, source: str, type_: str, time_ms: int, data: Mapping[str, Any], **attributes: Any
) -> dict[str, Any]:
    """A CloudEvent in the structured JSON format, as every event modelreg sends is (relayed, test, stream gap);
    ``attributes`` are the optional ones it has (``subject``)."""
    return {
        "specversion": SPEC_VERSION,
        "id": id_,
        "source": source,
        "type": type_,
        **attributes,
        "time": iso_time(time_ms),
        "datacontenttype": "application/json",
        "data": data,
    }


def _model_and_version(
    kind: str, entity_id: int | None, name: str | None, recorded: Mapping[str, Any], lookups: Lookups
) -> tuple[int | None, int | None]:
    """The registered model and model version an event is about, from the entity's row (or, gone, its record)."""
    row: AnyRow = {}
    if kind == "registered_model":
        return entity_id, None
    if kind == "model_version":
        return _int(recorded.get("registered_model_id")), entity_id
    if kind == "artifact" and entity_id is not None:
        version_id = lookups.artifact_version(entity_id)
        if version_id is not None:
            return None, version_id
    elif kind == "inference_service" and entity_id is not None:
        i = inference_services.c
        row = lookups.row(select(i.registered_model_id, i.model_version_id).where(i.id == entity_id))
    elif kind == "serve_model" and entity_id is not None:
        row = lookups.row(select(serve_models.c.model_version_id).where(serve_models.c.id == entity_id))
    elif kind == "deployment" and entity_id is not None:
        d = deployments.c
        row = lookups.row(select(d.registered_model_id, d.model_version_id).where(d.id == entity_id))
    elif kind == "transfer_job":
        t = transfer_jobs.c
        row = lookups.row(select(t.registered_model_id, t.model_version_id).where(t.name == name))
    elif kind != "upload":  # an upload's record names what it registered
        return None, None
    model_id = row.get("registered_model_id", recorded.get("registered_model_id", recorded.get("registeredModelId")))
    version_id = row.get(
        "model_version_id",
        recorded.get("model_version_id", recorded.get("modelVersionId", recorded.get("parent_model_version_id"))),
    )
    return _int(model_id), _int(version_id)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _wire_names(kind: str, values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An audit record's before or after in the REST API's names and value shapes, where wire.py knows the kind;
    other keys (and other kinds) as recorded."""
    if values is None:
        return None
    table = REGISTRY_KINDS.get(kind)
    known = _columns(table) if table is not None else {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        field_ = known.get(key)
        if field_ is None:
            out[key] = value
            continue
        try:
            out[field_.api] = value if value is None else field_.codec.to_wire(value)
        except (TypeError, ValueError, orjson.JSONDecodeError):
            out[field_.api] = value
    return out


@cache
def _columns(table: str) -> dict[str, wire.Wire]:
    """Column → wire field of a table (artifacts: of every artifact type)."""
    fields = [f for fs in wire.ARTIFACT_FIELDS.values() for f in fs] if table == "artifacts" else wire.fields_for(table)
    return {f.column: f for f in fields}
