"""Archive, restore and hard delete of registered models and model versions (admin only).

Archiving is a soft delete kept for audit: the entity leaves default listings and the catalog but stays readable
by id. Archiving a model archives its live versions with it; restoring the model brings back exactly those.
Hard delete removes an archived entity for good and leaves its last state in the audit trail as a tombstone; the
files modelreg uploaded for its versions are deleted too (files it merely points at, registered by URI, are not).
The Kubeflow API's own way of archiving, a PATCH of ``state``, takes the same path (``RegistryService.update``).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db.tables import artifact_attributions, artifacts, inference_services, model_versions, serve_models
from modelreg.errors import Conflict
from modelreg.services import audit, properties, uploads
from modelreg.services import entities as e
from modelreg.services.entities import Kind, Record
from modelreg.services.registry import RegistryService

ARCHIVABLE = {"registered_models": e.REGISTERED_MODEL, "model_versions": e.MODEL_VERSION}


class ArchiveService:
    def __init__(self, registry: RegistryService, upload_service: uploads.UploadService | None = None) -> None:
        self.registry = registry
        self.db = registry.db
        self.uploads = upload_service

    def archive(self, kind: Kind, id_: int) -> Record:
        return self._set_state(kind, id_, "ARCHIVED")

    def restore(self, kind: Kind, id_: int) -> Record:
        return self._set_state(kind, id_, "LIVE")

    def _set_state(self, kind: Kind, id_: int, state: str) -> Record:
        context.require(Permission.ARCHIVE, f"{'archive' if state == 'ARCHIVED' else 'restore'} a {kind.label}")
        current = self.registry.get(kind, id_)
        if current.row["state"] == state:
            return current  # already there: nothing to record
        return self.registry.update(kind, id_, {"state": state}, None)

    def delete(self, kind: Kind, id_: int) -> None:
        """Remove an archived model (with its versions) or an archived version, and everything they own."""
        context.require(Permission.DELETE, f"delete a {kind.label}")

        def run(conn: Connection) -> list[uploads.Upload]:
            current = e.load(conn, kind, id_)
            if current.row["state"] != "ARCHIVED":
                raise Conflict(f"{kind.label} {id_} is not archived: archive it before deleting it")
            if kind is e.REGISTERED_MODEL:
                version_ids = [
                    r[0]
                    for r in conn.execute(
                        select(model_versions.c.id).where(model_versions.c.registered_model_id == id_)
                    )
                ]
            else:
                version_ids = [id_]
            _refuse_if_served(conn, kind, id_, version_ids)
            stored = uploads.committed_for_versions(conn, version_ids)
            uploads.mark_deleted(conn, stored)
            for version_id in version_ids:
                if kind is e.REGISTERED_MODEL or version_id != id_:
                    version = e.load(conn, e.MODEL_VERSION, version_id)
                    _tombstone(conn, e.MODEL_VERSION, version)
                _delete_version(conn, version_id)
            if kind is e.REGISTERED_MODEL:
                properties.delete_all(conn, e.REGISTERED_MODEL.name, [id_])
                conn.execute(delete(e.REGISTERED_MODEL.table).where(e.REGISTERED_MODEL.table.c.id == id_))
            _tombstone(conn, kind, current)
            return stored

        stored = self.db.run_write(run)
        if self.uploads is not None:
            self.uploads.purge(stored)  # after the commit: files never vanish under a version that still exists


def _tombstone(conn: Connection, kind: Kind, record: Record) -> None:
    audit.stage(
        conn,
        "delete",
        kind.audit_name,
        record.row["id"],
        record.row["name"],
        audit.snapshot(record.row, record.props),
        None,
    )


def _refuse_if_served(conn: Connection, kind: Kind, id_: int, version_ids: list[int]) -> None:
    isvc = inference_services.c
    where = isvc.registered_model_id == id_ if kind is e.REGISTERED_MODEL else isvc.model_version_id == id_
    served = conn.execute(select(isvc.id).where(where).limit(1)).first()
    if served is None and version_ids:
        served = conn.execute(
            select(serve_models.c.inference_service_id).where(serve_models.c.model_version_id.in_(version_ids)).limit(1)
        ).first()
    if served is not None:
        raise Conflict(f"{kind.label} {id_} is still referenced by inference service {served[0]}: remove that first")


def _delete_version(conn: Connection, version_id: int) -> None:
    """The version, the artifacts it owns and its links to shared artifacts; custom properties of all of them."""
    owned = [
        r[0] for r in conn.execute(select(artifacts.c.id).where(artifacts.c.parent_model_version_id == version_id))
    ]
    a = artifact_attributions.c
    conn.execute(delete(artifact_attributions).where(a.parent_kind == "model_version", a.parent_id == version_id))
    if owned:
        conn.execute(delete(artifact_attributions).where(a.artifact_id.in_(owned)))
        properties.delete_all(conn, e.ARTIFACT.name, owned)
        conn.execute(delete(artifacts).where(artifacts.c.id.in_(owned)))
    properties.delete_all(conn, e.MODEL_VERSION.name, [version_id])
    conn.execute(delete(model_versions).where(model_versions.c.id == version_id))
