"""The ``deployments`` table: one row per deployment, kept after undeploy (its history hangs off it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from modelreg.db.tables import deployments
from modelreg.errors import NotFound

_c = deployments.c

DESIRED_STATES = ("deployed", "stopped", "undeployed")
# The states the dashboard shows (deploy/status.py), plus Stopped and Undeployed, which modelreg adds.
STATUSES = (
    "Pending",
    "Standby",
    "Loading",
    "Loaded",
    "FailedToLoad",
    "Redeploying",
    "Stopped",
    "Unknown",
    "Undeployed",
)


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
    desired_state: str
    status: str
    status_message: str | None
    internal_url: str | None
    external_url: str | None
    isvc_uid: str | None
    inference_service_id: int | None
    created_by: str | None
    create_time: int
    last_update_time: int
    status_time: int | None

    @property
    def active(self) -> bool:
        return self.desired_state != "undeployed"

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


def from_row(row: Mapping[str, Any]) -> Deployment:
    values = dict(row)
    values.pop("active_key", None)
    values["request"] = orjson.loads(values["request"] or "{}")
    return Deployment(**values)


def active_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def get(conn: Connection, deployment_id: int) -> Deployment:
    row = conn.execute(select(deployments).where(_c.id == deployment_id)).mappings().first()
    if row is None:
        raise NotFound(f"no deployment with id {deployment_id}")
    return from_row(row)


def find_active(conn: Connection, namespace: str, name: str) -> Deployment | None:
    row = conn.execute(select(deployments).where(_c.active_key == active_key(namespace, name))).mappings().first()
    return None if row is None else from_row(row)


def set_fields(conn: Connection, deployment_id: int, **values: Any) -> None:
    """Update columns by name (``request`` may be given as a mapping)."""
    if isinstance(values.get("request"), Mapping):
        values["request"] = orjson.dumps(values["request"], option=orjson.OPT_SORT_KEYS).decode()
    if values.get("desired_state") == "undeployed":
        values["active_key"] = None
    conn.execute(update(deployments).where(_c.id == deployment_id).values(**values))
