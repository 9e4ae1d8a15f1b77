"""Uploading and downloading model files through the server's storage API, as operations (see ``_call``).

Files stream in 1 MiB blocks both ways, so memory stays flat for multi-gigabyte weights. The SHA-256 is taken
while the bytes pass, not in a pass beforehand: the upload compares it with what the server received, the
download with what the server recorded at upload time, and a download only lands under its real name once it
matched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from modelreg.client._call import Call, Op, get
from modelreg.client._errors import DigestMismatch
from modelreg.client._models import RegisteredModel, UploadResult, VerifyReport
from modelreg.client._ops import Context, ModelRef, VersionRef, drop_none, resolve_version_id

STORAGE = "/api/storage/v1"
BLOCK = 1 << 20
Progress = Callable[[int], None]


class _Digest:
    """Size and SHA-256 of the bytes seen so far, reporting each block to ``progress``."""

    def __init__(self, progress: Progress | None) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.progress = progress

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        self.size += len(block)
        if self.progress is not None:
            self.progress(len(block))

    def check(self, path: str, size: int, sha256: str | None) -> None:
        if self.size != size or (sha256 is not None and self.sha256.hexdigest() != sha256):
            raise DigestMismatch(
                f"{path}: expected {size} bytes with SHA-256 {sha256}, got {self.size} bytes with SHA-256 "
                f"{self.sha256.hexdigest()}"
            )


def _sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _reused(session: str, relative: str, file: Path) -> Op[dict[str, Any] | None]:
    """Ask the server whether it has this file already (an OCI registry with the same layer): the file is hashed
    only when the server knows a file of its path and size. Returns the recorded file, or None: send the bytes."""
    query: dict[str, Any] = {"path": relative, "size": file.stat().st_size}
    known = yield Call("POST", f"{session}/reuse", json=query)
    if not known.get("known"):
        return None
    known = yield Call("POST", f"{session}/reuse", json={**query, "sha256": _sha256_of(file)})
    recorded: dict[str, Any] | None = known.get("file") if known.get("known") else None
    return recorded


def _blocks(file: Path, digest: _Digest) -> Iterator[bytes]:
    with file.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
            yield block


def _files(path: Path) -> list[tuple[str, Path]]:
    """(relative path with "/" separators, file) in sorted order: a stable order makes uploads reproducible."""
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    found = [(p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file()]
    return sorted(found)


def upload(
    ctx: Context,
    model: RegisteredModel | str,
    version: str,
    path: str | os.PathLike[str],
    *,
    connection: str | None = None,
    model_format_name: str | None = None,
    model_format_version: str | None = None,
    description: str | None = None,
    tag: str | None = None,
    progress: Progress | None = None,
) -> Op[UploadResult]:
    """Upload a file or a directory as a new version of ``model`` (created when missing) in one transaction:
    nothing is registered unless every file arrived intact, and a failed or interrupted upload is aborted.

    Through an ``oci`` connection the files become a ModelCar image tagged ``tag`` (default: made from the version
    name), and files whose layers the registry already has are not sent again."""
    files = _files(Path(path))
    body = drop_none(
        registeredModelName=model.name if isinstance(model, RegisteredModel) else model,
        versionName=version,
        connection=connection,
        modelFormatName=model_format_name,
        modelFormatVersion=model_format_version,
        description=description,
        author=ctx.author,
        single=Path(path).is_file(),
        tag=tag,
    )
    opened = yield Call("POST", f"{STORAGE}/uploads", json=body)
    session = f"{STORAGE}/uploads/{opened['id']}"
    try:
        for relative, file in files:
            if opened.get("reuse") and (recorded := (yield from _reused(session, relative, file))) is not None:
                if progress is not None:
                    progress(int(recorded["size"]))
                continue
            digest = _Digest(progress)
            headers = {"Content-Length": str(file.stat().st_size), "Content-Type": "application/octet-stream"}
            put = Call("PUT", f"{session}/files/{quote(relative)}", content=_blocks(file, digest), headers=headers)
            stored = yield put
            digest.check(relative, int(stored["size"]), stored["sha256"])
        return UploadResult.from_wire((yield Call("POST", f"{session}/commit")))
    except GeneratorExit:
        raise
    except BaseException:
        with contextlib.suppress(Exception):  # the original failure is the one to report
            yield Call("DELETE", session)
        raise


class _FileSink:
    """Writes a download to a temporary name next to its target, digesting as it goes."""

    def __init__(self, fh: BinaryIO, digest: _Digest) -> None:
        self.fh = fh
        self.digest = digest

    def __call__(self, block: bytes) -> None:
        self.fh.write(block)
        self.digest.update(block)


def _target(dest: Path, relative: str) -> Path:
    target = (dest / relative).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise ValueError(f"refusing to write {relative!r} outside {dest}")
    return target


def download(
    ctx: Context,
    model: ModelRef | None,
    version: VersionRef,
    dest: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> Op[list[Path]]:
    """Download the version's files into the directory ``dest`` (created when missing), keeping their relative
    paths; each file is checked against the size and SHA-256 recorded at upload (when there is such a record)."""
    version_id = yield from resolve_version_id(model, version)
    base = f"{STORAGE}/model_versions/{version_id}/files"
    listing: dict[str, Any] = yield get(base)
    directory = Path(dest)
    written: list[Path] = []
    for item in listing["items"]:
        target = _target(directory, item["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        digest = _Digest(progress)
        try:
            with partial.open("wb") as fh:
                yield Call("GET", f"{base}/{quote(item['path'])}", sink=_FileSink(fh, digest))
            if listing.get("recorded"):
                digest.check(item["path"], int(item["size"]), item.get("sha256"))
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        written.append(target)
    return written


def verify(ctx: Context, model: ModelRef | None, version: VersionRef) -> Op[VerifyReport]:
    """Have the server re-read the stored files and compare them with what was recorded at upload."""
    version_id = yield from resolve_version_id(model, version)
    return VerifyReport.from_wire((yield get(f"{STORAGE}/model_versions/{version_id}/verify")))


def presigned_url(
    ctx: Context, model: ModelRef | None, version: VersionRef, path: str | None = None, expires_in: int = 3600
) -> Op[str]:
    """A time-limited URL to fetch a file without registry credentials (e.g. for a serving runtime)."""
    version_id = yield from resolve_version_id(model, version)
    params = {"path": path, "expiresIn": str(expires_in)}
    return str((yield get(f"{STORAGE}/model_versions/{version_id}/presigned", **params))["url"])
