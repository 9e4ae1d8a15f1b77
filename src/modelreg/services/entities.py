"""What every registry entity shares: creation with name scoping, loading with custom properties, merge-updates,
filtered keyset listing and find-by-name. ``registry.py`` and ``experiments.py`` add each entity's own rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Table
from sqlalchemy.exc import IntegrityError

from modelreg import filterquery
from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db import repository, tables
from modelreg.db.pagination import PageRequest
from modelreg.db.repository import MAX_ID, AnyRow
from modelreg.db.tables import NAME_LENGTH
from modelreg.errors import Conflict, Forbidden, InvalidInput, MissingField, NotFound
from modelreg.services import audit, clock, properties
from modelreg.services.properties import PropValue
from modelreg.stages import INITIAL_STAGE, LIFECYCLE_PROPERTY

_UUID_SCOPE_LENGTH = 36  # standalone artifacts: the reference scopes their names with a random UUID
_INITIAL = PropValue("string", INITIAL_STAGE)
_LIFECYCLE_MANAGED = (
    f"the {LIFECYCLE_PROPERTY!r} custom property is managed by the governance API: move the version between "
    "stages with POST /api/governance/v1/model_versions/{id}/promote (or 'modelreg promote')"
)
_LIFECYCLE_RESERVED = (
    f"the {LIFECYCLE_PROPERTY!r} custom property is reserved for the stage of model versions, which only the "
    "governance API changes: a {kind} cannot carry one"
)


@dataclass(frozen=True, eq=False)
class Kind:
    table: Table
    label: str  # as in messages: "registered model"
    target: filterquery.Target
    parent_column: str | None = None  # the column that scopes the name, if any
    defaults: Mapping[str, Any] = field(default_factory=dict)
    generated_name: bool = False  # a missing name becomes a UUID
    id_sequence: Table | None = None  # a table whose autoincrement ids this kind shares with other kinds
    hides_archived: bool = False  # lists leave archived entities out unless the filter asks about ``state``

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def audit_name(self) -> str:
        """How audit records name the kind: ``registered_model``."""
        return self.label.replace(" ", "_")


class Record(NamedTuple):
    table: str  # the entity's table name (``Kind.name``), which ``wire.to_wire`` is keyed by
    row: AnyRow
    props: dict[str, PropValue]


REGISTERED_MODEL = Kind(
    tables.registered_models,
    "registered model",
    filterquery.REGISTERED_MODEL,
    defaults={"state": "LIVE"},
    hides_archived=True,
)
MODEL_VERSION = Kind(
    tables.model_versions,
    "model version",
    filterquery.MODEL_VERSION,
    "registered_model_id",
    defaults={"state": "LIVE"},
    hides_archived=True,
)
SERVING_ENVIRONMENT = Kind(tables.serving_environments, "serving environment", filterquery.SERVING_ENVIRONMENT)
INFERENCE_SERVICE = Kind(
    tables.inference_services,
    "inference service",
    filterquery.INFERENCE_SERVICE,
    "serving_environment_id",
    defaults={"desired_state": "DEPLOYED"},
    generated_name=True,
)
SERVE_MODEL = Kind(
    tables.serve_models,
    "serve model",
    filterquery.SERVE_MODEL,
    "inference_service_id",
    defaults={"last_known_state": "UNKNOWN"},
    generated_name=True,
)
EXPERIMENT = Kind(
    tables.experiments,
    "experiment",
    filterquery.EXPERIMENT,
    defaults={"state": "LIVE"},
    id_sequence=tables.experiment_ids,
)
EXPERIMENT_RUN = Kind(
    tables.experiment_runs,
    "experiment run",
    filterquery.EXPERIMENT_RUN,
    "experiment_id",
    defaults={"state": "LIVE", "status": "RUNNING"},
    generated_name=True,
    id_sequence=tables.experiment_ids,
)
ARTIFACT = Kind(tables.artifacts, "artifact", filterquery.ARTIFACT, defaults={"state": "UNKNOWN"}, generated_name=True)
METRIC_HISTORY = Kind(tables.metric_history, "metric", filterquery.METRIC_HISTORY)
# The registry's entities, parents before children (a metric's history is part of its run).
ENTITY_KINDS = (
    EXPERIMENT,
    EXPERIMENT_RUN,
    REGISTERED_MODEL,
    MODEL_VERSION,
    ARTIFACT,
    SERVING_ENVIRONMENT,
    INFERENCE_SERVICE,
    SERVE_MODEL,
)


def check_name(kind: Kind, name: str, scope: int | None) -> None:
    """Names count against 255 characters the way the reference stores them: prefixed with ``<parentId>:``."""
    if not name:
        raise MissingField("required field 'name' is zero value.")
    if scope is not None:
        prefix = len(str(scope)) + 1
    elif kind is ARTIFACT:  # standalone artifacts: the reference prefixes a random UUID
        prefix = _UUID_SCOPE_LENGTH + 1
    else:
        prefix = 0
    if prefix + len(name) > NAME_LENGTH:
        raise InvalidInput(
            f"{kind.label} name is too long: {len(name)} characters, at most {NAME_LENGTH - prefix} allowed here"
        )


def create(
    conn: Connection, kind: Kind, values: dict[str, Any], props: Mapping[str, PropValue], scope: int | None = None
) -> Record:
    """Insert a new entity; the returned record is built from what was written, without reading it back."""
    row = {**kind.defaults, **values}
    if kind.generated_name and not row.get("name"):
        row["name"] = str(uuid.uuid4())
    check_name(kind, row.get("name") or "", scope)
    if kind is MODEL_VERSION:
        props, row["stage"] = _initial_lifecycle(props)
    else:
        _no_lifecycle(kind, props, {})
    if row.get("state") == "ARCHIVED":  # born archived: the same permission as archiving
        context.require(Permission.ARCHIVE, f"create an archived {kind.label}")
    row["create_time"] = row["last_update_time"] = clock.now_ms()
    if kind.id_sequence is not None:
        row["id"] = repository.insert_row(conn, kind.id_sequence, {})
    row["id"] = repository.insert_row(conn, kind.table, row)
    properties.add(conn, kind.name, row["id"], props)
    audit.stage(conn, "create", kind.audit_name, row["id"], row["name"], None, audit.snapshot(row, props))
    return _record(kind, _full_row(kind, row), dict(props))


@cache
def _empty_row(kind: Kind) -> dict[str, Any]:
    return {column.name: None for column in kind.table.c}


def _full_row(kind: Kind, values: dict[str, Any]) -> dict[str, Any]:
    return {**_empty_row(kind), **values}


def apply_update(
    conn: Connection, kind: Kind, current: AnyRow, values: dict[str, Any], props: Mapping[str, PropValue] | None
) -> str:
    """Merge-update: absent fields keep their value; ``props`` (if given) replaces the whole custom property map.

    Returns the audited action: a change of ``state`` to or from ``ARCHIVED`` is an archive or a restore, which
    needs the archive permission whichever API asks for it."""
    values = {k: v for k, v in values.items() if k not in ("id", "name", "create_time")}
    action = "update"
    state = values.get("state")
    if state is not None and state != current.get("state") and "ARCHIVED" in (state, current.get("state")):
        action = "archive" if state == "ARCHIVED" else "restore"
        context.require(Permission.ARCHIVE, f"{action} this {kind.label}")
    old_props = None
    if props is not None:
        old_props = properties.load(conn, kind.name, [current["id"]])[current["id"]]
        if kind is MODEL_VERSION:
            props, stage = _kept_lifecycle(current["stage"], props)
            if stage is not None and current["stage"] is None:
                values["stage"] = stage  # the client wrote the stage it is in: from now on it reads it back
        else:
            _no_lifecycle(kind, props, old_props)
    values["last_update_time"] = clock.now_ms(at_least=current["last_update_time"] + 1)
    repository.update_row(conn, kind.table, current["id"], values)
    if props is not None:
        properties.replace(conn, kind.name, current["id"], props)
    before, after = audit.diff(current, values, old_props, props)
    if before or after:  # a PATCH that changes nothing leaves no record
        audit.stage(conn, action, kind.audit_name, current["id"], current.get("name"), before, after)
    return action


def _initial_lifecycle(props: Mapping[str, PropValue]) -> tuple[Mapping[str, PropValue], str | None]:
    """New versions start in the first stage, with no stage set (``stage`` NULL): they show no ``Lifecycle``
    property, so a client reads back exactly the properties it wrote. A client may write the first stage (then
    it is set, and read back), but cannot start elsewhere. Returns the other properties and the stage to store."""
    given = props.get(LIFECYCLE_PROPERTY)
    if given is None:
        return props, None
    if given != _INITIAL:
        raise Forbidden(_LIFECYCLE_MANAGED)
    return {k: v for k, v in props.items() if k != LIFECYCLE_PROPERTY}, INITIAL_STAGE


def _kept_lifecycle(stage: str | None, new: Mapping[str, PropValue]) -> tuple[Mapping[str, PropValue], str | None]:
    """A PATCH that omits ``Lifecycle`` keeps the stage; one that names the stage the version is in (a never-set
    stage is the first one) is accepted, one that changes it refused. Returns the other properties and the stage
    the client named (``None`` if it named none)."""
    given = new.get(LIFECYCLE_PROPERTY)
    if given is None:
        return new, None
    if given != PropValue("string", stage or INITIAL_STAGE):
        raise Forbidden(_LIFECYCLE_MANAGED)
    return {k: v for k, v in new.items() if k != LIFECYCLE_PROPERTY}, stage or INITIAL_STAGE


def _no_lifecycle(kind: Kind, new: Mapping[str, PropValue], stored: Mapping[str, PropValue]) -> None:
    """Only versions have a stage. Elsewhere a ``Lifecycle`` property would pass for one (the bridge reads a
    version's, then its model's; people read it on any entity), so nobody writes it, admins included: stages move
    through the governance API's policy, never around it. A value stored before this rule may be sent back
    unchanged (the upstream client PATCHes the whole map) or dropped."""
    given = new.get(LIFECYCLE_PROPERTY)
    if given is not None and given != stored.get(LIFECYCLE_PROPERTY):
        raise Forbidden(_LIFECYCLE_RESERVED.format(kind=kind.label))


def _record(kind: Kind, row: AnyRow, props: dict[str, PropValue]) -> Record:
    """A record as clients see it: a version's stage, once set (by governance, or written by the client), shows
    as its custom property ``Lifecycle``; a version whose stage was never set is in the first stage and shows none."""
    if kind is MODEL_VERSION and row["stage"] is not None:
        props[LIFECYCLE_PROPERTY] = PropValue("string", row["stage"])
    return Record(kind.name, row, props)


def load(conn: Connection, kind: Kind, id_: int) -> Record:
    """The entity with its custom properties, read by one statement."""
    found = repository.get_entity(conn, kind.table, id_)
    if found is None:
        raise NotFound(f"no {kind.label} found for id {id_}")
    return _record(kind, found.row, properties.typed(found.properties))


def select_records(
    conn: Connection,
    kind: Kind,
    where: Sequence[ColumnElement[bool]],
    order: Sequence[ColumnElement[Any]],
    limit: int,
) -> list[Record]:
    """The first ``limit`` entities matching ``where`` in ``order`` (which ends with the id), with their custom
    properties: one statement on a server database."""
    return _records(kind, repository.select_entities(conn, kind.table, where, order, limit))


def _records(kind: Kind, found: Iterable[repository.Entity]) -> list[Record]:
    return [_record(kind, entity.row, properties.typed(entity.properties)) for entity in found]


def list_page(
    conn: Connection,
    kind: Kind,
    page: PageRequest,
    filter_query: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    target: filterquery.Target | None = None,
) -> tuple[list[Record], str]:
    clauses = list(where)
    try:
        expr = filterquery.parse(filter_query) if filter_query is not None else None
        if expr is not None:
            clauses.append(filterquery.to_where(expr, target or kind.target))
    except filterquery.FilterError as exc:
        raise InvalidInput(str(exc)) from None
    if kind.hides_archived and not filterquery.mentions(expr, "state"):
        clauses.append(kind.table.c.state != "ARCHIVED")
    found, token = repository.list_page(conn, kind.table, clauses, page)
    return _records(kind, found), token


def name_or_external_id(table: Table, name: str | None, external_id: str | None) -> list[ColumnElement[bool]]:
    """The ``name``/``externalId`` narrowing of nested list endpoints: the name wins when both are given."""
    if name is not None:
        return [table.c.name == name]
    if external_id is not None:
        return [table.c.external_id == external_id]
    return []


def find_one(conn: Connection, kind: Kind, where: Sequence[ColumnElement[bool]], described: str) -> Record:
    return _only(kind, repository.find_entities(conn, kind.table, where), described)


def _only(kind: Kind, found: Sequence[repository.Entity], described: str) -> Record:
    if not found:
        raise NotFound(f"no {kind.label} found for {described}")
    if len(found) > 1:
        raise NotFound(f"multiple {kind.label}s found for {described}")
    return _records(kind, found)[0]


def find_by_name(
    conn: Connection, kind: Kind, name: str | None, external_id: str | None, parent_id: int | None = None
) -> Record:
    """Find-by-params: ``name`` (with the parent for scoped kinds) wins over ``externalId``, as in the reference."""
    if name is not None and (kind.parent_column is None or parent_id is not None):
        equal: dict[str, Any] = {"name": name}
        if kind.parent_column is not None:
            equal[kind.parent_column] = parent_id
        found = repository.find_entities_by(conn, kind.table, equal)
        return _only(kind, found, f"name={name!r}" + (f", parent id {parent_id}" if parent_id else ""))
    if external_id is not None:
        found = repository.find_entities_by(conn, kind.table, {"external_id": external_id})
        return _only(kind, found, f"externalId={external_id!r}")
    if kind.parent_column is None:
        raise InvalidInput("invalid parameters call, supply either name or externalId")
    raise InvalidInput("invalid parameters call, supply either (name and parentResourceId), or externalId")


def conflict(kind: Kind, exc: IntegrityError, values: Mapping[str, Any]) -> Conflict | NotFound:
    """Name the unique key an insert or update collided with."""
    text = str(exc.orig).lower()
    if "foreign key" in text:
        return NotFound(f"the parent of this {kind.label} does not exist")
    if "external_id" in text:
        return Conflict(f"{kind.label} with externalId {values.get('external_id')!r} already exists")
    return Conflict(f"{kind.label} with name {values.get('name')!r} already exists")


def parse_id(value: str | int | None, label: str) -> int:
    """Path and body ids are decimal strings; anything else names no entity."""
    try:
        id_ = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid {label} id {value!r}: must be a decimal integer") from None
    if id_ <= 0 or id_ > MAX_ID:
        raise NotFound(f"no {label} found for id {value}")
    return id_
