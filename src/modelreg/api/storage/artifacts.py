"""``/model_versions/{id}/...``: the files of a version's model artifact — listing, streamed download (with the
recorded SHA-256 in ``X-Checksum-Sha256``), server-side verification and presigned URLs for serving runtimes."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Path, Query
from starlette.responses import Response, StreamingResponse

from modelreg.api.deps import ArtifactFilesDep
from modelreg.api.registry.common import ERRORS, PathId, RegistryRouter, json_response
from modelreg.services.artifact_files import DEFAULT_PRESIGN_SECONDS, iter_blocks
from modelreg.services.entities import parse_id

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
FilePath = Annotated[str, Path(description="The file's path inside the artifact, as listed.")]


@router.get("/model_versions/{modelversionId}/files", tags=["Storage"])
def list_files(svc: ArtifactFilesDep, modelversionId: PathId) -> Response:
    return json_response(svc.locate(parse_id(modelversionId, "model version")).to_dict())


@router.get("/model_versions/{modelversionId}/files/{path:path}", tags=["Storage"])
def download_file(svc: ArtifactFilesDep, modelversionId: PathId, path: FilePath) -> Response:
    entry, stream = svc.open(parse_id(modelversionId, "model version"), path)
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(entry.path.rsplit('/', 1)[-1], safe='')}"}
    # No Content-Length from the record: if the stored object changed, the client must get all of it and see the
    # digest differ, not a connection cut at the recorded length.
    if entry.sha256 is not None:
        headers["X-Checksum-Sha256"] = entry.sha256
    return StreamingResponse(iter_blocks(stream), media_type="application/octet-stream", headers=headers)


@router.get("/model_versions/{modelversionId}/verify", tags=["Storage"])
def verify_files(svc: ArtifactFilesDep, modelversionId: PathId) -> Response:
    return json_response(svc.verify(parse_id(modelversionId, "model version")).to_dict())


@router.get("/model_versions/{modelversionId}/presigned", tags=["Storage"])
def presigned_url(
    svc: ArtifactFilesDep,
    modelversionId: PathId,
    path: Annotated[str | None, Query(description="Which file; optional for a single-file artifact.")] = None,
    expiresIn: Annotated[int, Query(ge=1, le=7 * 24 * 3600)] = DEFAULT_PRESIGN_SECONDS,
) -> Response:
    url, entry, expires_at = svc.presign(parse_id(modelversionId, "model version"), path, expiresIn)
    return json_response({"url": url, "path": entry.path, "expiresAtSinceEpoch": str(expires_at)})
