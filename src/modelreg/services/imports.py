"""The rules of an imported write: an entity created or updated with the source's creation time, author and
lifecycle stage kept, audited as the current caller (the importing user, whose context names the source).

The values are database columns, converted by the caller (``importers/writer.py``, with ``wire.py`` as the REST
routers do); parents are modelreg ids the caller resolved. Rows go through ``entities.create`` / ``apply_update``
like every other registry write (name rules, audit records). What differs from the REST API, deliberately:
- the source's times are kept (``create_time``/``last_update_time`` written after the insert: times are not
  audited fields);
- a version may arrive in any stage: its create record is followed by a ``promote`` record naming the stage (the
  stage policy does not apply: the version entered that stage at the source, under the source's rules; so only
  an admin, whom the policy would not stop, imports a stage past the first);
- the state is the source's, ARCHIVED included (the archive permission, as anywhere), entity by entity: archiving
  an imported model does not cascade, its versions bring their own state;
- a run's metric history is written as the source kept it (a metric artifact does not append to it);
- every entity carries ``modelreg.import.source`` = ``<source>#<kind>/<source id>`` (``Imported.provenance``).
The caller's ``record(conn, id)`` runs inside the same transaction (the import ledger), so an interrupted import
never leaves an entity the ledger does not know. Several entities may share a transaction (``ImportService.batch``):
they commit together, or none does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission, Role
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import artifact_attributions, experiment_runs, metric_history, model_versions
from modelreg.errors import Forbidden, InvalidInput, NotFound
from modelreg.services import audit, clock, lifecycle, properties
from modelreg.services import entities as e
from modelreg.services.entities import Kind
from modelreg.services.properties import PropValue
from modelreg.stages import INITIAL_STAGE, LIFECYCLE_PROPERTY, STAGES

PROVENANCE_PROPERTY = "modelreg.import.source"
KINDS: Mapping[str, Kind] = {kind.audit_name: kind for kind in e.ENTITY_KINDS}
# The column each parent fills, per kind; an artifact's parents are links instead (``_artifact_links``).
_PARENT_COLUMNS: Mapping[str, Mapping[str, str]] = {
    "model_version": {"registered_model": "registered_model_id"},
    "experiment_run": {"experiment": "experiment_id"},
    "inference_service": {
        "serving_environment": "serving_environment_id",
        "registered_model": "registered_model_id",
        "model_version": "model_version_id",
    },
    "serve_model": {"inference_service": "inference_service_id", "model_version": "model_version_id"},
}
_OWNER_COLUMN = {"model_version": "parent_model_version_id", "experiment_run": "parent_experiment_run_id"}
_HISTORY_KEY = ("name", "number_value", "timestamp", "step")
Recorder = Callable[[Connection, int], None]
T = TypeVar("T")


class Gone(NotFound):
    """The entity an update was for is no longer here (deleted since it was imported)."""


@dataclass(frozen=True)
class HistoryEntry:
    """One logged value of a run's metric: ``metric_history`` columns (``name``, ``number_value``, ``timestamp``,
    ``step``, optionally ``description``, ``uri``, ``state``) and custom properties."""

    values: Mapping[str, Any]
    props: Mapping[str, PropValue]
    create_time: int | None = None


@dataclass(frozen=True)
class Imported:
    """One entity to write, as database columns (parent ids left out: ``parents`` gives them)."""

    kind: str  # the audit name: registered_model, model_version, artifact (``values["artifact_type"]``), ...
    values: Mapping[str, Any]
    props: Mapping[str, PropValue]
    provenance: str
    parents: Sequence[tuple[str, int]] = ()  # (kind, modelreg id)
    create_time: int | None = None  # None: now
    update_time: int | None = None  # None: the create time
    stage: str | None = None  # a version's stage; None: as it is (a new version: never set, the first stage)
    metric_history: Sequence[HistoryEntry] = ()  # an experiment run's, complete

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"cannot import a {self.kind!r}")
        if self.stage is not None and (self.kind != "model_version" or self.stage not in STAGES):
            raise InvalidInput(f"invalid stage {self.stage!r} for a {self.kind}: one of {', '.join(STAGES)}")


class ImportService:
    """Imported writes, several to a transaction (``batch``: on a server database the commit costs as much as an
    entity's writes); each needs the write permission (archived entities: the archive one)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def batch(self, fn: Callable[[Batch], T]) -> T:
        """``fn``'s writes in one write transaction: they commit together, or an error from any of them rolls all
        back (audit records with them). Retried whole after a deadlock, so ``fn`` starts from scratch each call."""

        def run(conn: Connection) -> T:
            batch = Batch(conn)
            done = fn(batch)
            batch.finish()
            return done

        return self.db.run_write(run)


class Batch:
    """Imported writes on one write transaction (``ImportService.batch``). After an error the transaction is for
    rolling back only: PostgreSQL refuses every statement after a failed one, and the failed write may have
    written part of its entity."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._times: dict[Table, list[dict[str, Any]]] = {}  # the source's times, written by ``finish``

    def finish(self) -> None:
        """Write the source's times of every entity written, one statement per table (``executemany``: on a server
        database, a round trip for all instead of one per entity). Times are in no audit record nor rule."""
        for table, rows in self._times.items():
            self.conn.execute(_set_times(table), rows)
        self._times.clear()

    def create(self, item: Imported, record: Recorder) -> int:
        """Create the entity; returns its id."""
        context.require(Permission.WRITE, "import into the registry")
        _require_stage(item.stage)
        kind = KINDS[item.kind]
        values = {**item.values, **_parent_columns(item)}
        props = _with_provenance(item)
        with _conflicts(kind, item):
            if kind is e.ARTIFACT:
                id_ = _create_artifact(self.conn, values, props, item.parents)
            else:
                id_ = _create_entity(self.conn, kind, values, props, item.stage)
            if kind is e.EXPERIMENT_RUN:
                _write_history(self.conn, id_, values["experiment_id"], item.metric_history)
            self._keep_times(kind, id_, item)
            record(self.conn, id_)
        return id_

    def update(self, id_: int, item: Imported, record: Recorder) -> None:
        """Bring the entity to what the source now says (merge-update, the custom properties replaced); ``Gone``
        (before writing anything) when it was deleted here since."""
        context.require(Permission.WRITE, "import into the registry")
        kind, conn = KINDS[item.kind], self.conn
        current = repository.get_row(conn, kind.table, id_)
        if current is None:
            raise Gone(f"no {kind.label} found for id {id_}")
        values = {**item.values, **_parent_columns(item)}
        props = _with_provenance(item)
        stage = (current["stage"] or INITIAL_STAGE) if kind is e.MODEL_VERSION else None
        if item.stage is not None and item.stage == stage:
            props[LIFECYCLE_PROPERTY] = PropValue("string", stage)  # kept (and written, if never set)
        with _conflicts(kind, item):
            if kind is e.ARTIFACT:
                values.pop("artifact_type", None)  # immutable; the same source entity cannot change it
                values.update(_run_columns(conn, item.parents))
            e.apply_update(conn, kind, current, values, props)
            if item.stage is not None and stage is not None and item.stage != stage:
                _require_stage(item.stage)
                _set_stage(conn, id_, current["name"], stage, item.stage)
            if kind is e.ARTIFACT:
                _link(conn, id_, item.parents)
            if kind is e.EXPERIMENT_RUN:
                _sync_history(conn, id_, current["experiment_id"], item.metric_history)
            self._keep_times(kind, id_, item)
            record(conn, id_)

    def _keep_times(self, kind: Kind, id_: int, item: Imported) -> None:
        if item.create_time is None and item.update_time is None:
            return
        row = repository.get_row(self.conn, kind.table, id_) if item.create_time is None else None
        created = item.create_time if row is None else row["create_time"]
        updated = item.update_time or created
        self._times.setdefault(kind.table, []).append({"_id": id_, "_created": created, "_updated": updated})


@contextmanager
def _conflicts(kind: Kind, item: Imported) -> Iterator[None]:
    """A unique key or foreign key the write collided with, as the error naming it."""
    try:
        yield
    except IntegrityError as exc:
        raise e.conflict(kind, exc, item.values) from None


def _require_stage(stage: str | None) -> None:
    """Setting a stage without the policy is for admins (the CLI's user is one): the policy would ask no more."""
    if stage in (None, INITIAL_STAGE):
        return
    principal = context.require(Permission.PROMOTE, f"import a version in stage {stage!r}")
    if not principal.has_role([Role.ADMIN]):
        raise Forbidden(f"user {principal.user!r} is no admin: only admins import versions in a stage past the first")


def _parent_columns(item: Imported) -> dict[str, Any]:
    columns = _PARENT_COLUMNS.get(item.kind, {})
    out: dict[str, Any] = {}
    for parent_kind, parent_id in item.parents:
        if parent_kind in columns:
            out[columns[parent_kind]] = parent_id
        elif item.kind != "artifact" or parent_kind not in _OWNER_COLUMN:
            raise InvalidInput(f"a {parent_kind} cannot be the parent of a {item.kind}")
    return out


def _create_entity(
    conn: Connection, kind: Kind, values: dict[str, Any], props: dict[str, PropValue], stage: str | None
) -> int:
    if stage == INITIAL_STAGE:  # written, so read back, as a client may write it
        props[LIFECYCLE_PROPERTY] = PropValue("string", INITIAL_STAGE)
    created = e.create(conn, kind, values, props, values.get(kind.parent_column) if kind.parent_column else None)
    id_ = int(created.row["id"])
    if stage not in (None, INITIAL_STAGE):
        _set_stage(conn, id_, created.row["name"], INITIAL_STAGE, stage)
    return id_


def _with_provenance(item: Imported) -> dict[str, PropValue]:
    return {**item.props, PROVENANCE_PROPERTY: PropValue("string", item.provenance)}


@cache
def _set_times(table: Table) -> Update:
    """Built once per table: the statement every imported entity runs."""
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(create_time=bindparam("_created"), last_update_time=bindparam("_updated"))
    )


def _set_stage(conn: Connection, id_: int, name: str, old: str, new: str) -> None:
    """The stage the version is in at the source, audited as the promotion it is here (``lifecycle._set_stage``
    without the policy: the version entered the stage under the source's rules)."""
    repository.update_row(conn, model_versions, id_, {"stage": new})
    action, kind = lifecycle.AUDIT_ACTION, e.MODEL_VERSION.audit_name
    audit.stage(conn, action, kind, id_, name, {LIFECYCLE_PROPERTY: old}, {LIFECYCLE_PROPERTY: new})


# --- artifacts -------------------------------------------------------------------------------------------------


def _create_artifact(
    conn: Connection, values: dict[str, Any], props: Mapping[str, PropValue], parents: Sequence[tuple[str, int]]
) -> int:
    """The artifact, owned by its model version (or else its run) when it has exactly one, so its name is scoped as
    the REST API scopes it; standalone (the upstream client's shared artifacts) when it has several or none. Linked
    to every parent; an experiment run parent also sets its experiment columns, as linking one through the REST API
    does."""
    row = {**values, **_run_columns(conn, parents)}
    if row.get("artifact_type") == "parameter":
        row.setdefault("parameter_type", "string")
    versions = [id_ for kind, id_ in parents if kind == "model_version"]
    runs = [id_ for kind, id_ in parents if kind == "experiment_run"]
    owner = ("model_version", versions) if versions else ("experiment_run", runs)
    scope = owner[1][0] if len(owner[1]) == 1 else None
    if scope is not None:
        row[_OWNER_COLUMN[owner[0]]] = scope
    id_ = int(e.create(conn, e.ARTIFACT, row, props, scope).row["id"])
    _link(conn, id_, parents, new=True)
    return id_


def _run_columns(conn: Connection, parents: Sequence[tuple[str, int]]) -> dict[str, Any]:
    run_id = next((id_ for kind, id_ in parents if kind == "experiment_run"), None)
    if run_id is None:
        return {}
    run = repository.get_row(conn, experiment_runs, run_id)
    if run is None:
        raise NotFound(f"no experiment run found for id {run_id}")
    return {"experiment_id": run["experiment_id"], "experiment_run_id": run_id}


def _link(conn: Connection, artifact_id: int, parents: Sequence[tuple[str, int]], *, new: bool = False) -> None:
    """Link the artifact to each parent it is not linked to yet (links are only added: the REST API removes none);
    ``new``: it was just created, so it has no links to read."""
    a = artifact_attributions.c
    linked = () if new else conn.execute(select(a.parent_kind, a.parent_id).where(a.artifact_id == artifact_id))
    existing = {(kind, id_) for kind, id_ in linked}
    rows = [
        {"parent_kind": kind, "parent_id": id_, "artifact_id": artifact_id}
        for kind, id_ in dict.fromkeys(parents)
        if (kind, id_) not in existing
    ]
    if rows:
        conn.execute(insert(artifact_attributions), rows)


# --- metric history --------------------------------------------------------------------------------------------


def _history_key(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(column) for column in _HISTORY_KEY)


def _history(conn: Connection, run_id: int) -> list[tuple[Any, ...]]:
    h = metric_history.c
    query = select(*(h[c] for c in _HISTORY_KEY)).where(h.experiment_run_id == run_id).order_by(h.id)
    return [tuple(row) for row in conn.execute(query)]


def _sync_history(conn: Connection, run_id: int, experiment_id: int, entries: Sequence[HistoryEntry]) -> None:
    """Rewrite the run's history when the source's differs (a value logged since, most often)."""
    if _history(conn, run_id) != [_history_key(entry.values) for entry in entries]:
        _clear_history(conn, run_id)
        _write_history(conn, run_id, experiment_id, entries)


def _clear_history(conn: Connection, run_id: int) -> None:
    h = metric_history.c
    ids = [int(row[0]) for row in conn.execute(select(h.id).where(h.experiment_run_id == run_id))]
    properties.delete_all(conn, metric_history.name, ids)
    conn.execute(delete(metric_history).where(h.experiment_run_id == run_id))


def _write_history(conn: Connection, run_id: int, experiment_id: int, entries: Sequence[HistoryEntry]) -> None:
    for entry in entries:
        at = entry.create_time or clock.now_ms()
        row = {
            "state": "UNKNOWN",
            **entry.values,
            "experiment_run_id": run_id,
            "experiment_id": experiment_id,
            "create_time": at,
            "last_update_time": at,
        }
        history_id = repository.insert_row(conn, metric_history, row)
        properties.add(conn, metric_history.name, history_id, entry.props)
