"""The ``deployments`` table: one row per deployment, kept after undeploy (its history hangs off it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, select, update

from modelreg.db import repository
from modelreg.db.tables import deployments
from modelreg.errors import InvalidInput, NotFound
from modelreg.services import audit, clock

_c = deployments.c

DESIRED_STATES = ("deployed", "stopped", "undeployed")  # what a deployment list can be filtered by
# Set by undeploy before it deletes the InferenceService and cleared when it is done (or restored when the delete
# fails): the status watcher records no deletion "from the cluster" for a deployment in this state.
UNDEPLOYING = "undeploying"
# The keys a request built by modelreg always has; an adopted deployment's stored request lacks them.
_BUILT_KEYS = frozenset({"namespace", "hardwareProfile"})


@dataclass(frozen=True, slots=True)
class Deployment:
    id: int
    namespace: str
    name: str
    display_name: str | None
    registered_model_id: int | None
    model_version_id: int | None
    catalog_source: str | None
    catalog_model: str | None
    mode: str  # apply | gitops
    hardware_profile: str | None
    connection: str | None
    runtime: str | None
    request: Mapping[str, Any]  # the deploy request as last applied (wire names, see api/deploy)
    desired_state: str  # one of DESIRED_STATES, or UNDEPLOYING for a moment
    status: str  # a state of deploy/status.py, or Undeployed
    status_message: str | None
    internal_url: str | None
    external_url: str | None
    isvc_uid: str | None
    isvc_version: str | None  # the resourceVersion the status was last taken from (status_rows.changes_of)
    inference_service_id: int | None
    created_by: str | None
    create_time: int
    last_update_time: int
    status_time: int | None

    @property
    def active(self) -> bool:
        return self.desired_state != "undeployed"

    @property
    def adopted(self) -> bool:
        """Made elsewhere (the dashboard, a GitOps tool) and adopted by the status watcher: its stored request
        holds only what the InferenceService says (replicas, route, auth), so its objects cannot be built again."""
        return not self.request.keys() >= _BUILT_KEYS

    def to_dict(self) -> dict[str, Any]:
        """The wire shape of ``/api/deploy/v1/deployments`` (ids as strings, as the registry API writes them)."""

        def sid(value: int | None) -> str | None:
            return None if value is None else str(value)

        return {
            "id": str(self.id),
            "namespace": self.namespace,
            "name": self.name,
            "displayName": self.display_name,
            "registeredModelId": sid(self.registered_model_id),
            "modelVersionId": sid(self.model_version_id),
            "catalogSource": self.catalog_source,
            "catalogModel": self.catalog_model,
            "mode": self.mode,
            "hardwareProfile": self.hardware_profile,
            "connection": self.connection,
            "runtime": self.runtime,
            "replicas": self.request.get("replicas"),
            "externalRoute": bool(self.request.get("externalRoute")),
            "tokenAuth": bool(self.request.get("tokenAuth")),
            "desiredState": self.desired_state,
            "adopted": self.adopted,
            "status": self.status,
            "statusMessage": self.status_message,
            "internalUrl": self.internal_url,
            "externalUrl": self.external_url,
            "inferenceServiceId": sid(self.inference_service_id),
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
            "lastUpdateTimeSinceEpoch": str(self.last_update_time),
            "statusTimeSinceEpoch": sid(self.status_time),
        }


def from_row(row: Mapping[Any, Any]) -> Deployment:
    values = {str(k): v for k, v in row.items()}
    values.pop("active_key", None)
    values["request"] = orjson.loads(values["request"] or "{}")
    return Deployment(**values)


def active_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def get(conn: Connection, deployment_id: int, *, lock: bool = False) -> Deployment:
    """``lock``: for update, so a concurrent writer of this row (a deploy, undeploy or the watcher) waits."""
    query = select(deployments).where(_c.id == deployment_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"no deployment with id {deployment_id}")
    return from_row(row)


def find_active(conn: Connection, namespace: str, name: str) -> Deployment | None:
    row = conn.execute(select(deployments).where(_c.active_key == active_key(namespace, name))).mappings().first()
    return None if row is None else from_row(row)


def set_fields(conn: Connection, deployment_id: int, **values: Any) -> None:
    """Update columns by name (``request`` may be given as a mapping)."""
    if isinstance(values.get("request"), Mapping):
        values["request"] = _json(values["request"])
    if values.get("desired_state") == "undeployed":
        values["active_key"] = None
    values.setdefault("last_update_time", clock.now_ms())
    conn.execute(update(deployments).where(_c.id == deployment_id).values(**values))


def audit_change(before: Deployment | None, after: Deployment) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The audit record's before and after of a change to a deployment, in the wire names of `Deployment.to_dict`
    (the same in every record, whoever writes it): the whole row for a new one, else only what changed."""
    new = {k: v for k, v in after.to_dict().items() if not k.endswith("TimeSinceEpoch")}
    if before is None:
        return None, new
    old = {k: v for k, v in before.to_dict().items() if not k.endswith("TimeSinceEpoch")}
    return audit.diff(old, new)


def mark_undeploying(conn: Connection, deployment_id: int) -> Deployment | None:
    """Mark an active deployment `UNDEPLOYING` (no event: the undeploy records one when done); the row as it was
    before, or None when it is undeployed already."""
    row = get(conn, deployment_id, lock=True)
    if not row.active:
        return None
    if row.desired_state != UNDEPLOYING:
        conn.execute(update(deployments).where(_c.id == deployment_id).values(desired_state=UNDEPLOYING))
    return row


def unmark_undeploying(conn: Connection, deployment_id: int, desired_state: str) -> None:
    """An undeploy that failed before anything was deleted: the desired state it had (unless something else wrote
    it since)."""
    query = update(deployments).where(_c.id == deployment_id, _c.desired_state == UNDEPLOYING)
    conn.execute(query.values(desired_state=desired_state))


def _json(request: Mapping[str, Any]) -> str:
    return orjson.dumps(request, option=orjson.OPT_SORT_KEYS).decode()


def claim(conn: Connection, values: Mapping[str, Any], request: Mapping[str, Any]) -> int:
    """Insert an active deployment; its ``active_key`` is unique, so a second active deployment of one name in one
    namespace fails here with an IntegrityError (the caller's 409) before anything reaches the cluster."""
    now = clock.now_ms()
    row = {
        **values,
        "active_key": active_key(values["namespace"], values["name"]),
        "request": _json(request),
        "create_time": now,
        "last_update_time": now,
        "status_time": now,
    }
    return repository.insert_row(conn, deployments, row)


@dataclass(frozen=True, slots=True)
class Filters:
    model_version_id: int | None = None
    registered_model_id: int | None = None
    namespace: str | None = None
    desired_state: str | None = None  # deployed | stopped | undeployed
    include_undeployed: bool = False

    def where(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.model_version_id is not None:
            where.append(_c.model_version_id == self.model_version_id)
        if self.registered_model_id is not None:
            where.append(_c.registered_model_id == self.registered_model_id)
        if self.namespace is not None:
            where.append(_c.namespace == self.namespace)
        if self.desired_state is not None:
            if self.desired_state not in DESIRED_STATES:
                raise InvalidInput(f"invalid state {self.desired_state!r}: must be one of {', '.join(DESIRED_STATES)}")
            where.append(_c.desired_state == self.desired_state)
        elif not self.include_undeployed:
            where.append(_c.desired_state != "undeployed")
        return where


def page(conn: Connection, filters: Filters, limit: int, before_id: int | None = None) -> list[Deployment]:
    """Newest first; ``before_id`` continues after the previous page's last id."""
    where = filters.where()
    if before_id is not None:
        where.append(_c.id < before_id)
    rows = conn.execute(select(deployments).where(*where).order_by(_c.id.desc()).limit(limit)).mappings()
    return [from_row(row) for row in rows]
