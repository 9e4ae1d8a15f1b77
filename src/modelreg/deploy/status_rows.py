"""What the status watcher writes: one InferenceService's status, adoption or deletion on its deployment row, with
the history event and the audit record, each in the caller's transaction (the watcher's thread, `deploy/watcher.py`,
decides when)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from modelreg.auth import context
from modelreg.db.tables import deployments
from modelreg.deploy import history, keys, records, store
from modelreg.deploy.records import INFERENCE_SERVICE_LABEL, REGISTERED_MODEL_LABEL, label_id
from modelreg.deploy.status import STOP_ANNOTATION, VISIBILITY_LABEL, DeploymentStatus
from modelreg.deploy.store import Deployment
from modelreg.kube.client import Json
from modelreg.kube.shapes import resource_version, revision, version_number
from modelreg.services import audit, clock

ADOPTED = "adopted from the cluster"
DELETED = "the InferenceService was deleted from the cluster"

_c = deployments.c


def record_status(conn: Connection, obj: Json, status: DeploymentStatus) -> Deployment | None:
    """The status of a live InferenceService on its active deployment (history and audit when it changed), or a
    new "adopted" deployment for one made elsewhere; None for one modelreg undeployed (its deletion is coming)."""
    row = active(conn, obj, lock=True)
    if row is None:
        if _undeployed_here(conn, obj):
            return None  # modelreg undeployed it; its deletion is on the way
        return _adopt(conn, obj, status)
    changes = changes_of(row, obj, status)
    if not changes:
        return row
    store.set_fields(conn, row.id, **changes)
    after = store.get(conn, row.id)
    if "status" in changes:
        history.record(conn, row.id, row.model_version_id, "status", status=status.state, message=status.message)
        audit.stage(conn, "status", "deployment", row.id, _label(row), *store.audit_change(row, after))
    return after


def record_deletion(conn: Connection, obj: Json) -> Deployment | None:
    """An InferenceService gone from the cluster: its deployment undeployed (by whoever deleted it, or by modelreg
    before), with history and audit; the row as it was, or None when no deployment had this very object. A
    deployment modelreg is undeploying right now is left to that undeploy, which records it."""
    row = active(conn, obj, lock=True)
    uid = obj["metadata"].get("uid")
    if row is not None and row.isvc_uid and uid and row.isvc_uid != uid:
        return None  # the deployment has moved on to a newer InferenceService of that name
    if row is not None and row.desired_state == store.UNDEPLOYING:
        return row
    if row is None:
        row = _by_uid(conn, obj)
    if row is None:
        return None
    changes: dict[str, Any] = {}
    event = None
    if row.desired_state != "undeployed":
        changes["desired_state"] = "undeployed"
        event = "undeploy"
    if row.status != "Undeployed":
        changes.update(status="Undeployed", status_message=DELETED, internal_url=None, external_url=None)
        changes["status_time"] = clock.now_ms()
        event = event or "status"  # undeployed by modelreg before: this is the status change it caused
    if event is not None:
        store.set_fields(conn, row.id, **changes)
        history.record(conn, row.id, row.model_version_id, event, status="Undeployed", message=DELETED)
        audit.stage(conn, event, "deployment", row.id, _label(row), *store.audit_change(row, store.get(conn, row.id)))
    return row


def watched(conn: Connection, namespaces: Sequence[str]) -> list[Deployment]:
    """Active deployments whose InferenceService the watcher has seen (isvc_uid set), in ``namespaces`` (all when
    empty): those missing from its cache were deleted while nobody watched."""
    query = select(deployments).where(_c.active_key.is_not(None), _c.isvc_uid.is_not(None))
    if namespaces:
        query = query.where(_c.namespace.in_(namespaces))
    return [store.from_row(row) for row in conn.execute(query).mappings()]


_STATUS_FIELDS = ("status", "status_message", "internal_url", "external_url")


def _label(row: Deployment) -> str:
    return f"{row.namespace}/{row.name}"


def active(conn: Connection, obj: Json, *, lock: bool = False) -> Deployment | None:
    """The active deployment of the object's namespace and name (``lock``: for update, so a deploy and the
    watcher do not both write it)."""
    metadata = obj["metadata"]
    query = select(deployments).where(_c.active_key == store.active_key(metadata["namespace"], metadata["name"]))
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    return None if row is None else store.from_row(row)


def _by_uid(conn: Connection, obj: Json) -> Deployment | None:
    """The newest deployment (active or not) that recorded this very InferenceService."""
    metadata = obj["metadata"]
    if not metadata.get("uid"):
        return None
    query = (
        select(deployments)
        .where(_c.namespace == metadata["namespace"], _c.name == metadata["name"], _c.isvc_uid == metadata["uid"])
        .order_by(_c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else store.from_row(row)


def _undeployed_here(conn: Connection, obj: Json) -> bool:
    row = _by_uid(conn, obj)
    return row is not None and not row.active


def changes_of(row: Deployment, obj: Json, status: DeploymentStatus) -> dict[str, Any]:
    """The row's fields that the object and its status say otherwise now ({}: nothing to write, or the object is
    an older copy of the one the row's status came from, which must not write its older status back)."""
    changes: dict[str, Any] = {}
    uid = obj["metadata"].get("uid")
    if uid and row.isvc_uid == uid and version_number(obj) < revision(row.isvc_version):
        return changes
    if uid and row.isvc_uid != uid:
        changes["isvc_uid"] = uid
    new = (status.state, status.message, status.internal_url, status.external_url)
    if tuple(getattr(row, k) for k in _STATUS_FIELDS) != new:
        changes.update(zip(_STATUS_FIELDS, new, strict=True))
        changes["status_time"] = clock.now_ms()
    if changes and resource_version(obj):
        changes["isvc_version"] = resource_version(obj)
    return changes


def _adopt(conn: Connection, obj: Json, status: DeploymentStatus) -> Deployment:
    """A deployment row for an InferenceService made elsewhere, shaped from what the object says."""
    metadata = obj["metadata"]
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    runtime = (predictor.get("model") or {}).get("runtime")
    request = {
        "replicas": predictor.get("minReplicas", 1),
        "externalRoute": labels.get(VISIBILITY_LABEL) == "exposed",
        "tokenAuth": annotations.get(keys.ENABLE_AUTH) == "true",
    }
    values = {
        "namespace": metadata["namespace"],
        "name": metadata["name"],
        "display_name": annotations.get("openshift.io/display-name"),
        "registered_model_id": label_id(obj, REGISTERED_MODEL_LABEL),
        "model_version_id": label_id(obj, records.MODEL_VERSION_LABEL),
        "mode": "apply",
        "hardware_profile": annotations.get(keys.PROFILE_NAME),
        "connection": annotations.get(keys.CONNECTIONS),
        "runtime": runtime if isinstance(runtime, str) else None,
        "desired_state": "stopped" if annotations.get(STOP_ANNOTATION) == "true" else "deployed",
        "status": status.state,
        "status_message": status.message,
        "internal_url": status.internal_url,
        "external_url": status.external_url,
        "isvc_uid": metadata.get("uid"),
        "inference_service_id": label_id(obj, INFERENCE_SERVICE_LABEL),
        "created_by": context.current().principal.user,  # the watcher: system:deploy-watch
    }
    deployment_id = store.claim(conn, values, request)
    history.record(conn, deployment_id, values["model_version_id"], "deploy", status=status.state, message=ADOPTED)
    row = store.get(conn, deployment_id)
    audit.stage(conn, "adopt", "deployment", deployment_id, _label(row), *store.audit_change(None, row))
    return row
