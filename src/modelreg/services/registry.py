"""The registry's rules: registered models, versions, artifacts and serving records.

Deviations from the reference server, all deliberate (see docs/decisions.md): parents are checked on create
(a version of a missing model is a 404, not an orphan), names are unique per parent for every artifact type,
PATCH never resets omitted fields to defaults, and find-by-name matches names exactly (no LIKE wildcards).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, exists, insert, select
from sqlalchemy.exc import IntegrityError

from modelreg import filterquery
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.db.tables import artifact_attributions, artifacts, metric_history
from modelreg.errors import Conflict, InvalidInput, NotFound
from modelreg.services import entities as e
from modelreg.services import properties
from modelreg.services.archive_cascade import cascade_to_versions
from modelreg.services.entities import Kind, Record
from modelreg.services.properties import PropValue
from modelreg.settings import LimitSettings

T = TypeVar("T")
Props = Mapping[str, PropValue]
# Which parent kind owns an artifact, by attribution kind.
_PARENT_COLUMN = {"model_version": "parent_model_version_id", "experiment_run": "parent_experiment_run_id"}


class RegistryService:
    """Entry point for every registry operation; each public method is one transaction."""

    def __init__(self, db: Database, limits: LimitSettings | None = None) -> None:
        self.db = db
        self.limits = limits or LimitSettings()  # request-size limits the API checks before calling in

    # --- plumbing ----------------------------------------------------------------------------------------------

    def write_entity(self, kind: Kind, values: Mapping[str, Any], fn: Callable[[Connection], T]) -> T:
        try:
            return self.db.run_write(fn)
        except IntegrityError as exc:
            raise e.conflict(kind, exc, values) from None

    def get(self, kind: Kind, id_: int) -> Record:
        with self.db.read() as conn:
            return e.load(conn, kind, id_)

    def create(self, kind: Kind, values: dict[str, Any], props: Props, scope: int | None = None) -> Record:
        def run(conn: Connection) -> Record:
            return e.create(conn, kind, values, props, scope)

        return self.write_entity(kind, values, run)

    def update(self, kind: Kind, id_: int, values: dict[str, Any], props: Props | None) -> Record:
        if kind is e.MODEL_VERSION and values.get("state") == "LIVE":
            values = {**values, "archived_with_model": None}  # restored on its own, no longer with its model

        def run(conn: Connection) -> Record:
            current = e.load(conn, kind, id_)
            action = e.apply_update(conn, kind, current.row, values, props)
            if kind is e.REGISTERED_MODEL and action in ("archive", "restore"):
                cascade_to_versions(conn, id_, action)
            return e.load(conn, kind, id_)

        return self.write_entity(kind, values, run)

    def list_entities(
        self,
        kind: Kind,
        page: PageRequest,
        filter_query: str | None = None,
        name: str | None = None,
        external_id: str | None = None,
        **equals: Any,
    ) -> tuple[list[Record], str]:
        """One page of ``kind``: the filterQuery, name or externalId, and ``column=value`` for each given ``equals``.
        (Not ``list``: inside the class that name would hide the builtin from every annotation below it.)"""
        where = [kind.table.c[col] == value for col, value in equals.items() if value is not None]
        where += e.name_or_external_id(kind.table, name, external_id)
        with self.db.read() as conn:
            return e.list_page(conn, kind, page, filter_query, where)

    def find(self, kind: Kind, name: str | None, external_id: str | None, parent_id: int | None = None) -> Record:
        with self.db.read() as conn:
            return e.find_by_name(conn, kind, name, external_id, parent_id)

    def _require(self, conn: Connection, kind: Kind, id_: int | None) -> None:
        if id_ is not None and not repository.exists(conn, kind.table, id_):
            raise NotFound(f"no {kind.label} found for id {id_}")

    # --- registered models and versions ------------------------------------------------------------------------

    def create_model_version(self, values: dict[str, Any], props: Props, version_id: int | None = None) -> Record:
        """Create a version; with ``version_id`` (a nested POST whose body has an id) update that version."""
        rm_id = values["registered_model_id"]
        if version_id is not None:
            owner = self.get(e.MODEL_VERSION, version_id).row["registered_model_id"]
            if owner != rm_id:  # an update through another model's path must not move the version
                raise InvalidInput(f"model version {version_id} belongs to registered model {owner}, not {rm_id}")
            values = {k: v for k, v in values.items() if k != "registered_model_id"}
            return self.update(e.MODEL_VERSION, version_id, values, props or None)

        def run(conn: Connection) -> Record:
            # The foreign key checks the parent: one statement less on the registration path.
            return e.create(conn, e.MODEL_VERSION, values, props, rm_id)

        try:
            return self.write_entity(e.MODEL_VERSION, values, run)
        except NotFound:
            raise NotFound(f"no registered model found for id {rm_id}") from None

    # --- serving -----------------------------------------------------------------------------------------------

    def create_inference_service(self, values: dict[str, Any], props: Props) -> Record:
        def run(conn: Connection) -> Record:
            self._require(conn, e.SERVING_ENVIRONMENT, values["serving_environment_id"])
            self._require(conn, e.REGISTERED_MODEL, values["registered_model_id"])
            self._require(conn, e.MODEL_VERSION, values.get("model_version_id"))
            return e.create(conn, e.INFERENCE_SERVICE, values, props, values["serving_environment_id"])

        return self.write_entity(e.INFERENCE_SERVICE, values, run)

    def update_inference_service(self, id_: int, values: dict[str, Any], props: Props | None) -> Record:
        def run(conn: Connection) -> Record:
            self._require(conn, e.MODEL_VERSION, values.get("model_version_id"))
            current = e.load(conn, e.INFERENCE_SERVICE, id_)
            e.apply_update(conn, e.INFERENCE_SERVICE, current.row, values, props)
            return e.load(conn, e.INFERENCE_SERVICE, id_)

        return self.write_entity(e.INFERENCE_SERVICE, values, run)

    def inference_service_version(self, id_: int) -> Record:
        """The version an inference service serves: its own, else the newest version of its model."""
        with self.db.read() as conn:
            service = e.load(conn, e.INFERENCE_SERVICE, id_)
            if service.row["model_version_id"] is not None:
                return e.load(conn, e.MODEL_VERSION, service.row["model_version_id"])
            mv = e.MODEL_VERSION.table.c
            newest = e.select_records(
                conn,
                e.MODEL_VERSION,
                [mv.registered_model_id == service.row["registered_model_id"]],
                [mv.create_time.desc(), mv.id.desc()],
                1,
            )
            if not newest:
                raise NotFound(f"no model version found for inference service {id_}")
            return newest[0]

    def create_serve_model(self, inference_service_id: int, values: dict[str, Any], props: Props) -> Record:
        values = {**values, "inference_service_id": inference_service_id}

        def run(conn: Connection) -> Record:
            self._require(conn, e.INFERENCE_SERVICE, inference_service_id)
            version = e.load(conn, e.MODEL_VERSION, values["model_version_id"])
            _refuse_gated(version.props)
            return e.create(conn, e.SERVE_MODEL, values, props, inference_service_id)

        return self.write_entity(e.SERVE_MODEL, values, run)

    # --- artifacts ---------------------------------------------------------------------------------------------

    def get_artifact(self, id_: int, artifact_type: str | None = None) -> Record:
        with self.db.read() as conn:
            record = e.load(conn, e.ARTIFACT, id_)
        if artifact_type is not None and record.row["artifact_type"] != artifact_type:
            raise NotFound(f"no {artifact_type} found for id {id_}")
        return record

    def create_artifact(self, artifact_type: str, values: dict[str, Any], props: Props) -> Record:
        """A standalone artifact (``POST /artifacts``, ``/model_artifacts``): no parent, names may repeat."""
        values = {**values, "artifact_type": artifact_type}
        return self.create(e.ARTIFACT, _artifact_defaults(artifact_type, values), props)

    def update_artifact(
        self,
        id_: int,
        artifact_type: str | None,
        values: dict[str, Any],
        props: Props | None,
        *,
        typed_endpoint: bool = False,
    ) -> Record:
        """PATCH an artifact. The type is immutable; a typed endpoint (``/model_artifacts``) 404s on other types."""

        def run(conn: Connection) -> Record:
            current = e.load(conn, e.ARTIFACT, id_)
            existing = current.row["artifact_type"]
            if typed_endpoint and existing != "model-artifact":
                raise NotFound(f"no model artifact found for id {id_}")
            if artifact_type is not None and artifact_type != existing:
                raise InvalidInput(
                    f"cannot change artifact type from '{existing}' to '{artifact_type}': artifact type is immutable"
                )
            e.apply_update(conn, e.ARTIFACT, current.row, values, props)
            return e.load(conn, e.ARTIFACT, id_)

        return self.write_entity(e.ARTIFACT, values, run)

    def upsert_artifact(
        self,
        parent_kind: str,
        parent_id: int,
        artifact_type: str,
        values: dict[str, Any],
        props: Props | None,
        artifact_id: int | None = None,
    ) -> tuple[Record, bool]:
        """Create or update an artifact under a model version or experiment run; returns (artifact, created).

        With ``artifact_id`` the existing artifact is updated and linked to this parent too (the upstream client
        registers a standalone artifact this way). Metrics and parameters are upserted by name under their parent;
        each metric logged to a run is also appended to the run's metric history.
        """
        parent_kind_def = e.MODEL_VERSION if parent_kind == "model_version" else e.EXPERIMENT_RUN

        def run(conn: Connection) -> tuple[Record, bool]:
            row_values = dict(values)
            if parent_kind == "experiment_run":
                run_row = repository.get_row(conn, parent_kind_def.table, parent_id)
                if run_row is None:
                    raise NotFound(f"no {parent_kind_def.label} found for id {parent_id}")
                row_values.update(experiment_id=run_row["experiment_id"], experiment_run_id=parent_id)
            elif not repository.exists(conn, parent_kind_def.table, parent_id):
                raise NotFound(f"no {parent_kind_def.label} found for id {parent_id}")
            target_id = artifact_id
            if target_id is None and artifact_type in ("metric", "parameter") and row_values.get("name"):
                target_id = _artifact_id_by_name(conn, parent_kind, parent_id, artifact_type, row_values["name"])
            created = target_id is None
            if target_id is None:
                record = create_linked_artifact(conn, parent_kind, parent_id, artifact_type, row_values, props or {})
            else:
                current = repository.get_row(conn, artifacts, target_id)
                if current is None or current["artifact_type"] != artifact_type:
                    raise InvalidInput(f"mismatched types, artifact with id {target_id} is not a {artifact_type}")
                e.apply_update(conn, e.ARTIFACT, current, row_values, props)
                if not _linked(conn, parent_kind, parent_id, target_id):
                    _link(conn, parent_kind, parent_id, target_id)
                record = e.load(conn, e.ARTIFACT, target_id)
            if parent_kind == "experiment_run" and artifact_type == "metric":
                _append_metric_history(conn, record)
            return record, created

        try:
            return self.write_entity(e.ARTIFACT, values, run)
        except Conflict:
            if artifact_id is not None or artifact_type not in ("metric", "parameter"):
                raise
            # Another request created this metric/parameter between our lookup and insert: now it is an update.
            return self.write_entity(e.ARTIFACT, values, run)

    def list_artifacts(
        self,
        page: PageRequest,
        filter_query: str | None = None,
        artifact_type: str | None = None,
        parent: tuple[str, int] | None = None,
        name: str | None = None,
        external_id: str | None = None,
    ) -> tuple[list[Record], str]:
        where = []
        if artifact_type is not None:
            where.append(artifacts.c.artifact_type == artifact_type)
        if parent is not None:
            a = artifact_attributions.c
            # IN, not a correlated EXISTS: SQLite ran the EXISTS for every artifact in id order (37 ms per version
            # page with 100,000 versions); IN starts from the parent's attributions (its index) instead.
            linked = select(a.artifact_id).where(a.parent_kind == parent[0], a.parent_id == parent[1])
            where.append(artifacts.c.id.in_(linked))
        where += e.name_or_external_id(artifacts, name, external_id)
        with self.db.read() as conn:
            return e.list_page(conn, e.ARTIFACT, page, filter_query, where, filterquery.artifact_target(artifact_type))

    def find_artifact(
        self, name: str | None, external_id: str | None, parent_id: int | None, artifact_type: str | None = None
    ) -> Record:
        c = artifacts.c
        with self.db.read() as conn:
            if name is not None and parent_id is not None:
                a = artifact_attributions.c
                linked = exists().where(
                    a.parent_id == parent_id,
                    a.artifact_id == c.id,
                    a.parent_kind.in_(("model_version", "experiment_run")),
                )
                record = e.find_one(conn, e.ARTIFACT, [c.name == name, linked], f"name={name!r}, parent id {parent_id}")
            elif external_id is not None:
                record = e.find_one(conn, e.ARTIFACT, [c.external_id == external_id], f"externalId={external_id!r}")
            else:
                raise InvalidInput("invalid parameters call, supply either (name and parentResourceId), or externalId")
        if artifact_type is not None and record.row["artifact_type"] != artifact_type:
            raise NotFound(f"no {artifact_type} found for the given parameters")
        return record


def create_linked_artifact(
    conn: Connection, parent_kind: str, parent_id: int, artifact_type: str, values: dict[str, Any], props: Props
) -> Record:
    """Insert an artifact owned by (and linked to) a model version or experiment run, inside the caller's
    transaction; the parent must exist."""
    row_values = {**values, "artifact_type": artifact_type, _PARENT_COLUMN[parent_kind]: parent_id}
    record = e.create(conn, e.ARTIFACT, _artifact_defaults(artifact_type, row_values), props, parent_id)
    _link(conn, parent_kind, parent_id, record.row["id"])
    return record


def _artifact_defaults(artifact_type: str, values: dict[str, Any]) -> dict[str, Any]:
    """A new artifact's values: a metric needs its value (as the reference server says), a parameter gets a type."""
    if artifact_type == "metric" and values.get("number_value") is None:
        raise InvalidInput("metric value is required")
    if artifact_type == "parameter" and "parameter_type" not in values:
        return {**values, "parameter_type": "string"}
    return values


def _artifact_id_by_name(
    conn: Connection, parent_kind: str, parent_id: int, artifact_type: str, name: str
) -> int | None:
    c = artifacts.c
    row = conn.execute(
        select(c.id).where(
            c[_PARENT_COLUMN[parent_kind]] == parent_id, c.artifact_type == artifact_type, c.name == name
        )
    ).first()
    return None if row is None else int(row[0])


def _linked(conn: Connection, parent_kind: str, parent_id: int, artifact_id: int) -> bool:
    a = artifact_attributions.c
    found = conn.execute(
        select(a.artifact_id).where(
            a.parent_kind == parent_kind, a.parent_id == parent_id, a.artifact_id == artifact_id
        )
    ).first()
    return found is not None


def _link(conn: Connection, parent_kind: str, parent_id: int, artifact_id: int) -> None:
    row = {"parent_kind": parent_kind, "parent_id": parent_id, "artifact_id": artifact_id}
    conn.execute(insert(artifact_attributions), row)


def _append_metric_history(conn: Connection, metric: Record) -> None:
    row = metric.row
    entry = {
        "experiment_run_id": row["experiment_run_id"],
        "experiment_id": row["experiment_id"],
        "name": row["name"],
        "description": row["description"],
        "external_id": None,
        "uri": row["uri"],
        "state": row["state"],
        "number_value": row["number_value"],
        "timestamp": row["timestamp"],
        "step": row["step"],
        "create_time": row["last_update_time"],
        "last_update_time": row["last_update_time"],
    }
    history_id = repository.insert_row(conn, metric_history, entry)
    properties.add(conn, metric_history.name, history_id, metric.props)


def _refuse_gated(props: Props) -> None:
    gated = props.get("hf_gated")
    if gated is not None and gated.type == "string" and gated.value not in ("false", ""):
        raise InvalidInput("cannot deploy gated HuggingFace model: accept its terms and register an ungated copy")
    private = props.get("hf_private")
    if private is not None and private.type == "string" and private.value == "true":
        raise InvalidInput("cannot deploy private HuggingFace model")
