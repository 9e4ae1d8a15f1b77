"""``/uploads``: begin a session, PUT each file's bytes (or, into an OCI registry, ask ``/reuse`` first), commit
(registers model, version and artifact at once) or abort. See ``services/uploads.py`` for why uploads are sessions
and ``services/upload_images.py`` for uploads that build a ModelCar image."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg import wire
from modelreg.api.deps import UploadsDep
from modelreg.api.registry.common import ERRORS, RegistryRouter, json_response
from modelreg.api.storage.bodies import BodyInterrupted, consume_body
from modelreg.errors import InvalidInput
from modelreg.services.entities import Record

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The upload session's id.")]
FilePath = Annotated[str, Path(description="The file's path inside the artifact ('/'-separated).")]


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registeredModelName: str = Field(min_length=1, max_length=255)
    versionName: str = Field(min_length=1, max_length=255)
    connection: str | None = Field(default=None, max_length=255, description="Default: the server's setting.")
    single: bool = Field(default=False, description="One file: the artifact URI names the file itself.")
    modelFormatName: str | None = Field(default=None, max_length=255)
    modelFormatVersion: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    author: str | None = Field(default=None, max_length=255)
    tag: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$",
        description="OCI connections only: the image's tag (default: made from versionName).",
    )


class ReuseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=512, description="The file's path inside the artifact.")
    size: int = Field(ge=0, description="The file's size in bytes.")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="Ask again with it once known.")


def _wire(record: Record) -> dict[str, Any]:
    return wire.to_wire(record.table, record.row, record.props)


@router.post("/uploads", status_code=201, tags=["Storage"])
def begin_upload(svc: UploadsDep, body: UploadCreate) -> Response:
    upload = svc.begin(
        body.registeredModelName,
        body.versionName,
        connection=body.connection,
        single=body.single,
        model_format_name=body.modelFormatName,
        model_format_version=body.modelFormatVersion,
        description=body.description,
        author=body.author,
        tag=body.tag,
    )
    return json_response(upload.to_dict(svc.ttl_seconds), 201)


@router.get("/uploads/{upload_id}", tags=["Storage"])
def get_upload(svc: UploadsDep, upload_id: UploadId) -> Response:
    return json_response(svc.get(upload_id).to_dict(svc.ttl_seconds))


@router.put("/uploads/{upload_id}/files/{path:path}", tags=["Storage"])
async def put_file(svc: UploadsDep, upload_id: UploadId, path: FilePath, request: Request) -> Response:
    """The body is the file's bytes, streamed into the store; the response carries the SHA-256 the server saw.
    Into an OCI connection the body needs a Content-Length (411 without): a layer's tar header holds the size."""
    length = request.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    await run_in_threadpool(svc.check_put, upload_id, path, size)  # refuse before the body streams
    try:
        stored = await consume_body(request, lambda body: svc.put(upload_id, path, body, size))
    except BodyInterrupted as exc:
        raise InvalidInput(str(exc)) from None
    return json_response({"path": stored.key, "size": stored.size, "sha256": stored.sha256})


@router.post("/uploads/{upload_id}/reuse", tags=["Storage"])
def reuse_file(svc: UploadsDep, upload_id: UploadId, body: ReuseQuery) -> Response:
    """Whether the file's bytes need sending: ``{"known": false}`` → PUT them; ``{"known": true}`` → ask again with
    the file's ``sha256``; ``{"known": true, "file": {…}}`` → recorded without its bytes (the registry has its
    layer). S3 and local sessions always answer ``{"known": false}``."""
    return json_response(svc.reuse(upload_id, body.path, body.size, body.sha256))


@router.post("/uploads/{upload_id}/commit", status_code=201, tags=["Storage"])
def commit_upload(svc: UploadsDep, upload_id: UploadId) -> Response:
    done = svc.commit(upload_id)
    upload = done.upload.to_dict()
    body = {
        "upload": upload,
        "registeredModel": _wire(done.registered_model),
        "modelVersion": _wire(done.model_version),
        "modelArtifact": _wire(done.model_artifact),
        "files": upload["files"],
        "totalSize": done.upload.total_size,
        "warnings": list(done.warnings),
    }
    return json_response(body, 201)


@router.delete("/uploads/{upload_id}", tags=["Storage"])
def abort_upload(svc: UploadsDep, upload_id: UploadId) -> Response:
    return json_response(svc.abort(upload_id).to_dict())
