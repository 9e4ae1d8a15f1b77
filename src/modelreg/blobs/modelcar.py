"""ModelCar images as olot builds them, made while streaming: one uncompressed tar layer per file under ``/models``,
the model card (a top-level ``README.md``) as a tar+gzip layer, the base image's config extended with the layers'
``diff_ids`` and history, and the manifest (one per platform of a multi-platform base, under a new index).

Each layer is produced on the fly into the registry's blob upload: tar header, the file's bytes, padding and the
end-of-archive blocks, with the file's and the layer's SHA-256 computed in the same pass, so memory stays flat
whatever the file size. Headers are deterministic (mtime 0, uid/gid 0, no user names, mode 0664, directories
implied), so the same file at the same path always gives the same layer digest and a re-push can skip it. The
config is deterministic too (history entries carry no time), so a re-push of the same files sends no blob at all;
only the manifest (it carries ``org.opencontainers.image.created``) is new.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import struct
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from olot.constants import (
    ANNOTATION_LAYER_CONTENT_DIGEST,
    ANNOTATION_LAYER_CONTENT_INLAYERPATH,
    ANNOTATION_LAYER_CONTENT_NAME,
    ANNOTATION_LAYER_CONTENT_TYPE,
)

from modelreg.blobs.base import READ_BLOCK, Readable, SizeMismatch, StoreConfig, StoredFile, check_key
from modelreg.blobs.oci_base import LAYER_GZIP, LAYER_TAR, OCI_CONFIG, BaseImage, load_base_image
from modelreg.blobs.oci_refs import ImageRef
from modelreg.blobs.oci_registry import OCI_MANIFEST, RegistryClient, UploadCancelled, digest_of, json_bytes

MODELS_DIR = "models"  # the files live under /models in the image; KServe links it to /mnt/models
MODELCARD = "README.md"  # at the top of the model: its model card
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"
LAYER_TYPE = "io.opendatahub.modelcar.layer.type"
MANIFEST_MODELCARD = "io.opendatahub.layers.modelcard"
AUTHOR = "io.opendatahub.author"
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE  # tarfile (and so olot) pads an archive to whole records of 20 blocks
GZIP_LEVEL = 6  # olot's


@dataclass(frozen=True)
class Layer:
    """One file of a ModelCar as pushed: the file (``path`` relative to ``/models``, ``size``, ``sha256``) and its
    layer (``digest``, ``layer_size``, ``media_type``, olot's annotations). ``diff_id`` is the digest of the
    uncompressed tar: the layer's own digest for a plain tar, ``""`` when not known (a reused model card layer:
    ``finish`` reads it back)."""

    path: str
    size: int
    sha256: str
    digest: str
    layer_size: int
    media_type: str = LAYER_TAR
    annotations: dict[str, str] = field(default_factory=dict)
    diff_id: str = ""

    def stored(self) -> StoredFile:
        return StoredFile(key=self.path, size=self.size, sha256=self.sha256)

    @property
    def modelcard(self) -> bool:
        return self.media_type == LAYER_GZIP

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.layer_size,
            "annotations": self.annotations,
        }


@dataclass(frozen=True)
class PushedImage:
    ref: ImageRef  # with the digest (and the tag, if one was set)
    digest: str  # the manifest's digest (or the index's, for a multi-platform base)
    layers: tuple[Layer, ...]


Progress = Callable[[int], None]  # called with the number of bytes just sent or read


def is_modelcard(path: str) -> bool:
    return path == MODELCARD


def in_layer_path(path: str) -> str:
    return f"/{MODELS_DIR}/{path}"


def layer_annotations(path: str, sha256: str) -> dict[str, str]:
    """olot's annotations of the layer of one file (``sha256`` is the file's, hex)."""
    name = path.rsplit("/", 1)[-1]
    annotations = {TITLE: name}
    if is_modelcard(path):
        annotations[LAYER_TYPE] = "modelcard"
    annotations[ANNOTATION_LAYER_CONTENT_DIGEST] = f"sha256:{sha256}"
    annotations[ANNOTATION_LAYER_CONTENT_TYPE] = "file"
    annotations[ANNOTATION_LAYER_CONTENT_INLAYERPATH] = in_layer_path(path)
    annotations[ANNOTATION_LAYER_CONTENT_NAME] = name
    return annotations


def make_layer(path: str, size: int, sha256: str, digest: str, layer_size: int, diff_id: str = "") -> Layer:
    """The ``Layer`` a push made of this file, rebuilt from what an upload session records."""
    media_type = LAYER_GZIP if is_modelcard(path) else LAYER_TAR
    if media_type == LAYER_TAR:
        diff_id = digest
    return Layer(path, size, sha256, digest, layer_size, media_type, layer_annotations(path, sha256), diff_id)


def tar_header(path: str, size: int) -> bytes:
    """The GNU tar header of ``models/<path>`` (a long name gets its ``././@LongLink`` block, a size past 8 GiB the
    base-256 field, as olot's tarfile writes them)."""
    info = tarfile.TarInfo(f"{MODELS_DIR}/{path}")
    info.size = size
    info.mode = 0o664
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def tar_tail(header_size: int, size: int) -> bytes:
    """Padding of the file's last block, the two zero blocks ending the archive, and zeros to a whole record."""
    padding = -size % BLOCK
    body = header_size + size + padding + 2 * BLOCK
    return bytes(padding + 2 * BLOCK + (-body % RECORD))


# Where files' digests are computed while their layers are hashed and sent on the pushing thread (_OffThreadHash).
_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modelreg-hash")


class _OffThreadHash:
    """SHA-256 computed on another thread, one block behind the caller: a file's bytes are hashed twice (the file's
    digest for olot's annotation, the layer's for the registry), and hashlib releases the GIL on big buffers, so
    the two passes run on two cores instead of one after the other on the pushing thread."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending: Future[None] | None = None

    def update(self, block: bytes) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = _HASHERS.submit(self._hash.update, block)

    def hexdigest(self) -> str:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return self._hash.hexdigest()


class _Sender:
    """Reads ``size`` bytes from a stream in blocks, hashing them and reporting progress; short or long streams
    raise ``SizeMismatch``, a cancel ``UploadCancelled``."""

    def __init__(self, stream: Readable, size: int, cancelled: threading.Event, progress: Progress | None) -> None:
        self.stream = stream
        self.size = size
        self.cancelled = cancelled
        self.progress = progress
        self.file_hash = _OffThreadHash()

    def blocks(self) -> Iterator[bytes]:
        remaining = self.size
        while remaining:
            if self.cancelled.is_set():
                raise UploadCancelled("the push was cancelled")
            block = self.stream.read(min(READ_BLOCK, remaining))
            if not block:
                raise SizeMismatch(f"the stream ended {remaining} bytes before the announced {self.size}")
            remaining -= len(block)
            if remaining < 0:
                raise SizeMismatch(f"the stream ran longer than the announced {self.size} bytes")
            self.file_hash.update(block)
            if self.progress is not None:
                self.progress(len(block))
            yield block
        if self.stream.read(1):
            raise SizeMismatch(f"the stream ran longer than the announced {self.size} bytes")


def _tar_stream(path: str, sender: _Sender, layer_hash: Any) -> Iterator[bytes]:
    header = tar_header(path, sender.size)
    layer_hash.update(header)
    yield header
    for block in sender.blocks():
        layer_hash.update(block)
        yield block
    tail = tar_tail(len(header), sender.size)
    layer_hash.update(tail)
    yield tail


def _gzip_stream(chunks: Iterator[bytes], layer_hash: Any) -> Iterator[bytes]:
    """A deterministic gzip member (mtime 0, no name: GzipFile's header) of the chunks, hashed as compressed."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc, length = 0, 0
    head = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"
    layer_hash.update(head)
    yield head
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        length += len(chunk)
        if out := compressor.compress(chunk):
            layer_hash.update(out)
            yield out
    out = compressor.flush() + struct.pack("<II", crc, length & 0xFFFFFFFF)
    layer_hash.update(out)
    yield out


class _Body:
    """A blob upload's body: counts its bytes, and ends early on an error from the stream (kept in ``error``)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.size = 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.chunks:
                self.size += len(chunk)
                yield chunk
        except Exception as exc:  # raised by the push once the registry has ended the upload
            self.error = exc


@lru_cache(maxsize=8)
def base_image(spec: str) -> BaseImage:
    return load_base_image(spec)


class ModelCarPush:
    """Builds one ModelCar in one repository: ``add_file`` streams each file as its own layer (memory flat whatever
    the size; a layer the registry already has is not sent again when ``reuse`` finds it), ``finish`` pushes the base
    image's blobs (mounted or skipped when present), the config and the manifest, and sets the tag. ``cancel`` ends
    the registry's open blob upload, if any; layers already complete stay until the registry's garbage collection.

    ``finish`` needs nothing from earlier calls but its ``layers``: each file may be pushed by another instance (one
    per request of an upload session), and the layers rebuilt with ``make_layer`` from what the session recorded."""

    def __init__(
        self, config: StoreConfig, repository: str, base: str = "embedded", mount_from: list[str] | None = None
    ) -> None:
        self.config = config
        self.repository = repository
        self.base = base
        self.mount_from = [r for r in (mount_from or []) if r != repository]
        self.client = RegistryClient(config)
        self._cancelled = threading.Event()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ModelCarPush:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reuse(self, path: str, size: int, sha256: str, digest: str, layer_size: int) -> Layer | None:
        """The layer a previous push made of this exact file (same path, size and content) if the registry still
        has it in this repository, or can mount it from ``mount_from``; None: send the bytes."""
        check_key(path)
        known = self.client.blob_size(self.repository, digest)
        present = known is not None and known in (-1, layer_size)
        if not present and not any(self.client.mount(self.repository, digest, source) for source in self.mount_from):
            return None
        return make_layer(path, size, sha256, digest, layer_size)

    def add_file(self, path: str, stream: Readable, size: int, progress: Progress | None = None) -> Layer:
        """Stream ``size`` bytes as the layer of ``/models/<path>``; ``SizeMismatch`` if the stream ends early or
        runs long (the blob upload is cancelled). A top-level ``README.md`` becomes the model card layer."""
        check_key(path)
        if size < 0:
            raise SizeMismatch("a file's size cannot be negative")
        sender = _Sender(stream, size, self._cancelled, progress)
        layer_hash = hashlib.sha256()
        if is_modelcard(path):
            diff_hash = hashlib.sha256()
            body = _Body(_gzip_stream(_tar_stream(path, sender, diff_hash), layer_hash))
        else:
            body = _Body(_tar_stream(path, sender, layer_hash))
        self._send(body, layer_hash)
        digest = "sha256:" + layer_hash.hexdigest()
        diff_id = "sha256:" + diff_hash.hexdigest() if is_modelcard(path) else digest
        return make_layer(path, size, sender.file_hash.hexdigest(), digest, body.size, diff_id)

    def _send(self, body: _Body, layer_hash: Any) -> None:
        """One blob upload: POST, one streamed PATCH, PUT with the digest computed on the way. On any error the
        upload is cancelled; a stream error ends the PATCH body early (chunked) instead of dropping the connection,
        so the registry is done with the upload when the DELETE comes (docker-registry would otherwise recreate it
        as its PATCH handler winds down)."""
        if self._cancelled.is_set():
            raise UploadCancelled("the push was cancelled")
        upload = self.client.start_upload(self.repository)
        try:
            upload = self.client.send_upload(self.repository, upload, body, None)
            if body.error is not None:
                raise body.error
            self.client.finish_upload(self.repository, upload, "sha256:" + layer_hash.hexdigest())
        except BaseException as exc:
            self.client.cancel_upload(self.repository, upload)
            error = body.error or exc
            if self._cancelled.is_set() and not isinstance(error, UploadCancelled):
                raise UploadCancelled("the push was cancelled") from error
            if error is exc:
                raise
            raise error from None

    def _send_file(self, path: Path, digest: str, size: int) -> None:
        """A base image blob from the layout, streamed."""
        with open(path, "rb") as f:
            sender = _Sender(f, size, self._cancelled, None)
            self._send(_Body(sender.blocks()), _Fixed(digest))

    def finish(self, layers: list[Layer], tag: str | None, annotations: dict[str, str] | None = None) -> PushedImage:
        """Push config and manifest for these layers (in this order, the model card last, as olot puts it) on the
        base image, tagged with ``tag`` (or by digest only, when None)."""
        base = base_image(self.base)
        ordered = [layer for layer in layers if not layer.modelcard] + [layer for layer in layers if layer.modelcard]
        ordered = [self._with_diff_id(layer) for layer in ordered]
        self._push_base_blobs(base)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        top: tuple[str, bytes] | None = None
        entries = []
        for image in base.images:
            config = image_config(image.config, ordered)
            config_bytes = json_bytes(config)
            config_digest = self.client.push_blob(self.repository, config_bytes)
            manifest = image_manifest(image.manifest, config_digest, len(config_bytes), ordered, created, annotations)
            body = json_bytes(manifest)
            digest = self.client.put_manifest(self.repository, digest_of(body), body, OCI_MANIFEST)
            entries.append(
                {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), **_platform(image.platform)}
            )
            top = (OCI_MANIFEST, body)
        if base.index is not None:
            index = {
                **copy.deepcopy(base.index),
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": entries,
            }
            index.setdefault("schemaVersion", 2)
            top = (index["mediaType"], json_bytes(index))
            self.client.put_manifest(self.repository, digest_of(top[1]), top[1], top[0])
        assert top is not None
        media_type, body = top
        digest = digest_of(body)
        if tag:
            self.client.put_manifest(self.repository, tag, body, media_type)
        ref = ImageRef(self.config.registry or "", self.repository, tag, digest)
        return PushedImage(ref=ref, digest=digest, layers=tuple(ordered))

    def _with_diff_id(self, layer: Layer) -> Layer:
        if layer.diff_id:
            return layer
        if layer.media_type == LAYER_TAR:
            return dataclasses.replace(layer, diff_id=layer.digest)
        diff_hash = hashlib.sha256()
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        with self.client.open_blob(self.repository, layer.digest) as blob:
            while block := blob.read(READ_BLOCK):
                diff_hash.update(inflater.decompress(block))
        diff_hash.update(inflater.flush())
        return dataclasses.replace(layer, diff_id="sha256:" + diff_hash.hexdigest())

    def _push_base_blobs(self, base: BaseImage) -> None:
        descriptors = base.layer_blobs()
        for descriptor in descriptors:
            digest, size = descriptor["digest"], int(descriptor["size"])
            if self.client.blob_size(self.repository, digest) is not None:
                continue
            if any(self.client.mount(self.repository, digest, source) for source in self.mount_from):
                continue
            self._send_file(base.blob_path(digest), digest, size)

    def set_tag(self, image: PushedImage, tag: str) -> None:
        """Point ``tag`` at an already pushed manifest."""
        media_type, body, _ = self.client.get_manifest(image.ref.repository, image.digest)
        self.client.put_manifest(image.ref.repository, tag, body, media_type)

    def cancel(self) -> None:
        """Stop an ``add_file`` in progress: at its next block it ends the upload's body, cancels the upload and
        raises ``UploadCancelled``; later calls raise it at once."""
        self._cancelled.set()


class _Fixed:
    """A hash stand-in for a blob whose digest is known in advance (the registry checks it)."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def update(self, data: bytes) -> None:
        return None

    def hexdigest(self) -> str:
        return self.digest.removeprefix("sha256:")


def _platform(platform: dict[str, Any] | None) -> dict[str, Any]:
    return {"platform": platform} if platform else {}


def image_config(base: dict[str, Any], layers: list[Layer]) -> dict[str, Any]:
    """The base's config with the layers' diff_ids and one history entry each (no time: deterministic)."""
    config = copy.deepcopy(base)
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs.setdefault("diff_ids", []).extend(layer.diff_id for layer in layers)
    history = config.setdefault("history", [])
    for layer in layers:
        suffix = " (modelcard)" if layer.modelcard else ""
        history.append({"created_by": f"modelreg ModelCar layer {in_layer_path(layer.path)}{suffix}"})
    return config


def image_manifest(
    base: dict[str, Any],
    config_digest: str,
    config_size: int,
    layers: list[Layer],
    created: str,
    annotations: dict[str, str] | None,
) -> dict[str, Any]:
    """The base's manifest with the new config, the layers appended and olot's manifest annotations."""
    manifest = copy.deepcopy(base)
    manifest["schemaVersion"] = 2
    manifest["mediaType"] = OCI_MANIFEST
    manifest["config"] = {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size}
    manifest["layers"] = list(manifest.get("layers", [])) + [layer.descriptor() for layer in layers]
    notes = dict(manifest.get("annotations") or {})
    notes[AUTHOR] = "modelreg"
    notes[CREATED] = created
    cards = [layer for layer in layers if layer.modelcard]
    if cards:
        notes[MANIFEST_MODELCARD] = cards[-1].digest
    notes.update(annotations or {})
    manifest["annotations"] = notes
    return manifest
