"""``/transfers``: transfer jobs (copy a model from an S3 prefix, an http(s) URL or an OCI image into an OCI registry
or S3, then register it). Create (``write``; validated before any byte moves), list (``?state=``), get by id or
name, cancel and retry (the creator or an admin), and the runner's reports (progress, complete, fail) that a
Kubernetes Job sends with its own token. See ``services/transfers.py`` for the rules.

Sources and destinations are data connections only: the upstream UI's inline S3 endpoint and keys are not taken,
so a job cannot point the server at an endpoint no admin configured.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.api.deps import TransfersDep
from modelreg.api.registry.common import ERRORS, RegistryRouter, json_response
from modelreg.auth import context
from modelreg.blobs.base import StoredFile
from modelreg.services import entities as e
from modelreg.services.transfers import Destination, Metadata, Source, TransferJob, TransferResult

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
JobRef = Annotated[str, Path(min_length=1, max_length=63, description="The job's id or name.")]
Name: Any = Field(default=None, min_length=1, max_length=255)
# an entity id: decimal digits as a string (the registry's wire form) or a number
EntityId = Annotated[str, Field(pattern=r"^[0-9]{1,19}$")] | Annotated[int, Field(ge=1)] | None
Properties: Any = Field(
    default_factory=dict,
    description="Typed values ({'metadataType': 'MetadataStringValue', 'string_value': ...}) or JSON scalars.",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class SourceBody(_Strict):
    type: Literal["s3", "uri", "oci"]
    connection: str = Field(min_length=1, max_length=255, description="A data connection of the same type.")
    key: str | None = Field(default=None, max_length=1024, description="s3: an object or a prefix.")
    url: str | None = Field(default=None, max_length=4096, description="uri: under the connection's base URL.")
    image: str | None = Field(default=None, max_length=1024, description="oci: registry/repository[:tag][@digest].")


class DestinationBody(_Strict):
    type: Literal["oci", "s3"]
    connection: str = Field(min_length=1, max_length=255)
    repository: str | None = Field(default=None, max_length=255, description="oci; default: the model's name.")
    tag: str | None = Field(default=None, max_length=128, description="oci; default: the version's name.")
    key: str | None = Field(default=None, max_length=1024, description="s3; default: <model>/<version>/<job>.")


class ModelBody(_Strict):
    id: EntityId = None
    name: str | None = Name
    description: str | None = Field(default=None, max_length=10_000)
    owner: str | None = Name
    customProperties: dict[str, Any] = Properties


class VersionBody(_Strict):
    name: str | None = Name
    description: str | None = Field(default=None, max_length=10_000)
    author: str | None = Name
    customProperties: dict[str, Any] = Properties


class ArtifactBody(_Strict):
    id: EntityId = None
    name: str | None = Name
    description: str | None = Field(default=None, max_length=10_000)
    modelFormatName: str | None = Name
    modelFormatVersion: str | None = Name
    customProperties: dict[str, Any] = Properties


class TransferCreate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=63, description="A Kubernetes name.")
    displayName: str | None = Name
    intent: Literal["create_model", "create_version", "update_artifact"]
    source: SourceBody
    destination: DestinationBody
    registeredModel: ModelBody = Field(default_factory=ModelBody)
    modelVersion: VersionBody = Field(default_factory=VersionBody)
    modelArtifact: ArtifactBody = Field(default_factory=ArtifactBody)
    runner: Literal["server", "kubernetes"] | None = None
    namespace: str | None = Field(default=None, min_length=1, max_length=63)

    def metadata(self) -> Metadata:
        m, v, a = self.registeredModel, self.modelVersion, self.modelArtifact
        return Metadata(
            model_name=m.name,
            model_id=None if m.id is None else e.parse_id(m.id, "registered model"),
            artifact_id=None if a.id is None else e.parse_id(a.id, "model artifact"),
            model_description=m.description,
            model_owner=m.owner,
            model_custom_properties=m.customProperties,
            version_name=v.name,
            version_description=v.description,
            version_author=v.author,
            version_custom_properties=v.customProperties,
            artifact_name=a.name,
            artifact_description=a.description,
            model_format_name=a.modelFormatName,
            model_format_version=a.modelFormatVersion,
            artifact_custom_properties=a.customProperties,
        )


class ProgressBody(_Strict):
    bytesDone: int = Field(ge=0)
    filesDone: int = Field(ge=0)
    bytesTotal: int | None = Field(default=None, ge=0)
    filesTotal: int | None = Field(default=None, ge=0)


class FileBody(_Strict):
    path: str = Field(min_length=1, max_length=512)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CompleteBody(_Strict):
    uri: str = Field(min_length=1, max_length=4096)
    digest: str | None = Field(default=None, max_length=71)
    files: list[FileBody] = Field(min_length=1, max_length=100_000)
    storageKey: str = Field(min_length=1, max_length=255)
    storagePath: str = Field(max_length=4096)


class FailBody(_Strict):
    error: str = Field(default="the transfer failed", max_length=2000)
    cause: str | None = Field(default=None, max_length=4000)
    cancelled: bool = Field(default=False, description="The runner stopped on a cancel: CANCELLED, not FAILED.")


def _job(job: TransferJob, status: int = 200) -> Response:
    return json_response(job.to_dict(), status)


@router.post("/transfers", status_code=201, tags=["Storage"])
def create_transfer(svc: TransfersDep, body: TransferCreate, request: Request) -> Response:
    s, d = body.source, body.destination
    job = svc.create(
        body.intent,
        Source(s.type, s.connection, key=s.key, url=s.url, image=s.image),
        Destination(d.type, d.connection, repository=d.repository, tag=d.tag, key=d.key),
        body.metadata(),
        name=body.name,
        display_name=body.displayName,
        runner=body.runner,
        namespace=body.namespace,
    )
    _wake(request)
    response = _job(job, 201)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{job.id}"
    return response


@router.get("/transfers", tags=["Storage"])
def list_transfers(
    svc: TransfersDep,
    state: Annotated[
        Literal["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] | None, Query(description="Only these.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    return json_response({"items": [j.to_dict() for j in svc.list(state=state, limit=limit)]})


@router.get("/transfers/{ref}", tags=["Storage"])
def get_transfer(svc: TransfersDep, ref: JobRef) -> Response:
    return _job(svc.get(ref))


@router.post("/transfers/{ref}/cancel", tags=["Storage"])
def cancel_transfer(svc: TransfersDep, ref: JobRef) -> Response:
    return _job(svc.cancel(ref))


@router.post("/transfers/{ref}/retry", status_code=201, tags=["Storage"])
def retry_transfer(svc: TransfersDep, ref: JobRef, request: Request) -> Response:
    job = svc.retry(ref)
    _wake(request)
    response = _job(job, 201)
    response.headers["Location"] = f"{request.url.path.rsplit('/', 2)[0]}/{job.id}"
    return response


# --- the runner's reports (a Kubernetes Job, with its own token) -------------------------------------------------


@router.post("/transfers/{ref}/progress", tags=["Storage"])
def report_progress(svc: TransfersDep, ref: JobRef, body: ProgressBody) -> Response:
    """``{"continue": false}``: stop (the job was cancelled); the runner then removes what it wrote and reports
    ``fail`` with ``cancelled: true``."""
    job = svc.check_runner(ref)
    go_on = svc.heartbeat(
        job.id,
        context.current().principal.user,
        bytes_done=body.bytesDone,
        files_done=body.filesDone,
        bytes_total=body.bytesTotal,
        files_total=body.filesTotal,
    )
    return json_response({"continue": go_on})


@router.post("/transfers/{ref}/complete", tags=["Storage"])
def report_complete(svc: TransfersDep, ref: JobRef, body: CompleteBody) -> Response:
    job = svc.check_runner(ref)
    files = [StoredFile(f.path, f.size, f.sha256) for f in body.files]
    result = TransferResult(body.uri, body.digest, files, body.storageKey, body.storagePath)
    return _job(svc.complete(job.id, result))


@router.post("/transfers/{ref}/fail", tags=["Storage"])
def report_fail(svc: TransfersDep, ref: JobRef, body: FailBody) -> Response:
    job = svc.check_runner(ref)
    if body.cancelled:
        return _job(svc.finish_cancelled(job.id))
    return _job(svc.fail(job.id, body.error, body.cause))


def _wake(request: Request) -> None:
    """Let this server's worker look for the new job now rather than at its next poll."""
    worker = getattr(request.app.state, "transfer_worker", None)
    if worker is not None:
        worker.wake()
