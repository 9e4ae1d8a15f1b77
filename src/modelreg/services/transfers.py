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

from dataclasses import dataclass, field
from typing import Any, Literal

Intent = Literal["create_model", "create_version", "update_artifact"]
State = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
TERMINAL: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
SOURCE_TYPES = ("s3", "uri", "oci")
DESTINATION_TYPES = ("oci", "s3")


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
    ``<model>/<version>/<job id>``)."""

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
    Kubeflow wire values (``{"metadataType": "MetadataStringValue", "string_value": "x"}``) or plain JSON scalars."""

    model_name: str | None = None
    model_id: int | None = None  # create_version
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

    def to_dict(self) -> dict[str, Any]:
        """The wire shape (camelCase, ids as strings, like the registry's)."""
        raise NotImplementedError
