"""Archive, restore and hard delete of registered models and model versions (admin only)."""

from __future__ import annotations

from typing import Literal

from starlette.responses import Response

from modelreg.api.deps import ArchiveDep
from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, PathId, RegistryRouter, json_response, one
from modelreg.auth.principal import Permission
from modelreg.services.archive import ARCHIVABLE
from modelreg.services.entities import parse_id

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
Collection = Literal["registered_models", "model_versions"]


@router.post(
    "/{collection}/{entityId}/archive",
    tags=["Governance"],
    dependencies=[requires(Permission.ARCHIVE, "archive or restore")],
)
def archive(svc: ArchiveDep, collection: Collection, entityId: PathId) -> Response:
    kind = ARCHIVABLE[collection]
    return one(svc.archive(kind, parse_id(entityId, kind.label)))


@router.post(
    "/{collection}/{entityId}/restore",
    tags=["Governance"],
    dependencies=[requires(Permission.ARCHIVE, "archive or restore")],
)
def restore(svc: ArchiveDep, collection: Collection, entityId: PathId) -> Response:
    kind = ARCHIVABLE[collection]
    return one(svc.restore(kind, parse_id(entityId, kind.label)))


@router.delete("/{collection}/{entityId}", tags=["Governance"], dependencies=[requires(Permission.DELETE, "delete")])
def delete(svc: ArchiveDep, collection: Collection, entityId: PathId) -> Response:
    """Only archived entities; leaves a tombstone record in the audit trail."""
    kind = ARCHIVABLE[collection]
    id_ = parse_id(entityId, kind.label)
    svc.delete(kind, id_)
    return json_response({"deleted": {"kind": kind.audit_name, "id": str(id_)}})
