"""Archiving a model archives its live versions with it; restoring the model restores exactly those versions.

Its own module because both ``RegistryService.update`` (a Kubeflow PATCH of ``state``) and the governance API's
archive endpoints take this path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from modelreg.db.tables import model_versions
from modelreg.services import audit, clock
from modelreg.services import entities as e


def cascade_to_versions(conn: Connection, registered_model_id: int, action: str) -> None:
    """Archive the live versions of a model with it, or restore the versions archived with it."""
    mv = model_versions.c
    if action == "archive":
        where = [mv.registered_model_id == registered_model_id, mv.state == "LIVE"]
        values: dict[str, Any] = {"state": "ARCHIVED", "archived_with_model": True}
        before: dict[str, Any] = {"state": "LIVE", "archived_with_model": None}
    else:
        where = [mv.registered_model_id == registered_model_id, mv.archived_with_model.is_(True)]
        values = {"state": "LIVE", "archived_with_model": None}
        before = {"state": "ARCHIVED", "archived_with_model": True}
    rows = conn.execute(select(mv.id, mv.name).where(*where)).all()
    if not rows:
        return
    conn.execute(update(model_versions).where(*where).values(**values, last_update_time=clock.now_ms()))
    for id_, name in rows:
        audit.stage(conn, action, e.MODEL_VERSION.audit_name, id_, name, before, values)
