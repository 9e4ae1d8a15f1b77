"""A transfer job's source as a sequence of files, each streamed once, in order.

``s3``: every object under the key (or the one object it names), sizes from the listing. ``uri``: one http(s)
file (size from Content-Length; without it, spooled to a temp file), or, for ``.tar``/``.tar.gz``/``.tgz``, each
regular member streamed in turn from the response (``tarfile`` in stream mode: nothing is unpacked to disk), or
for ``.zip`` the archive spooled to a temp file first (a zip's directory is at its end; at most
``MAX_SPOOL_BYTES``). ``oci``: each file of an image under ``/models``, read from its layer.

Files are yielded lazily and must be read in order: a tar member's stream ends when the next one is asked for.
Requests go only where the job's connection points: the URL was checked at create against the connection's base
URL and is checked again here, and redirects are never followed.
"""

from __future__ import annotations

import contextlib
import posixpath
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, cast
from urllib.parse import unquote, urlsplit

import httpx

from modelreg import tls
from modelreg.blobs.base import (
    READ_BLOCK,
    InvalidKey,
    StoreConfig,
    StoreRefused,
    StoreUnreachable,
    check_key,
)
from modelreg.blobs.factory import open_store
from modelreg.blobs.oci import OciStore, parse_image_ref
from modelreg.blobs.s3 import S3Store
from modelreg.blobs.uris import InvalidUri, check_http_url, http_url_under
from modelreg.services.transfers import Source

MAX_SPOOL_BYTES = 50 * 1024**3  # a zip (or a file without Content-Length) is spooled to disk: at most this much
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class SourceFile:
    """One file: its path under the model root, its size, and how to open its bytes (once)."""

    path: str
    size: int
    open: Callable[[], IO[bytes]]
    sha256: str | None = None  # when the source records it (an OCI layer's annotation)


class SourceFiles:
    """The files of a source; ``total_bytes``/``total_files`` when known before copying (not for archives)."""

    def __init__(self, files: Iterator[SourceFile], total_bytes: int | None, total_files: int | None) -> None:
        self.files = files
        self.total_bytes = total_bytes
        self.total_files = total_files
        self._cleanup: list[Callable[[], None]] = []

    def __iter__(self) -> Iterator[SourceFile]:
        return self.files

    def close(self) -> None:
        for step in reversed(self._cleanup):
            with contextlib.suppress(Exception):
                step()


def open_source(source: Source, config: StoreConfig, base_image: str = "embedded") -> SourceFiles:
    """The source's files; raises the stores' errors (``StoreUnreachable``, ``StoreRefused``, ``BlobNotFound``)."""
    if source.type == "s3":
        return _s3(config, source.key or "")
    if source.type == "uri":
        return _http(config, source.url or "")
    return _oci(config, source.image or "", base_image)


def safe_path(path: str) -> str:
    """A member or key path as a relative path under the model root; ``InvalidKey`` for one that would leave it."""
    path = path.lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    try:
        return check_key(path)
    except InvalidKey:
        raise StoreRefused(f"the source holds a file with an unsafe path {path[:200]!r}") from None


# --- s3 --------------------------------------------------------------------------------------------------------


def _s3(config: StoreConfig, key: str) -> SourceFiles:
    store = open_store(config)
    if not isinstance(store, S3Store):
        raise StoreRefused("the source connection is not an s3 connection")
    base = key.strip("/")
    objects = [(k, size) for k, size in store.iter_sizes(base) if not k.endswith("/")]  # no folder markers
    if objects:
        files = [(safe_path(k[len(base) + 1 :] if base else k), size, k) for k, size in objects]
    else:  # the key names one object
        parent = posixpath.dirname(base)
        found = [size for k, size in store.iter_sizes(parent) if k == base]
        if not found:
            raise StoreRefused(f"no object or prefix {key[:200]!r} in the source bucket {store.bucket!r}")
        files = [(safe_path(posixpath.basename(base)), found[0], base)]

    def opener(full: str) -> Callable[[], IO[bytes]]:
        return lambda: store.open_read(full)

    entries = iter([SourceFile(path, size, opener(full)) for path, size, full in files])
    return SourceFiles(entries, sum(size for _, size, _ in files), len(files))


# --- http(s) ---------------------------------------------------------------------------------------------------


def _http(config: StoreConfig, url: str) -> SourceFiles:
    try:
        if not http_url_under(url, config.base_url or ""):
            raise StoreRefused("the source URL is not under its connection's base URL")
    except InvalidUri as exc:
        raise StoreRefused(f"refusing the source URL: {exc}") from None
    check_http_url(url)
    name = posixpath.basename(unquote(urlsplit(url).path.rstrip("/"))) or "model"
    response, client = _get(url)
    files = SourceFiles(iter(()), None, None)
    files._cleanup.append(client.close)
    files._cleanup.append(response.close)
    body = cast(IO[bytes], _Body(response))
    length = response.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    lowered = name.lower()
    if lowered.endswith(_TAR_SUFFIXES):
        files.files = _tar_members(body)
        return files
    if lowered.endswith(".zip"):
        spool = _spool(body, size)
        files._cleanup.append(spool.close)
        archive = zipfile.ZipFile(spool)
        files._cleanup.append(archive.close)
        members = [i for i in archive.infolist() if not i.is_dir()]
        files.files = iter([_zip_member(archive, info) for info in members])
        files.total_bytes, files.total_files = sum(i.file_size for i in members), len(members)
        return files
    if size is None:
        spool = _spool(body, None)
        files._cleanup.append(spool.close)
        size = spool.seek(0, 2)
        spool.seek(0)
        body = spool
    files.files = iter([SourceFile(safe_path(name), size, _given(body))])
    files.total_bytes, files.total_files = size, 1
    return files


def _get(url: str) -> tuple[httpx.Response, httpx.Client]:
    client = httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False, verify=tls.default_context())
    shown = url.split("?", 1)[0][:300]
    try:
        response = client.send(client.build_request("GET", url), stream=True)
    except httpx.TransportError as exc:
        client.close()
        raise StoreUnreachable(f"cannot reach {shown}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if response.status_code != 200:
        response.close()
        client.close()
        extra = ", a redirect (modelreg does not follow redirects)" if response.is_redirect else ""
        raise StoreRefused(f"{shown} answered {response.status_code} {response.reason_phrase}{extra}")
    return response, client


class _Body:
    """A streamed response body with ``read(n)`` (what tarfile and the stores read from)."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_raw(READ_BLOCK)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._pending:
                try:
                    self._pending = next(self._chunks)
                except StopIteration:
                    break
                except httpx.TransportError as exc:
                    raise StoreUnreachable(f"the source connection broke: {type(exc).__name__}") from None
            take = len(self._pending) if size < 0 else min(size - len(out), len(self._pending))
            out += self._pending[:take]
            self._pending = self._pending[take:]
        return bytes(out)


def _tar_members(body: IO[bytes]) -> Iterator[SourceFile]:
    try:
        with tarfile.open(fileobj=body, mode="r|*") as archive:
            for member in archive:
                if not member.isfile():
                    continue  # directories, links and devices are not model files
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                yield SourceFile(safe_path(member.name), member.size, _given(stream))
    except tarfile.TarError as exc:
        raise StoreRefused(f"the source archive is not a readable tar: {exc}") from None


def _spool(body: IO[bytes], size: int | None) -> IO[bytes]:
    """The body in an anonymous temp file (seekable), at most ``MAX_SPOOL_BYTES``."""
    if size is not None and size > MAX_SPOOL_BYTES:
        raise StoreRefused(f"the source is {size} bytes; at most {MAX_SPOOL_BYTES} are spooled to unpack a zip")
    spool = tempfile.TemporaryFile(prefix="modelreg-transfer-")  # noqa: SIM115 - the caller closes it
    written = 0
    while block := body.read(READ_BLOCK):
        written += len(block)
        if written > MAX_SPOOL_BYTES:
            spool.close()
            raise StoreRefused(f"the source is larger than {MAX_SPOOL_BYTES} bytes, the most spooled to disk")
        spool.write(block)
    spool.seek(0)
    return cast(IO[bytes], spool)


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> SourceFile:
    return SourceFile(safe_path(info.filename), info.file_size, lambda: archive.open(info))


# --- oci -------------------------------------------------------------------------------------------------------


def _oci(config: StoreConfig, image: str, base_image: str) -> SourceFiles:
    ref = parse_image_ref(image)
    if ref.registry != config.registry:
        raise StoreRefused("the source image is not in its connection's registry")
    store = OciStore(config, base_image).image(ref)
    listed = store.files()

    def opener(path: str) -> Callable[[], IO[bytes]]:
        return lambda: store.open_read(path)

    entries = [SourceFile(safe_path(f.key), f.size, opener(f.key), f.sha256 or None) for f in listed]
    return SourceFiles(iter(entries), sum(f.size for f in listed), len(listed))


def _given(stream: IO[bytes]) -> Callable[[], IO[bytes]]:
    return lambda: stream
