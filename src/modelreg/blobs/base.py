"""The blob-store contract shared by every backend, the store configuration and the hashing reader.

Artifacts are files under a key (``models/7/weights.bin``); a store only moves bytes and reports their SHA-256, so the
registry can record digests and check them later whatever the backend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import IO, Literal, Protocol, runtime_checkable

READ_BLOCK = 1024 * 1024  # big enough that hashlib releases the GIL and syscalls stay cheap, small enough to not matter


class Readable(Protocol):
    """What a store reads an upload from: ``read`` alone, so a request body (``api/storage/bodies.py``) or a socket
    qualifies as well as a file."""

    def read(self, size: int = -1, /) -> bytes: ...


class BlobError(Exception):
    """Base class of every blob-store error."""


class InvalidKey(BlobError, ValueError):
    """A key that could name something outside the store (``..``, absolute, empty segments)."""


class BlobNotFound(BlobError, KeyError):
    """No object under that key."""


class SizeMismatch(BlobError):
    """The stream ended before (or after) the size the caller announced; nothing is kept."""


class UnsupportedOperation(BlobError):
    """The store cannot do this (e.g. writing to a plain https URL)."""


class StoreUnreachable(BlobError):
    """The store could not be reached (connection refused, DNS, timeout): a retry later may work."""


class StoreRefused(BlobError):
    """The store answered but refused or failed: access denied, a missing bucket, a redirect, a server error, no
    credentials. The message names the cause and never a secret."""


@dataclass(frozen=True)
class Partial:
    """An unfinished write left by a crash: a local temp file, or an S3 multipart upload never completed."""

    key: str  # relative to the store: the temp file's path, or the key the multipart upload was for
    started: float  # epoch seconds: the temp file's last write, or the multipart upload's initiation
    upload_id: str = ""  # S3's id of the multipart upload


@dataclass(frozen=True)
class StoredFile:
    """What a store knows about one object once it is written or re-hashed."""

    key: str
    size: int
    sha256: str


StoreType = Literal["s3", "local", "uri", "oci"]


@dataclass(frozen=True)
class StoreConfig:
    """Where a store keeps its objects. ``type="uri"`` is a read-only store over plain http(s) URLs (``base_url``).

    The secret never appears in ``repr``/``str`` so that logging a config cannot leak it.
    """

    type: StoreType = "s3"
    endpoint: str | None = None
    region: str | None = None
    bucket: str | None = None
    prefix: str = ""
    path_style: bool = False
    access_key_id: str | None = None
    secret_access_key: str | None = None
    directory: str | None = None
    base_url: str | None = None
    # S3 over plain http: sign each request's payload (a SHA-256 pass over every byte) or send UNSIGNED-PAYLOAD, as
    # boto3 does over https. Integrity does not rest on it: every part carries a CRC32 the server checks, and
    # modelreg records the SHA-256 of every file and verifies downloads against it.
    sign_payload: bool = False
    # S3: sign with boto3's default credential chain (environment, instance role, IRSA...). Off, a store signs only
    # with its own keys, or sends unsigned requests when it has none, so no URI can borrow the server's identity.
    use_workload_identity: bool = False
    # OCI registries (type "oci", blobs/oci*.py): "host[:port]"; the repository prefix is ``prefix``, the username
    # ``access_key_id`` and the password ``secret_access_key``, or a whole ``.dockerconfigjson`` in ``dockerconfig``.
    # Plain http only when ``plain_http`` is set; otherwise https with the system's CAs.
    registry: str | None = None
    plain_http: bool = False
    dockerconfig: str | None = None

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("secret_access_key", "dockerconfig") and value is not None:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"StoreConfig({', '.join(parts)})"

    __str__ = __repr__


@runtime_checkable
class BlobStore(Protocol):
    """A flat namespace of immutable-once-written objects addressed by ``/``-separated keys.

    Prefixes given to ``iter_keys``/``delete_prefix`` are directory-like: ``"models/1"`` means ``"models/1/"`` (never
    ``models/10/...``), and ``""`` means everything in the store.
    """

    def put_file(self, key: str, path: str) -> StoredFile:
        """Upload a local file, hashing it on the way."""
        ...

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        """Upload from a stream read once, sequentially, with bounded memory; ``size`` is checked when given."""
        ...

    def open_read(self, key: str) -> IO[bytes]:
        """A streamed binary reader; raises ``BlobNotFound``. Close it (it is a context manager)."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under a directory-like prefix, relative to the store (not to the prefix)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object, and every unfinished write, under a directory-like prefix; returns how many objects
        were deleted."""
        ...

    def presign(self, key: str, expires_seconds: int) -> str | None:
        """A time-limited URL that serves the object without credentials, or None if the store cannot make one."""
        ...

    def check(self) -> None:
        """Reach the store and confirm it is usable (endpoint, credentials, bucket or directory); raises
        ``StoreUnreachable``/``StoreRefused`` naming the cause."""
        ...

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        """Unfinished writes under a directory-like prefix (``delete_prefix`` removes them too)."""
        ...

    def discard_partial(self, partial: Partial) -> None:
        """Remove one unfinished write; one that is already gone is not an error."""
        ...

    def uri(self, key: str) -> str:
        """The URI recorded on the artifact (``s3://bucket/key``, ``file:///...``)."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key; no backend ever sees ``..``, ``.``, ``//``, ``\\`` or NUL."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid blob key {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Normalise a directory-like prefix to ``""`` or ``"a/b/"`` after the same checks as a key."""
    prefix = prefix.rstrip("/")
    if not prefix:
        return ""
    return check_key(prefix) + "/"


def join_key(*parts: str) -> str:
    """Join key fragments with single slashes, ignoring empty ones."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class HashingReader:
    """Wrap a stream so that every byte read passes through SHA-256 exactly once.

    It says it is not seekable on purpose: s3transfer then reads it sequentially from one thread and hands each part
    to the workers as its own buffer, so the digest is correct however many parts are in flight and retries re-read
    the buffer, not this stream.
    """

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int | None = -1) -> bytes:
        """Return exactly ``amount`` bytes unless the stream ends first.

        s3transfer takes a short read for the end of the stream (it would send a truncated object), but sockets and
        request bodies return whatever has arrived, so short reads are filled here.
        """
        want = -1 if amount is None or amount < 0 else amount
        data = self._raw.read(want)
        if data and want >= 0 and len(data) < want:
            buffer = bytearray(data)
            while len(buffer) < want and (more := self._raw.read(want - len(buffer))):
                buffer += more
            data = bytes(buffer)
        elif data and want < 0:
            buffer = bytearray(data)
            while more := self._raw.read(READ_BLOCK):
                buffer += more
            data = bytes(buffer)
        if data:
            self._hash.update(data)
            self.size += len(data)
        return data or b""

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def hash_stream(stream: IO[bytes]) -> tuple[int, str]:
    """Size and SHA-256 of what is left in a stream, read in blocks so memory stays flat."""
    digest = hashlib.sha256()
    size = 0
    while block := stream.read(READ_BLOCK):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def hash_file(path: str) -> tuple[int, str]:
    with open(path, "rb") as f:
        return hash_stream(f)
