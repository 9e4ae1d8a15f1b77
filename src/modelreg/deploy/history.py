"""Each deployment's persistent history (``deployment_events``): deploy, edit, stop, start, undeploy, failed, and
every status change, with who and when. Written in the same transaction as the change it records, beside its
audit record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from modelreg.auth import context
from modelreg.db.tables import NAME_LENGTH, deployment_events
from modelreg.services import clock

EVENTS = ("deploy", "edit", "stop", "start", "undeploy", "failed", "status")
_e = deployment_events.c


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    deployment_id: int
    model_version_id: int | None
    event: str
    status: str | None
    message: str | None
    actor: str
    time: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "deploymentId": str(self.deployment_id),
            "modelVersionId": None if self.model_version_id is None else str(self.model_version_id),
            "event": self.event,
            "status": self.status,
            "message": self.message,
            "actor": self.actor,
            "timeSinceEpoch": str(self.time),
        }


def record(
    conn: Connection,
    deployment_id: int,
    model_version_id: int | None,
    event: str,
    *,
    status: str | None = None,
    message: str | None = None,
) -> None:
    """Append one event by the current caller (a user, or ``system:deploy-watch`` for status changes)."""
    assert event in EVENTS, event
    conn.execute(
        insert(deployment_events).values(
            deployment_id=deployment_id,
            model_version_id=model_version_id,
            event=event,
            status=status,
            message=message,
            actor=context.current().principal.user[:NAME_LENGTH],
            time=clock.now_ms(),
        )
    )


def events(
    conn: Connection, *, deployment_id: int | None = None, model_version_id: int | None = None, limit: int = 500
) -> list[Event]:
    """Newest first."""
    query = select(deployment_events).order_by(_e.id.desc()).limit(limit)
    if deployment_id is not None:
        query = query.where(_e.deployment_id == deployment_id)
    if model_version_id is not None:
        query = query.where(_e.model_version_id == model_version_id)
    return [Event(**row) for row in conn.execute(query).mappings()]


_HIDDEN = ("args", "env")  # their values may hold anything: the history says that they changed, not to what


def describe_changes(diff: Mapping[str, tuple[Any, Any]]) -> str:
    """An edit's event message: ``replicas: 1 → 3; env changed``."""
    parts = []
    for key, (old, new) in diff.items():
        if key in _HIDDEN:
            parts.append(f"{key} changed")
        else:
            parts.append(f"{key}: {_shown(old)} → {_shown(new)}")
    return "; ".join(parts)


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    return str(value)
