"""OCI registries as artifact storage: ModelCar images (a model's files under ``/models``, one layer per file) pushed
streamed, and read back file by file.

The public surface the services use; the implementation lives beside it (``oci_refs.py``: image references,
``oci_registry.py``: the distribution API client, ``modelcar.py``: layers, config and manifest of a ModelCar,
``oci_base.py``: the base image). Errors are the blob-store errors of ``base.py``: ``StoreUnreachable`` (connect,
DNS, timeout), ``StoreRefused`` (401/403, a missing repository or manifest, any other error status, a redirect),
``BlobNotFound`` (a file that is not in the image), ``UnsupportedOperation``, and ``ops.DigestMismatch`` when what the
registry sends is not what its digest says; their messages name the registry and repository, never a credential.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from olot.constants import ANNOTATION_LAYER_CONTENT_DIGEST, ANNOTATION_LAYER_CONTENT_INLAYERPATH

from modelreg.blobs.base import (
    READ_BLOCK,
    BlobNotFound,
    InvalidKey,
    Partial,
    Readable,
    StoreConfig,
    StoredFile,
    StoreRefused,
    UnsupportedOperation,
    check_key,
    check_prefix,
    hash_stream,
)
from modelreg.blobs.modelcar import MODELS_DIR, Layer, ModelCarPush, Progress, PushedImage, make_layer
from modelreg.blobs.oci_base import LAYER_GZIP
from modelreg.blobs.oci_refs import ImageRef, InvalidImageRef, parse_image_ref, repository_for, tag_for
from modelreg.blobs.oci_registry import INDEX_TYPES, RegistryClient
from modelreg.blobs.uris import EndpointMismatch

ANNOTATION_CONTENT_DIGEST = ANNOTATION_LAYER_CONTENT_DIGEST  # sha256 of the original file (olot's name)
HEADER_PREFIX = 64 * 1024  # bytes of a layer read to find its file's tar header (long names included)

__all__ = [
    "ANNOTATION_CONTENT_DIGEST",
    "MODELS_DIR",
    "ImageRef",
    "InvalidImageRef",
    "Layer",
    "ModelCarPush",
    "OciImageStore",
    "OciStore",
    "Progress",
    "PushedImage",
    "make_layer",
    "parse_image_ref",
    "repository_for",
    "tag_for",
]


class OciStore:
    """The store of an ``oci`` data connection: a registry (and repository prefix) with its credentials. It does
    not take keyed writes (``put_*`` raise ``UnsupportedOperation``): files go into images through ``push``."""

    def __init__(self, config: StoreConfig, base_image: str = "embedded") -> None:
        self.config = config
        self.base_image = base_image

    def check(self, repository: str | None = None, push: bool = False) -> None:
        """Reach the registry's ``/v2/`` with the credentials; with ``push``, also that ``repository`` accepts an
        upload (one is started and cancelled). ``StoreUnreachable``/``StoreRefused`` naming the cause."""
        with RegistryClient(self.config) as client:
            client.ping()
            if push and repository:
                client.cancel_upload(repository, client.start_upload(repository))

    def push(self, repository: str, mount_from: list[str] | None = None) -> ModelCarPush:
        """A ModelCar push into ``repository``; ``close`` it (or use it as a context manager) when done."""
        return ModelCarPush(self.config, repository, self.base_image, mount_from)

    def image(self, ref: ImageRef) -> OciImageStore:
        """Read access to one image of this registry (``ref.registry`` must be this connection's)."""
        if ref.registry.lower() != (self.config.registry or "").lower():
            raise EndpointMismatch(
                f"the image's registry {ref.registry} is not the connection's registry {self.config.registry}"
            )
        return OciImageStore(self.config, ref)

    def uri(self, key: str) -> str:
        """``oci://registry/<key>`` (``key`` = ``repository[:tag][@digest]``)."""
        return f"oci://{self.config.registry}/{key}"

    # the BlobStore methods an oci connection cannot honour
    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("an OCI registry takes whole images: upload through a ModelCar push")

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("an OCI registry takes whole images: upload through a ModelCar push")

    def open_read(self, key: str) -> IO[bytes]:
        raise UnsupportedOperation("read an OCI image through image(ref)")

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        raise UnsupportedOperation("an OCI registry is not listed by key: read an image through image(ref)")

    def delete_prefix(self, prefix: str) -> int:
        """Nothing is deleted: layers are shared between images (and repositories, by mount), so they are left to
        the registry's garbage collection once no manifest refers to them."""
        return 0

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        return iter(())

    def discard_partial(self, partial: Partial) -> None:
        return None

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None


@dataclass(frozen=True)
class _Entry:
    """Where one file of an image lives: its layer, its name in the layer's tar, its size and sha256."""

    layer: dict[str, Any]
    member: str
    size: int
    sha256: str


class OciImageStore:
    """One image, read file by file (the BlobStore read methods): keys are paths under ``/models``; each file is
    read from its layer, streamed, the layer's digest checked as it is read.

    The files come from the layers' olot annotations (``olot.layer.content.inlayerpath``), each size from the tar
    header at the start of its layer (a ranged read); a layer without them (an image built by other tools, or
    pushed through one that drops annotations) is read through and every regular file under ``models/`` in it is
    listed and hashed. The reference is resolved once per store object: the image it names then stays the same."""

    def __init__(self, config: StoreConfig, ref: ImageRef) -> None:
        self.config = config
        self.ref = ref
        self._digest: str | None = None
        self._manifest: dict[str, Any] | None = None
        self._files: dict[str, _Entry] | None = None

    def _resolve(self, client: RegistryClient) -> dict[str, Any]:
        """The image's manifest: the reference's, or for an index its linux/amd64 image (else its first)."""
        if self._manifest is None:
            media_type, body, digest = client.get_manifest(self.ref.repository, self.ref.reference)
            document = _json(body)
            if media_type in INDEX_TYPES or "manifests" in document:
                entry = _pick_platform(document.get("manifests") or [])
                if entry is None:
                    raise StoreRefused(f"the image index {self.ref.image()} lists no runnable image")
                _, body, _ = client.get_manifest(self.ref.repository, entry["digest"])
                document = _json(body)
            self._digest, self._manifest = digest, document
        return self._manifest

    def digest(self) -> str:
        """The digest the reference resolves to now (the manifest's, or the index's)."""
        if self._digest is None:
            with RegistryClient(self.config) as client:
                self._resolve(client)
        assert self._digest is not None
        return self._digest

    def _index(self) -> dict[str, _Entry]:
        if self._files is None:
            files: dict[str, _Entry] = {}
            with RegistryClient(self.config) as client:
                for layer in self._resolve(client).get("layers") or []:
                    files.update(self._layer_files(client, layer))
            self._files = files
        return self._files

    def _layer_files(self, client: RegistryClient, layer: dict[str, Any]) -> dict[str, _Entry]:
        annotations = layer.get("annotations") or {}
        path = annotations.get(ANNOTATION_LAYER_CONTENT_INLAYERPATH, "")
        key = _model_key(path)
        if key is not None and annotations.get("olot.layer.content.type", "file") == "file":
            header = self._first_header(client, layer)
            if header is not None and _model_key(header.name) == key and header.isreg():
                sha = annotations.get(ANNOTATION_CONTENT_DIGEST, "").removeprefix("sha256:")
                return {key: _Entry(layer, header.name, header.size, sha)}
        elif path:
            return {}  # annotated, outside /models: not the model's
        return self._scan(client, layer)

    def _first_header(self, client: RegistryClient, layer: dict[str, Any]) -> tarfile.TarInfo | None:
        prefix = client.read_blob_prefix(self.ref.repository, layer["digest"], HEADER_PREFIX)
        if layer.get("mediaType") == LAYER_GZIP or prefix[:2] == b"\x1f\x8b":
            try:
                prefix = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(prefix)
            except zlib.error:
                return None
        try:
            with tarfile.open(fileobj=io.BytesIO(prefix), mode="r|") as tar:
                return tar.next()
        except (tarfile.TarError, EOFError):
            return None

    def _scan(self, client: RegistryClient, layer: dict[str, Any]) -> dict[str, _Entry]:
        """Every regular file under ``models/`` in a layer, read through and hashed (digest checked at the end)."""
        files: dict[str, _Entry] = {}
        with client.open_blob(self.ref.repository, layer["digest"]) as blob:
            try:
                with tarfile.open(fileobj=blob, mode="r|*") as tar:
                    for member in tar:
                        key = _model_key(member.name)
                        if key is None or not member.isreg():
                            continue
                        content = tar.extractfile(member)
                        assert content is not None
                        _, digest = hash_stream(content)
                        files[key] = _Entry(layer, member.name, member.size, digest)
            except tarfile.ReadError:
                return {}  # not a tar layer (an artifact's blob): no files under /models
            _drain(blob)
        return files

    def files(self) -> list[StoredFile]:
        """Every file under ``/models`` with its size and the sha256 its layer's ``olot.layer.content.digest``
        annotation records (``""`` when the image does not say), sorted by path."""
        return [StoredFile(key, e.size, e.sha256) for key, e in sorted(self._index().items())]

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        start = check_prefix(prefix)
        return iter([key for key in sorted(self._index()) if key.startswith(start)])

    def open_read(self, key: str) -> IO[bytes]:
        """The file's bytes, streamed from its layer; at the end the rest of the layer is read and its digest
        checked (``DigestMismatch``)."""
        try:
            check_key(key)
        except InvalidKey:
            raise BlobNotFound(key) from None
        entry = self._index().get(key)
        if entry is None:
            raise BlobNotFound(key)
        client = RegistryClient(self.config)
        try:
            blob = client.open_blob(self.ref.repository, entry.layer["digest"])
            tar = tarfile.open(fileobj=blob, mode="r|*")  # noqa: SIM115 (the reader returned owns it)
            for member in tar:
                if member.name == entry.member and member.isreg():
                    content = tar.extractfile(member)
                    assert content is not None
                    return io.BufferedReader(_MemberReader(client, blob, content), buffer_size=READ_BLOCK)
            raise BlobNotFound(key)
        except BaseException:
            client.close()
            raise

    def check(self) -> None:
        with RegistryClient(self.config) as client:
            self._resolve(client)

    def uri(self, key: str) -> str:
        return self.ref.uri()

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None

    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("an OCI image is read-only")

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("an OCI image is read-only")

    def delete_prefix(self, prefix: str) -> int:
        raise UnsupportedOperation("an OCI image is read-only")

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        return iter(())

    def discard_partial(self, partial: Partial) -> None:
        return None


class _MemberReader(io.RawIOBase):
    """One tar member's bytes; at its end the rest of the layer is drained so the blob's digest gets checked."""

    def __init__(self, client: RegistryClient, blob: IO[bytes], content: IO[bytes]) -> None:
        self._client = client
        self._blob = blob
        self._content = content
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._content.read(len(buffer))
        if not data:
            if not self._done:
                self._done = True
                _drain(self._blob)
            return 0
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._blob.close()
            self._client.close()
        super().close()


def _pick_platform(manifests: list[dict[str, Any]]) -> dict[str, Any] | None:
    runnable = [m for m in manifests if isinstance(m, dict) and (m.get("platform") or {}).get("os") != "unknown"]
    for entry in runnable:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry
    return runnable[0] if runnable else None


def _model_key(name: str) -> str | None:
    """The key of a path in an image (``/models/a/b``, ``./models/a/b`` or ``models/a/b`` → ``a/b``); None when
    it is not under /models or not a safe key."""
    path = name.lstrip("/")
    path = path.removeprefix("./")
    if not path.startswith(MODELS_DIR + "/"):
        return None
    key = path[len(MODELS_DIR) + 1 :].rstrip("/")
    try:
        return check_key(key)
    except InvalidKey:
        return None


def _drain(blob: IO[bytes]) -> None:
    while blob.read(READ_BLOCK):
        pass


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise StoreRefused("the registry sent a manifest that is not JSON") from None
    if not isinstance(document, dict):
        raise StoreRefused("the registry sent a manifest that is not a JSON object")
    return document
