"""modelreg's own deployment targets in table ``deploy_targets``: one row per (kind, name) holding the Kubernetes
object as JSON (a HardwareProfile, or a Template wrapping a ServingRuntime). Each write stages its audit record in
its transaction; the unique (kind, name) constraint turns a concurrent duplicate into a 409."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import NAME_LENGTH, deploy_targets
from modelreg.errors import Conflict, NotFound
from modelreg.services import audit, clock

_c = deploy_targets.c
AuditView = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: int
    name: str
    body: dict[str, Any]
    created_by: str | None
    create_time: int
    last_update_time: int


def _row(row: Any) -> TargetRow:
    return TargetRow(
        id=row["id"],
        name=row["name"],
        body=orjson.loads(row["body"]),
        created_by=row["created_by"],
        create_time=row["create_time"],
        last_update_time=row["last_update_time"],
    )


class TargetRows:
    """The rows of one kind (``hardware_profile`` or ``serving_runtime``), audited as ``entity_kind``; ``view``
    turns a stored object into what an audit record shows."""

    def __init__(self, db: Database, kind: str, label: str, view: AuditView) -> None:
        self.db = db
        self.kind = kind
        self.label = label  # "hardware profile", for messages
        self.view = view

    def all(self) -> list[TargetRow]:
        with self.db.read() as conn:
            rows = conn.execute(select(deploy_targets).where(_c.kind == self.kind).order_by(_c.name)).mappings()
            return [_row(r) for r in rows]

    def names(self) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(select(_c.name).where(_c.kind == self.kind).order_by(_c.name)).scalars())

    def get(self, name: str) -> TargetRow | None:
        with self.db.read() as conn:
            found = self._find(conn, name)
        return None if found is None else _row(found)

    def _find(self, conn: Connection, name: str) -> Any:
        query = select(deploy_targets).where(_c.kind == self.kind, _c.name == name)
        return conn.execute(query).mappings().first()

    def create(
        self, name: str, display_name: str | None, description: str | None, body: Mapping[str, Any]
    ) -> TargetRow:
        actor = context.current().principal.user
        now = clock.now_ms()
        values = {
            "kind": self.kind,
            "name": name,
            "display_name": display_name and display_name[:NAME_LENGTH],
            "description": description,
            "body": orjson.dumps(body).decode(),
            "created_by": actor[:NAME_LENGTH],
            "create_time": now,
            "last_update_time": now,
        }

        def run(conn: Connection) -> TargetRow:
            if self._find(conn, name) is not None:
                raise Conflict(f"a {self.label} named {name!r} already exists")
            values["id"] = repository.insert_row(conn, deploy_targets, values)
            created = _row(values)
            audit.stage(conn, "create", self.kind, created.id, name, None, self.view(created.body))
            return created

        try:
            return self.db.run_write(run)
        except IntegrityError:
            raise Conflict(f"a {self.label} named {name!r} already exists") from None

    def replace(
        self, name: str, display_name: str | None, description: str | None, body: Mapping[str, Any]
    ) -> TargetRow:
        def run(conn: Connection) -> TargetRow:
            found = self._find(conn, name)
            if found is None:
                raise NotFound(f"no {self.label} named {name!r}")
            before = _row(found)
            now = clock.now_ms()
            values = {
                "display_name": display_name and display_name[:NAME_LENGTH],
                "description": description,
                "body": orjson.dumps(body).decode(),
                "last_update_time": now,
            }
            conn.execute(update(deploy_targets).where(_c.id == before.id).values(**values))
            after = TargetRow(before.id, name, dict(body), before.created_by, before.create_time, now)
            audit.stage(conn, "update", self.kind, before.id, name, self.view(before.body), self.view(after.body))
            return after

        return self.db.run_write(run)

    def delete(self, name: str) -> TargetRow:
        def run(conn: Connection) -> TargetRow:
            found = self._find(conn, name)
            if found is None:
                raise NotFound(f"no {self.label} named {name!r}")
            gone = _row(found)
            conn.execute(delete(deploy_targets).where(_c.id == gone.id))
            audit.stage(conn, "delete", self.kind, gone.id, name, self.view(gone.body), None)
            return gone

        return self.db.run_write(run)
