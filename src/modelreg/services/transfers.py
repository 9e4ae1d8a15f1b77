"""Transfer jobs: copy a model's files from where they are (an S3 prefix, an http(s) URL, optionally a zip or tar, an
OCI image) into a destination connection (an OCI registry as a ModelCar, or S3), then register the result.

Why jobs and not uploads: the bytes never pass through the caller, they can take long, and the caller wants to see
progress, cancel and retry. The rules (this module): who may start one (``write``; ``update_artifact`` also needs
the artifact to exist and not be archived), validation before any byte moves (names free, connections exist and
answer, the destination writable), one job per name claimed through ``transfer_jobs.active_key``, the states
(PENDING → RUNNING → COMPLETED | FAILED | CANCELLED), and registration in one transaction at the end. The copying
itself is ``transfers/`` (the runner), in the server's worker (one per cluster, by lease) or in a Kubernetes Job.

Intents (the upstream async-upload job's): ``create_model`` (a new registered model, version and model artifact),
``create_version`` (a new version and artifact under an existing model), ``update_artifact`` (replace an existing
artifact's storage: it is PENDING while copying, LIVE with the new URI on success, back to its former state with the
error recorded on failure or cancel). Nothing is registered for the create intents until the copy succeeds. The
artifact records its job: ``modelSourceKind=transfer_job``, ``modelSourceClass=modelreg``, ``modelSourceGroup`` =
the namespace (or ``modelreg``), ``modelSourceName`` = the job's name, ``modelSourceId`` = the job's id.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.blobs.base import BlobNotFound, StoreConfig, StoredFile, join_key
from modelreg.blobs.oci import ImageRef, InvalidImageRef, OciStore, parse_image_ref, repository_for, tag_for
from modelreg.blobs.uris import InvalidUri, http_url_under
from modelreg.db.database import Database
from modelreg.db.repository import AnyRow
from modelreg.db.tables import NAME_LENGTH, transfer_jobs, upload_files, uploads
from modelreg.errors import Conflict, Forbidden, InvalidInput, MissingField, NotFound, RegistryError
from modelreg.services import audit, clock, properties
from modelreg.services import entities as e
from modelreg.services.connections import ConnectionService
from modelreg.services.properties import PropValue
from modelreg.services.registry import create_linked_artifact
from modelreg.services.secrets import SecretBox
from modelreg.services.store_faults import store_faults
from modelreg.services.uploads import FILES_PROPERTY, SHA256_PROPERTY, SIZE_PROPERTY, manifest_digest

log = logging.getLogger(__name__)

Intent = Literal["create_model", "create_version", "update_artifact"]
State = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
INTENTS = ("create_model", "create_version", "update_artifact")
STATES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
TERMINAL: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
SOURCE_TYPES = ("s3", "uri", "oci")
DESTINATION_TYPES = ("oci", "s3")
RUNNERS = ("server", "kubernetes")
ENTITY_KIND = "transfer_job"
RUNNER_USER_PREFIX = "system:transfer-"  # a Kubernetes runner's principal: this + the job's name
OCI_DIGEST_PROPERTY = "modelreg.oci.digest"
ERROR_PROPERTY = "modelreg.transfer.error"  # on an update_artifact's artifact whose copy failed or was cancelled
SOURCE_KIND = "transfer_job"
SOURCE_CLASS = "modelreg"
DEFAULT_VERSION = "1.0.0"  # the upstream job's default version name
MAX_LIST = 1000
_JOB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a Kubernetes name (DNS-1123 label)
_SLUG = re.compile(r"[^a-z0-9-]+")
_t = transfer_jobs.c
# Converts wire-form custom properties (``{"metadataType": …}``) to stored ones, within the server's limits: the
# wire layer's ``properties_to_db`` (services sit below it, so app.py hands it in).
PropertyCodec = Callable[[Mapping[str, Mapping[str, Any]]], dict[str, PropValue]]


@dataclass(frozen=True)
class Source:
    """Where the files are. Always through a data connection an admin created, so a job cannot make the server
    fetch anything else: ``s3`` (connection + ``key``: an object or a prefix), ``uri`` (an http(s) URL under a
    ``uri`` connection's base URL; ``.zip``/``.tar``/``.tar.gz`` are unpacked), ``oci`` (an image under an ``oci``
    connection's registry)."""

    type: str  # s3 | uri | oci
    connection: str
    key: str | None = None  # s3
    url: str | None = None  # uri
    image: str | None = None  # oci: oci://registry/repo:tag or @sha256:…

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Destination:
    """Where the files go: an ``oci`` connection (``repository`` under its prefix, default from the model's name;
    ``tag``, default from the version's name) or an ``s3`` connection (``key`` prefix, default
    ``<model>/<version>/<job id>``). A stored job has every default filled in."""

    type: str  # oci | s3
    connection: str
    repository: str | None = None
    tag: str | None = None
    key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Metadata:
    """What gets registered (the upstream job's metadata keys, in our names). Custom properties are typed
    Kubeflow wire values (``{"metadataType": "MetadataStringValue", "string_value": "x"}``) or plain JSON scalars
    (stored as the typed value of their JSON type)."""

    model_name: str | None = None
    model_id: int | None = None  # create_version (or model_name)
    artifact_id: int | None = None  # update_artifact
    model_description: str | None = None
    model_owner: str | None = None
    model_custom_properties: dict[str, Any] = field(default_factory=dict)
    version_name: str | None = None
    version_description: str | None = None
    version_author: str | None = None
    version_custom_properties: dict[str, Any] = field(default_factory=dict)
    artifact_name: str | None = None
    artifact_description: str | None = None
    model_format_name: str | None = None
    model_format_version: str | None = None
    artifact_custom_properties: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Metadata:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TransferJob:
    id: str
    name: str
    intent: str
    state: str
    runner: str  # server | kubernetes
    source: Source
    destination: Destination
    metadata: Metadata
    created_by: str
    create_time: int
    last_update_time: int
    display_name: str | None = None
    namespace: str | None = None
    registered_model_id: int | None = None
    model_version_id: int | None = None
    model_artifact_id: int | None = None
    result_uri: str | None = None
    result_digest: str | None = None
    bytes_total: int | None = None
    bytes_done: int = 0
    files_total: int | None = None
    files_done: int = 0
    error: str | None = None
    cause: str | None = None
    cancel_requested: bool = False
    attempt: int = 1
    retry_of: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    worker: str | None = None
    heartbeat_ms: int | None = None
    previous_artifact_state: str | None = None  # update_artifact: the state to go back to on failure

    @property
    def group(self) -> str:
        """``modelSourceGroup`` of what the job registers: its namespace, or ``modelreg`` in the server."""
        return self.namespace or "modelreg"

    def to_dict(self) -> dict[str, Any]:
        """The wire shape (camelCase, ids and times as strings, like the registry's)."""
        m = self.metadata

        def text(value: int | None) -> str | None:
            return None if value is None else str(value)

        return {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name or self.name,
            "intent": self.intent,
            "state": self.state,
            "runner": self.runner,
            "namespace": self.namespace,
            "source": self.source.to_dict(),
            "destination": self.destination.to_dict(),
            "registeredModel": {
                "id": text(self.registered_model_id or m.model_id),
                "name": m.model_name,
                "description": m.model_description,
                "owner": m.model_owner,
                "customProperties": m.model_custom_properties,
            },
            "modelVersion": {
                "id": text(self.model_version_id),
                "name": m.version_name,
                "description": m.version_description,
                "author": m.version_author,
                "customProperties": m.version_custom_properties,
            },
            "modelArtifact": {
                "id": text(self.model_artifact_id or m.artifact_id),
                "name": m.artifact_name,
                "description": m.artifact_description,
                "modelFormatName": m.model_format_name,
                "modelFormatVersion": m.model_format_version,
                "customProperties": m.artifact_custom_properties,
            },
            "progress": {
                "bytesDone": self.bytes_done,
                "bytesTotal": self.bytes_total,
                "filesDone": self.files_done,
                "filesTotal": self.files_total,
            },
            "uri": self.result_uri,
            "digest": self.result_digest,
            "error": self.error,
            "cause": self.cause,
            "cancelRequested": self.cancel_requested,
            "attempt": self.attempt,
            "retryOf": self.retry_of,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
            "lastUpdateTimeSinceEpoch": str(self.last_update_time),
            "startTimeSinceEpoch": text(self.start_time),
            "endTimeSinceEpoch": text(self.end_time),
        }


@dataclass(frozen=True)
class TransferResult:
    """What a runner reports when the copy succeeded: the artifact URI to record, the image (or manifest) digest,
    every file copied (path relative to the model root, size, sha256), and where it lies (connection, key: the S3
    key prefix, or the OCI repository)."""

    uri: str
    digest: str | None
    files: list[StoredFile]
    storage_key: str
    storage_path: str


def _job(row: AnyRow) -> TransferJob:
    values = {k: row[k] for k in TransferJob.__dataclass_fields__ if k in row and k not in _JSON_COLUMNS}
    meta = json.loads(row["metadata"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return TransferJob(
        **values,
        source=Source(**json.loads(row["source"])),
        destination=Destination(**json.loads(row["destination"])),
        metadata=Metadata.from_dict(meta),
        previous_artifact_state=meta.get("previous_artifact_state"),
    )


_JSON_COLUMNS = ("source", "destination", "metadata", "previous_artifact_state")


def _scalar_property(value: Any) -> Mapping[str, Any]:
    """A plain JSON scalar as the typed wire value of its JSON type; typed values pass through."""
    if isinstance(value, Mapping):
        return value
    typed = properties.typed_scalar(value)
    if typed is not None:
        return typed
    raise InvalidInput(f"invalid custom property value {str(value)[:80]!r}: a typed value or a JSON scalar")


def _slug(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:40].strip("-") or "model"


class TransferService:
    """The rules of transfer jobs (see the module docstring); the runners (``transfers/``) call the runner half."""

    def __init__(
        self,
        db: Database,
        connections: ConnectionService,
        secrets: SecretBox,
        *,
        kubernetes: bool = False,
        default_runner: str = "server",
        default_namespace: str | None = None,
        properties: PropertyCodec | None = None,
    ) -> None:
        """``kubernetes``: the server can run jobs as Kubernetes Jobs (a cluster and the executor's settings);
        ``default_runner``: what a request that names none gets. ``properties``: how wire-form custom properties
        are stored (``wire.properties_to_db`` within the limits); without it, only plain string values are
        accepted."""
        self.db = db
        self.connections = connections
        self.secrets = secrets
        self.kubernetes = kubernetes
        self.default_runner = default_runner if kubernetes else "server"
        self.default_namespace = default_namespace
        self.properties = properties or _strings_only

    # --- callers -----------------------------------------------------------------------------------------------

    def create(
        self,
        intent: str,
        source: Source,
        destination: Destination,
        metadata: Metadata,
        *,
        name: str | None = None,
        display_name: str | None = None,
        runner: str | None = None,
        namespace: str | None = None,
        retry_of: TransferJob | None = None,
    ) -> TransferJob:
        """Validate everything (fields, names free, connections exist and answer, source present, destination
        writable), claim ``active_key`` and store the job PENDING. ``update_artifact`` marks the artifact PENDING
        only when the copy starts. ``runner``: ``server``, or ``kubernetes`` (the default when configured)."""
        actor = context.require(Permission.WRITE, "start transfer jobs")
        if intent not in INTENTS:
            raise InvalidInput(f"invalid intent {intent!r}: one of {', '.join(INTENTS)}")
        runner = runner or self.default_runner
        if runner not in RUNNERS:
            raise InvalidInput(f"invalid runner {runner!r}: one of {', '.join(RUNNERS)}")
        if runner == "kubernetes" and not self.kubernetes:
            raise InvalidInput("runner 'kubernetes' needs a Kubernetes cluster configured on the server")
        namespace = (namespace or self.default_namespace) if runner == "kubernetes" else namespace
        if namespace is not None and not _JOB_NAME.match(namespace):
            raise InvalidInput(f"invalid namespace {namespace[:80]!r}: a Kubernetes name")
        if display_name is not None and not 0 < len(display_name) <= NAME_LENGTH:
            raise InvalidInput(f"invalid displayName: 1 to {NAME_LENGTH} characters")
        metadata = self._check_metadata(intent, metadata)
        with self.db.read() as conn:
            metadata, active_key = self._check_target(conn, intent, metadata)
        job_id = secrets.token_hex(16)
        name = self._check_name(name, metadata, job_id)
        source = self._check_source(source)
        destination = self._check_destination(destination, metadata, job_id)
        now = clock.now_ms()
        row: dict[str, Any] = {
            "id": job_id,
            "name": name,
            "display_name": display_name,
            "active_key": active_key,
            "intent": intent,
            "state": "PENDING",
            "runner": runner,
            "namespace": namespace,
            "source": json.dumps(source.to_dict()),
            "destination": json.dumps(destination.to_dict()),
            "metadata": json.dumps(metadata.to_dict()),
            "registered_model_id": metadata.model_id,
            "model_artifact_id": metadata.artifact_id,
            "cancel_requested": False,
            "attempt": 1 if retry_of is None else retry_of.attempt + 1,
            "retry_of": None if retry_of is None else retry_of.id,
            "created_by": actor.user[:NAME_LENGTH],
            "create_time": now,
            "last_update_time": now,
            "bytes_done": 0,
            "files_done": 0,
        }

        def insert(conn: Connection) -> None:
            conn.execute(transfer_jobs.insert().values(**row))
            view = {"intent": intent, "source": source.to_dict(), "destination": destination.to_dict()}
            audit.stage(conn, "create", ENTITY_KIND, None, name, None, view)

        try:
            self.db.run_write(insert)
        except IntegrityError:
            with self.db.read() as conn:
                if conn.execute(select(_t.id).where(_t.name == name)).first() is not None:
                    raise Conflict(f"a transfer job named {name!r} already exists") from None
            raise Conflict(f"another transfer job for {_target(intent, metadata)} is not finished yet") from None
        log.info("transfer job %s (%s) created by %s: %s", name, intent, actor.user, _target(intent, metadata))
        return self.get(job_id)

    def get(self, ref: str) -> TransferJob:
        """A job by id or name."""
        context.require(Permission.READ, "read transfer jobs")
        with self.db.read() as conn:
            return self._load(conn, ref)

    def list(self, *, state: str | None = None, limit: int = 100) -> list[TransferJob]:
        """Newest first."""
        context.require(Permission.READ, "list transfer jobs")
        if state is not None and state not in STATES:
            raise InvalidInput(f"invalid state {state!r}: one of {', '.join(STATES)}")
        if not 0 < limit <= MAX_LIST:
            raise InvalidInput(f"invalid limit {limit}: 1 to {MAX_LIST}")
        query = select(transfer_jobs).order_by(_t.create_time.desc(), _t.id.desc()).limit(limit)
        if state is not None:
            query = query.where(_t.state == state)
        with self.db.read() as conn:
            return [_job(row) for row in conn.execute(query).mappings().all()]

    def cancel(self, ref: str) -> TransferJob:
        """PENDING → CANCELLED now; RUNNING → ``cancel_requested`` (the runner stops at its next heartbeat and
        ends it with ``finish_cancelled``). Only its creator or an admin may."""
        job = self._owned(ref, "cancel")
        if job.state in TERMINAL:
            raise Conflict(f"transfer job {job.name!r} is {job.state} already")

        def run(conn: Connection) -> None:
            current = self._lock(conn, job.id)
            if current.state == "PENDING":
                self._end(conn, current, "CANCELLED", None, None)
            elif current.state == "RUNNING":
                self._set(conn, job.id, cancel_requested=True)
            audit.stage(conn, "cancel", ENTITY_KIND, None, job.name, {"state": current.state}, None)

        self.db.run_write(run)
        return self.get(job.id)

    def retry(self, ref: str) -> TransferJob:
        """A FAILED or CANCELLED job again, as a NEW job ``<name>-2``, ``-3``… with ``retry_of`` set, validated
        anew (the names must still be free). Only its creator or an admin may."""
        job = self._owned(ref, "retry")
        if job.state not in ("FAILED", "CANCELLED"):
            raise Conflict(f"transfer job {job.name!r} is {job.state}: only failed or cancelled jobs are retried")
        base = re.sub(r"-\d+$", "", job.name) if job.retry_of else job.name
        with self.db.read() as conn:
            taken = {n for (n,) in conn.execute(select(_t.name).where(_t.name.like(f"{base[:55]}%")))}
        number = 2
        while f"{base[:58]}-{number}" in taken:
            number += 1
        destination = job.destination
        if destination.type == "s3":  # a fresh key prefix: the failed attempt's leftovers are not mixed in
            destination = replace(destination, key=None)
        return self.create(
            job.intent,
            job.source,
            destination,
            job.metadata,
            name=f"{base[:58]}-{number}",
            display_name=job.display_name,
            runner=job.runner,
            namespace=job.namespace,
            retry_of=job,
        )

    # --- runners -----------------------------------------------------------------------------------------------

    def check_runner(self, ref: str) -> TransferJob:
        """The job, if the caller may report for it: an admin (the server's own worker acts as one) or the job's
        own runner identity ``system:transfer-<job name>`` (a Kubernetes Job's token). Any other writer could
        otherwise register what it likes under someone else's job."""
        principal = context.require(Permission.WRITE, "report on transfer jobs")
        job = self.get(ref)
        if not principal.can(Permission.MANAGE) and principal.user != f"{RUNNER_USER_PREFIX}{job.name}":
            raise Forbidden(f"only transfer job {job.name!r}'s own runner or an admin may report on it")
        return job

    def claim_next(self, worker: str, runner: str = "server") -> TransferJob | None:
        """Take the oldest PENDING job of this runner: RUNNING, owned by ``worker``; ``None`` when there is none.
        Of two workers racing for one job, one gets it."""
        while True:
            with self.db.read() as conn:
                found = conn.execute(
                    select(_t.id)
                    .where(_t.state == "PENDING", _t.runner == runner)
                    .order_by(_t.create_time, _t.id)
                    .limit(1)
                ).scalar()
            if found is None:
                return None
            started = self._start(found, worker)
            if started is not None:
                return started

    def start(self, job_id: str, worker: str) -> TransferJob:
        """A given PENDING job begins (a Kubernetes Job's first report): RUNNING, owned by ``worker``."""
        started = self._start(job_id, worker)
        if started is None:
            return self.get(job_id)
        return started

    def _start(self, job_id: str, worker: str) -> TransferJob | None:
        """PENDING → RUNNING; for ``update_artifact`` the artifact goes PENDING (audited) in the same transaction,
        its state before kept on the job. None: someone else started it first. A job whose artifact is gone or
        archived meanwhile fails here."""

        def run(conn: Connection) -> TransferJob | None:
            job = self._lock(conn, job_id)
            if job.state != "PENDING":
                return None
            now = clock.now_ms()
            values: dict[str, Any] = {"state": "RUNNING", "worker": worker[:64], "heartbeat_ms": now}
            values["start_time"] = now
            if job.intent == "update_artifact" and job.metadata.artifact_id is not None:
                try:
                    artifact = e.load(conn, e.ARTIFACT, job.metadata.artifact_id)
                except NotFound:
                    self._end(conn, job, "FAILED", "the artifact to update is gone", None)
                    return None
                if artifact.row["state"] == "ARCHIVED":
                    self._end(conn, job, "FAILED", "the artifact to update was archived", None)
                    return None
                meta = {**job.metadata.to_dict(), "previous_artifact_state": artifact.row["state"]}
                values["metadata"] = json.dumps(meta)
                e.apply_update(conn, e.ARTIFACT, artifact.row, {"state": "PENDING"}, None)
            self._set(conn, job_id, **values)
            return self._load(conn, job_id)

        return self.db.run_write(run)

    def heartbeat(
        self,
        job_id: str,
        worker: str,
        *,
        bytes_done: int,
        files_done: int,
        bytes_total: int | None = None,
        files_total: int | None = None,
    ) -> bool:
        """Record progress and that ``worker`` is alive; False: stop (cancel requested, or the job is no longer
        this worker's to run). A Kubernetes Job's first report starts its PENDING job."""
        values: dict[str, Any] = {"bytes_done": bytes_done, "files_done": files_done, "heartbeat_ms": clock.now_ms()}
        if bytes_total is not None:
            values["bytes_total"] = bytes_total
        if files_total is not None:
            values["files_total"] = files_total

        def run(conn: Connection) -> bool:
            job = self._lock(conn, job_id)
            if job.state == "PENDING" and job.runner == "kubernetes":
                return False  # ``start`` first
            if job.state != "RUNNING" or job.worker != worker[:64]:
                return False
            self._set(conn, job_id, **values)
            return not job.cancel_requested

        with self.db.read() as conn:
            current = self._load(conn, job_id)
        if current.state == "PENDING" and current.runner == "kubernetes":
            self.start(job_id, worker)
        return self.db.run_write(run)

    def complete(self, job_id: str, result: TransferResult) -> TransferJob:
        """Register the result in ONE transaction: the model, version and artifact (create intents) with all
        their metadata, or the artifact's new storage (update_artifact); the job COMPLETED. If the names were
        taken meanwhile (or the model or artifact went away), the job is FAILED with that cause and nothing is
        registered; the copied files stay in the destination, unreferenced."""
        if not result.files:
            return self.fail(job_id, "the copy produced no files", "the source holds no files")
        try:
            self.db.run_write(lambda conn: self._register(conn, job_id, result))
        except (Conflict, NotFound, InvalidInput, IntegrityError) as exc:
            cause = str(exc) if isinstance(exc, RegistryError) else "a name was taken meanwhile"
            job = self.get(job_id)
            if job.state in TERMINAL:
                raise
            return self.fail(job_id, f"registering {_target(job.intent, job.metadata)} failed", cause)
        return self.get(job_id)

    def fail(self, job_id: str, error: str, cause: str | None) -> TransferJob:
        """FAILED with what failed and why; an update_artifact's artifact goes back to its former state with
        ``modelreg.transfer.error``. Ending a job that already ended changes nothing."""
        self.db.run_write(lambda conn: self._finish(conn, job_id, "FAILED", error, cause))
        return self.get(job_id)

    def finish_cancelled(self, job_id: str) -> TransferJob:
        """The runner stopped on a cancel (and removed what it wrote): CANCELLED, nothing registered."""
        self.db.run_write(lambda conn: self._finish(conn, job_id, "CANCELLED", "cancelled", None))
        return self.get(job_id)

    def fail_stale(self, older_than_ms: int, runner: str = "server") -> builtins.list[TransferJob]:
        """RUNNING jobs of ``runner`` whose heartbeat is older than ``older_than_ms``: their worker died (its
        server stopped). They are FAILED, not re-queued: what a dead worker half wrote is not trusted, and a
        retry is one click. Returns the jobs failed."""
        cutoff = clock.now_ms() - older_than_ms
        with self.db.read() as conn:
            ids = conn.execute(
                select(_t.id).where(_t.state == "RUNNING", _t.runner == runner, _t.heartbeat_ms < cutoff)
            ).scalars()
            stale = list(ids)
        failed = []
        for job_id in stale:
            cause = "the server running it stopped (no heartbeat)"
            failed.append(self.fail(job_id, "the transfer was interrupted", cause))
        return failed

    # --- internals: validation ---------------------------------------------------------------------------------

    def _check_metadata(self, intent: str, m: Metadata) -> Metadata:
        for label, value in (
            ("registeredModel.name", m.model_name),
            ("modelVersion.name", m.version_name),
            ("modelArtifact.name", m.artifact_name),
            ("registeredModel.owner", m.model_owner),
            ("modelVersion.author", m.version_author),
            ("modelArtifact.modelFormatName", m.model_format_name),
            ("modelArtifact.modelFormatVersion", m.model_format_version),
        ):
            if value is not None and not 0 < len(value) <= NAME_LENGTH:
                raise InvalidInput(f"invalid {label}: 1 to {NAME_LENGTH} characters")
        for props in (m.model_custom_properties, m.version_custom_properties, m.artifact_custom_properties):
            self._properties(props)  # 400 now, not when the copy is done
        if intent == "create_model":
            if not m.model_name:
                raise MissingField("intent create_model needs registeredModel.name")
            return replace(m, version_name=m.version_name or DEFAULT_VERSION)
        if intent == "create_version":
            if not m.model_name and m.model_id is None:
                raise MissingField("intent create_version needs registeredModel.name or registeredModel.id")
            if not m.version_name:
                raise MissingField("intent create_version needs modelVersion.name")
            return m
        if m.artifact_id is None:
            raise MissingField("intent update_artifact needs modelArtifact.id")
        return m

    def _properties(self, props: Mapping[str, Any]) -> dict[str, PropValue]:
        if not isinstance(props, Mapping):
            raise InvalidInput("customProperties must be an object")
        try:
            return self.properties({k: _scalar_property(v) for k, v in props.items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid customProperties: {exc}") from None

    def _check_target(self, conn: Connection, intent: str, m: Metadata) -> tuple[Metadata, str]:
        """Names free and targets present now (checked again at registration); the metadata completed from the
        registry (the model's name for create_version, model and version names for update_artifact), and the
        key the job claims while it is not finished."""
        if intent == "create_model":
            assert m.model_name is not None
            if _find(conn, e.REGISTERED_MODEL, m.model_name) is not None:
                raise Conflict(f"registered model {m.model_name!r} already exists: use intent create_version")
            return m, f"model:{m.model_name}"
        if intent == "create_version":
            rm = self._model(conn, m)
            assert m.version_name is not None
            if _find(conn, e.MODEL_VERSION, m.version_name, rm.row["id"]) is not None:
                raise Conflict(f"model version {m.version_name!r} of {rm.row['name']!r} already exists")
            m = replace(m, model_id=rm.row["id"], model_name=rm.row["name"])
            return m, f"version:{rm.row['id']}:{m.version_name}"
        assert m.artifact_id is not None
        artifact = e.load(conn, e.ARTIFACT, m.artifact_id)
        if artifact.row["artifact_type"] != "model-artifact":
            raise InvalidInput(f"artifact {m.artifact_id} is a {artifact.row['artifact_type']}, not a model artifact")
        if artifact.row["state"] == "ARCHIVED":
            raise Conflict(f"model artifact {m.artifact_id} is archived: restore it first")
        version_id = artifact.row["parent_model_version_id"]
        model_name, version_name = m.model_name, m.version_name
        if version_id is not None:
            mv = e.load(conn, e.MODEL_VERSION, version_id)
            rm = e.load(conn, e.REGISTERED_MODEL, mv.row["registered_model_id"])
            model_name, version_name = rm.row["name"], mv.row["name"]
            m = replace(m, model_id=rm.row["id"])
        m = replace(
            m,
            model_name=model_name or artifact.row["name"],
            version_name=version_name or "artifact",
            artifact_name=m.artifact_name or artifact.row["name"],
        )
        return m, f"artifact:{m.artifact_id}"

    def _model(self, conn: Connection, m: Metadata) -> e.Record:
        if m.model_id is not None:
            rm = e.load(conn, e.REGISTERED_MODEL, m.model_id)
        else:
            found = _find(conn, e.REGISTERED_MODEL, m.model_name or "")
            if found is None:
                raise NotFound(f"no registered model named {m.model_name!r}: use intent create_model")
            rm = found
        if rm.row["state"] == "ARCHIVED":
            raise Conflict(f"registered model {rm.row['name']!r} is archived: restore it first")
        return rm

    def _check_name(self, name: str | None, m: Metadata, job_id: str) -> str:
        if name is None:
            return f"{_slug(m.model_name or 'model')}-{job_id[:6]}"
        if not _JOB_NAME.match(name):
            raise InvalidInput(
                f"invalid job name {name[:80]!r}: at most 63 lowercase letters, digits and '-', starting and "
                "ending with a letter or digit (a Kubernetes name)"
            )
        with self.db.read() as conn:
            if conn.execute(select(_t.id).where(_t.name == name)).first() is not None:
                raise Conflict(f"a transfer job named {name!r} already exists")
        return name

    def _config(self, connection: str, wanted: str, role: str) -> StoreConfig:
        if not connection:
            raise MissingField(f"{role}.connection is required")
        config = self.connections.resolve(connection)
        if config.type != wanted:
            raise InvalidInput(
                f"{role} of type {wanted!r} needs a data connection of type {wanted!r}; {connection!r} is "
                f"{config.type!r}"
            )
        return config

    def _check_source(self, source: Source) -> Source:
        """The source's connection, and that what it names is there (an S3 object or prefix, an http(s) URL that
        answers 200, an OCI image whose manifest reads). Jobs fetch only through connections: an inline endpoint
        and keys are not taken."""
        if source.type not in SOURCE_TYPES:
            raise InvalidInput(f"invalid source type {source.type!r}: one of {', '.join(SOURCE_TYPES)}")
        config = self._config(source.connection, source.type, "source")
        if source.type == "s3":
            if not source.key or source.url or source.image:
                raise InvalidInput("an s3 source takes a key (an object or a prefix), and no url or image")
            store = self.connections.open_config(config)
            where = f"reading s3 source {source.key[:200]!r} of connection {source.connection!r}"
            with store_faults(where):
                if next(iter(store.iter_keys(source.key)), None) is None:
                    try:
                        store.open_read(source.key.rstrip("/")).close()
                    except BlobNotFound:
                        raise NotFound(f"{where}: no object or prefix {source.key[:200]!r}") from None
            return Source("s3", source.connection, key=source.key)
        if source.type == "uri":
            if not source.url or source.key or source.image:
                raise InvalidInput("a uri source takes a url, and no key or image")
            try:
                under = http_url_under(source.url, config.base_url or "")
            except InvalidUri as exc:
                raise InvalidInput(f"refusing the source URL: {exc}") from None
            if not under:
                raise Forbidden(
                    f"the source URL is not under the base URL of connection {source.connection!r}: a job reads "
                    "only what an admin configured"
                )
            store = self.connections.open_config(replace(config, base_url=source.url))
            with store_faults(f"reading the source URL of connection {source.connection!r}"):
                store.open_read("").close()
            return Source("uri", source.connection, url=source.url)
        if not source.image or source.key or source.url:
            raise InvalidInput("an oci source takes an image, and no key or url")
        ref = _image_ref(source.image, config)
        with store_faults(f"reading source image {ref.uri()[:200]} of connection {source.connection!r}"):
            _oci(self.connections.open_config(config)).image(ref).digest()
        return Source("oci", source.connection, image=ref.uri())

    def _check_destination(self, destination: Destination, m: Metadata, job_id: str) -> Destination:
        """The destination's connection, its defaults filled in, and that it takes writes (the registry accepts a
        blob upload in the repository; the bucket answers)."""
        if destination.type not in DESTINATION_TYPES:
            raise InvalidInput(f"invalid destination type {destination.type!r}: one of {', '.join(DESTINATION_TYPES)}")
        config = self._config(destination.connection, destination.type, "destination")
        model, version = m.model_name or "model", m.version_name or DEFAULT_VERSION
        if destination.type == "oci":
            if destination.key:
                raise InvalidInput("an oci destination takes a repository and a tag, not a key")
            try:
                repository = repository_for(config.prefix, destination.repository or model)
                tag = tag_for(destination.tag or version)
            except (InvalidImageRef, ValueError) as exc:
                raise InvalidInput(f"invalid destination: {exc}") from None
            with store_faults(f"the OCI registry of connection {destination.connection!r}"):
                _oci(self.connections.open_config(config)).check(repository, push=True)
            return Destination("oci", destination.connection, repository=repository, tag=tag)
        if destination.repository or destination.tag:
            raise InvalidInput("an s3 destination takes a key, not a repository or tag")
        key = destination.key or join_key(_slug(model), _slug(version), job_id[:12])
        store = self.connections.open_config(config)
        with store_faults(f"the bucket of connection {destination.connection!r}"):
            store.check()
            if next(iter(store.iter_keys(key)), None) is not None:
                raise Conflict(f"destination key {key[:200]!r} of connection {destination.connection!r} is not empty")
        return Destination("s3", destination.connection, key=key)

    # --- internals: state --------------------------------------------------------------------------------------

    def _owned(self, ref: str, action: str) -> TransferJob:
        principal = context.require(Permission.WRITE, f"{action} transfer jobs")
        job = self.get(ref)
        if job.created_by != principal.user[:NAME_LENGTH] and not principal.can(Permission.MANAGE):
            raise Forbidden(
                f"transfer job {job.name!r} belongs to {job.created_by!r}: only they or an admin may {action} it"
            )
        return job

    def _load(self, conn: Connection, ref: str) -> TransferJob:
        row = conn.execute(select(transfer_jobs).where(_t.id == ref)).mappings().first()
        if row is None:
            row = conn.execute(select(transfer_jobs).where(_t.name == ref)).mappings().first()
        if row is None:
            raise NotFound(f"no transfer job found for {ref[:64]!r}")
        return _job(row)

    def _lock(self, conn: Connection, job_id: str) -> TransferJob:
        row = conn.execute(select(transfer_jobs).where(_t.id == job_id).with_for_update()).mappings().first()
        if row is None:
            raise NotFound(f"no transfer job found for {job_id[:64]!r}")
        return _job(row)

    def _set(self, conn: Connection, job_id: str, **values: Any) -> None:
        values["last_update_time"] = clock.now_ms()
        conn.execute(update(transfer_jobs).where(_t.id == job_id).values(**values))

    def _end(self, conn: Connection, job: TransferJob, state: str, error: str | None, cause: str | None) -> None:
        """A final state: the claim released, the time noted."""
        now = clock.now_ms()
        values: dict[str, Any] = {"state": state, "active_key": None, "end_time": now}
        if error is not None:
            values.update(error=error[:2000], cause=None if cause is None else cause[:4000])
        self._set(conn, job.id, **values)

    def _finish(self, conn: Connection, job_id: str, state: str, error: str, cause: str | None) -> None:
        job = self._lock(conn, job_id)
        if job.state in TERMINAL:
            return
        if job.intent == "update_artifact" and job.state == "RUNNING" and job.metadata.artifact_id is not None:
            self._restore_artifact(conn, job, error if cause is None else f"{error}: {cause}")
        self._end(conn, job, state, error if state == "FAILED" else None, cause)
        log.info("transfer job %s %s%s", job.name, state, f": {error}: {cause}" if state == "FAILED" else "")

    def _restore_artifact(self, conn: Connection, job: TransferJob, message: str) -> None:
        """Back to the state it had before the job, with the error as ``modelreg.transfer.error``."""
        assert job.metadata.artifact_id is not None
        try:
            artifact = e.load(conn, e.ARTIFACT, job.metadata.artifact_id)
        except NotFound:
            return
        if artifact.row["state"] != "PENDING":
            return  # someone changed it meanwhile: theirs wins
        props = {**artifact.props, ERROR_PROPERTY: PropValue("string", f"{job.name}: {message}"[:4000])}
        previous = job.previous_artifact_state or "UNKNOWN"
        e.apply_update(conn, e.ARTIFACT, artifact.row, {"state": previous}, props)

    def _register(self, conn: Connection, job_id: str, result: TransferResult) -> None:
        job = self._lock(conn, job_id)
        if job.state != "RUNNING":
            raise Conflict(f"transfer job {job.name!r} is {job.state}: only a running job completes")
        m = job.metadata
        files = sorted(result.files, key=lambda f: f.key)
        props = {
            **self._properties(m.artifact_custom_properties),
            SHA256_PROPERTY: PropValue("string", manifest_digest(files)),
            SIZE_PROPERTY: PropValue("int", sum(f.size for f in files)),
            FILES_PROPERTY: PropValue("int", len(files)),
        }
        if job.destination.type == "oci" and result.digest:
            props[OCI_DIGEST_PROPERTY] = PropValue("string", result.digest)
        values: dict[str, Any] = {
            "uri": result.uri,
            "state": "LIVE",
            "storage_key": result.storage_key,
            "storage_path": result.storage_path,
            "model_source_kind": SOURCE_KIND,
            "model_source_class": SOURCE_CLASS,
            "model_source_group": job.group,
            "model_source_name": job.name,
            "model_source_id": job.id,
        }
        for column, value in (
            ("description", m.artifact_description),
            ("model_format_name", m.model_format_name),
            ("model_format_version", m.model_format_version),
        ):
            if value is not None:
                values[column] = value
        if job.intent == "update_artifact":
            assert m.artifact_id is not None
            artifact = e.load(conn, e.ARTIFACT, m.artifact_id)
            kept = {k: v for k, v in artifact.props.items() if k != ERROR_PROPERTY and k != OCI_DIGEST_PROPERTY}
            e.apply_update(conn, e.ARTIFACT, artifact.row, values, {**kept, **props})
            rm_id, mv_id, artifact_id = m.model_id, artifact.row["parent_model_version_id"], m.artifact_id
        else:
            if job.intent == "create_model":
                assert m.model_name is not None
                if _find(conn, e.REGISTERED_MODEL, m.model_name) is not None:
                    raise Conflict(f"registered model {m.model_name!r} was created meanwhile")
                model_values = {"name": m.model_name, "owner": m.model_owner or job.created_by}
                if m.model_description is not None:
                    model_values["description"] = m.model_description
                rm = e.create(conn, e.REGISTERED_MODEL, model_values, self._properties(m.model_custom_properties))
            else:
                rm = self._model(conn, m)
            rm_id = rm.row["id"]
            assert m.version_name is not None
            if _find(conn, e.MODEL_VERSION, m.version_name, rm_id) is not None:
                raise Conflict(f"model version {m.version_name!r} of {rm.row['name']!r} was created meanwhile")
            version_values: dict[str, Any] = {
                "name": m.version_name,
                "registered_model_id": rm_id,
                "author": m.version_author or job.created_by,
            }
            if m.version_description is not None:
                version_values["description"] = m.version_description
            mv = e.create(conn, e.MODEL_VERSION, version_values, self._properties(m.version_custom_properties), rm_id)
            mv_id = mv.row["id"]
            values["name"] = m.artifact_name or m.model_name
            artifact_id = create_linked_artifact(conn, "model_version", mv_id, "model-artifact", values, props).row[
                "id"
            ]
        self._record_files(conn, job, result, files, artifact_id, mv_id)
        self._set(
            conn,
            job_id,
            registered_model_id=rm_id,
            model_version_id=mv_id,
            model_artifact_id=artifact_id,
            result_uri=result.uri,
            result_digest=result.digest,
            bytes_done=sum(f.size for f in files),
            files_done=len(files),
            bytes_total=sum(f.size for f in files),
            files_total=len(files),
        )
        self._end(conn, job, "COMPLETED", None, None)

    def _record_files(
        self,
        conn: Connection,
        job: TransferJob,
        result: TransferResult,
        files: builtins.list[StoredFile],
        artifact_id: int,
        version_id: int | None,
    ) -> None:
        """The copied files' manifest, recorded as a committed upload of the artifact, so downloads and
        ``verify`` check every file against the digest seen while copying (``services/artifact_files.py``)."""
        upload_id = secrets.token_hex(16)
        now = clock.now_ms()
        m = job.metadata
        conn.execute(
            uploads.insert().values(
                id=upload_id,
                state="committed",
                registered_model_name=(m.model_name or "")[:NAME_LENGTH],
                version_name=(m.version_name or "")[:NAME_LENGTH],
                connection=result.storage_key,
                key=result.storage_path,
                single=False,
                uri=result.uri,
                model_format_name=m.model_format_name,
                model_format_version=m.model_format_version,
                author=job.created_by,
                created_by=job.created_by,
                create_time=now,
                last_update_time=now,
                artifact_id=artifact_id,
                model_version_id=version_id,
                tag=job.destination.tag,
                image_digest=result.digest if job.destination.type == "oci" else None,
            )
        )
        conn.execute(
            upload_files.insert(),
            [{"upload_id": upload_id, "path": f.key, "size": f.size, "sha256": f.sha256} for f in files],
        )


def _find(conn: Connection, kind: e.Kind, name: str, parent_id: int | None = None) -> e.Record | None:
    try:
        return e.find_by_name(conn, kind, name, None, parent_id)
    except NotFound:
        return None


def _target(intent: str, m: Metadata) -> str:
    if intent == "create_model":
        return f"registered model {m.model_name!r}"
    if intent == "create_version":
        return f"version {m.version_name!r} of {m.model_name or m.model_id!r}"
    return f"model artifact {m.artifact_id}"


def _image_ref(image: str, config: StoreConfig) -> ImageRef:
    """An ``oci`` source's image, which must be in its connection's registry."""
    try:
        ref = parse_image_ref(image)
    except InvalidImageRef as exc:
        raise InvalidInput(f"invalid source image {image[:200]!r}: {exc}") from None
    if ref.registry != config.registry:
        raise Forbidden(
            f"source image {image[:200]!r} is not in the registry {config.registry!r} of its connection: a job reads "
            "only what an admin configured"
        )
    return ref


def _oci(store: Any) -> OciStore:
    if not isinstance(store, OciStore):
        raise InvalidInput("not an OCI connection")
    return store


def _strings_only(props: Mapping[str, Mapping[str, Any]]) -> dict[str, PropValue]:
    """Without the wire codec: string values only."""
    out = {}
    for name, value in props.items():
        if value.get("metadataType") != "MetadataStringValue" or not isinstance(value.get("string_value"), str):
            raise InvalidInput(f"custom property {name!r}: only string values are taken here")
        out[name] = PropValue("string", value["string_value"])
    return out
