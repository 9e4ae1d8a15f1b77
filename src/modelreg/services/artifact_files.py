"""The files of a model version's artifact: list, read, verify, presign.

Two kinds of artifacts are understood. Those modelreg uploaded have a recorded manifest (path, size, SHA-256 of
every file; ``services/uploads.py``), so reads and ``verify`` check against it. Those registered with only a URI
(the upstream client's ``s3://bucket/path?endpoint=..&defaultRegion=..``, ``file://``, ``https://``) are listed
from the store and hashed on demand, with nothing to compare against.

The server reads with its own credentials, so a URI alone must not reach anything an admin did not configure: an
``s3`` URI needs a data connection for its bucket and endpoint (and is then read from the connection's endpoint,
with the connection's credentials only), a ``file`` URI must lie inside a ``local`` connection's directory (read
through that connection, so symlinks cannot lead out), and an ``http(s)`` URI under a ``uri`` connection's base URL
(compared as normalized URLs, dot segments refused, redirects not followed).

An ``oci://registry/repository[:tag][@sha256:…]`` artifact (a ModelCar: one layer per file under ``/models``) is
read through the ``oci`` connection its storageKey names, or else the first one for its registry whose repository
prefix covers the repository. Its files are those modelreg recorded when it pushed the image, or else those the
image's layers announce (with the digests olot's annotations record). ``verify`` also asks the registry for the
manifest a pinned ``@sha256:`` names: a registry that no longer has it, or serves other bytes, fails the check.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import select

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.blobs.base import (
    BlobNotFound,
    BlobStore,
    InvalidKey,
    StoreConfig,
    StoredFile,
    StoreRefused,
    check_key,
    join_key,
)
from modelreg.blobs.oci import ImageRef, InvalidImageRef, OciImageStore, parse_image_ref
from modelreg.blobs.ops import DigestMismatch, hash_key
from modelreg.blobs.uris import EndpointMismatch, InvalidUri, Location, http_url_under, parse_uri, resolve_uri
from modelreg.db.database import Database
from modelreg.db.tables import artifact_attributions, artifacts
from modelreg.errors import Conflict, Forbidden, InvalidInput, NotFound
from modelreg.services import clock, uploads
from modelreg.services import entities as e
from modelreg.services.connections import ConnectionService, covers
from modelreg.services.store_faults import store_faults

DEFAULT_PRESIGN_SECONDS = 3600
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact; ``size``/``sha256`` are None when nothing was recorded (and it was not read)."""

    path: str
    size: int | None
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class StoredArtifact:
    artifact_id: int
    uri: str
    connection: str | None
    store: BlobStore
    base: str  # the key files are relative to; a single file is ``base/<its name>`` for uploads
    single_key: str | None  # the object key of a single-file artifact registered by URI (``base`` is its folder)
    files: tuple[FileEntry, ...]
    recorded: bool
    image: ImageRef | None = None  # an oci:// artifact's image (its files are read from its layers)

    def key(self, path: str) -> str:
        """The object key of a listed file (callers look the path up with ``entry`` first)."""
        if self.single_key is not None:
            return self.single_key
        return join_key(self.base, path)

    def entry(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise NotFound(f"artifact {self.artifact_id} has no file {path[:200]!r}")

    @property
    def total_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifactId": str(self.artifact_id),
            "uri": self.uri,
            "connection": self.connection,
            "recorded": self.recorded,
            "totalSize": self.total_size,
            "items": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True)
class Check:
    path: str
    status: str  # ok | mismatch | missing | unrecorded
    expected: StoredFile | None
    actual: StoredFile | None

    def to_dict(self) -> dict[str, Any]:
        def sized(f: StoredFile | None) -> dict[str, Any] | None:
            return None if f is None else {"size": f.size, "sha256": f.sha256}

        return {
            "path": self.path,
            "status": self.status,
            "expected": sized(self.expected),
            "actual": sized(self.actual),
        }


@dataclass(frozen=True)
class ImageCheck:
    """An oci:// artifact's pinned manifest digest against what the registry serves for it now."""

    expected: str
    actual: str | None  # None: the registry no longer has it
    status: str  # ok | mismatch | missing

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class VerifyReport:
    artifact: StoredArtifact
    checks: tuple[Check, ...]
    image: ImageCheck | None = None

    @property
    def ok(self) -> bool:
        image_ok = self.image is None or self.image.status == "ok"
        return image_ok and all(c.status in ("ok", "unrecorded") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "artifactId": str(self.artifact.artifact_id),
            "uri": self.artifact.uri,
            "ok": self.ok,
            "recorded": self.artifact.recorded,
            "items": [c.to_dict() for c in self.checks],
        }
        if self.image is not None:
            out["image"] = self.image.to_dict()
        return out


class ArtifactFiles:
    def __init__(self, db: Database, connections: ConnectionService) -> None:
        self.db = db
        self.connections = connections

    def locate(self, version_id: int) -> StoredArtifact:
        """The version's model artifact (the newest one with a URI) and where its files are."""
        return self._locate(version_id)

    def _locate(self, version_id: int, verifying: bool = False) -> StoredArtifact:
        """``verifying``: an oci image the registry no longer has is listed with no files (verify says why)."""
        context.require(Permission.READ, "read artifacts")
        with self.db.read() as conn:
            e.load(conn, e.MODEL_VERSION, version_id)  # 404 for an unknown version
            a = artifact_attributions.c
            row = (
                conn.execute(
                    select(artifacts)
                    .where(
                        a.parent_kind == "model_version",
                        a.parent_id == version_id,
                        a.artifact_id == artifacts.c.id,
                        artifacts.c.artifact_type == "model-artifact",
                        artifacts.c.uri.is_not(None),
                        artifacts.c.uri != "",
                    )
                    .order_by(artifacts.c.id.desc())
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"model version {version_id} has no model artifact with a URI")
            upload = uploads.for_artifact(conn, row["id"], row["uri"])
        if str(row["uri"]).lower().startswith("oci://"):
            named = upload.connection if upload else row["storage_key"]
            return self._oci(row["id"], row["uri"], named, upload, verifying)
        if upload is not None:
            return StoredArtifact(
                artifact_id=row["id"],
                uri=row["uri"],
                connection=upload.connection,
                store=self.connections.open(upload.connection),
                base=upload.key,
                single_key=None,
                files=tuple(FileEntry(f.key, f.size, f.sha256) for f in upload.files),
                recorded=True,
            )
        return self._by_uri(row["id"], row["uri"], row["storage_key"])

    def open(self, version_id: int, path: str) -> tuple[FileEntry, IO[bytes]]:
        stored = self.locate(version_id)
        entry = stored.entry(path)
        with store_faults(f"cannot read {path[:200]!r} of artifact {stored.artifact_id}"):
            try:
                return entry, stored.store.open_read(stored.key(path))
            except BlobNotFound:
                raise NotFound(f"{path[:200]!r} of artifact {stored.artifact_id} is missing from its store") from None

    def verify(self, version_id: int) -> VerifyReport:
        """Re-hash every file in the store and compare with what was recorded at upload."""
        stored = self._locate(version_id, verifying=True)
        with store_faults(f"cannot verify artifact {stored.artifact_id}"):
            image = _image_check(stored)
            if image is not None and image.status == "missing":  # no manifest, no layers to read
                missing = tuple(Check(f.path, "missing", _expected(f), None) for f in stored.files)
                return VerifyReport(stored, missing, image)
            return VerifyReport(stored, tuple(self._check(stored, f) for f in stored.files), image)

    def presign(self, version_id: int, path: str | None, expires_seconds: int) -> tuple[str, FileEntry, int]:
        """A URL that serves one file without credentials until it expires (the URL itself for http(s) stores)."""
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise InvalidInput(f"invalid expiresIn {expires_seconds}: 1 to {MAX_PRESIGN_SECONDS} seconds")
        stored = self.locate(version_id)
        if path is None:
            if len(stored.files) != 1:
                raise InvalidInput(f"artifact {stored.artifact_id} has {len(stored.files)} files: give a path")
            path = stored.files[0].path
        entry = stored.entry(path)
        with store_faults(f"cannot presign {path[:200]!r} of artifact {stored.artifact_id}"):
            url = stored.store.presign(stored.key(path), expires_seconds) or stored.store.uri(stored.key(path))
        if not url.startswith(("http://", "https://")):
            raise Conflict(
                f"the store of {_shown(stored.uri)} ({stored.connection or 'a local directory'}) cannot make "
                "presigned URLs: download the files through this API instead"
            )
        return url, entry, clock.now_ms() + expires_seconds * 1000

    # --- internals ---------------------------------------------------------------------------------------------

    def _check(self, stored: StoredArtifact, entry: FileEntry) -> Check:
        expected = _expected(entry)
        try:
            actual = hash_key(stored.store, stored.key(entry.path))
        except BlobNotFound:
            return Check(entry.path, "missing", expected, None)
        except DigestMismatch:  # an image layer whose bytes are not its digest's
            return Check(entry.path, "mismatch", expected, None)
        actual = StoredFile(entry.path, actual.size, actual.sha256)
        if expected is None:
            return Check(entry.path, "unrecorded", None, actual)
        same = (actual.size, actual.sha256) == (expected.size, expected.sha256)
        return Check(entry.path, "ok" if same else "mismatch", expected, actual)

    def _by_uri(self, artifact_id: int, uri: str, storage_key: str | None) -> StoredArtifact:
        try:
            location = parse_uri(uri)
        except InvalidUri as exc:
            raise InvalidInput(f"artifact {artifact_id}: {exc}") from None
        connection, config, key = self._allowed(location, storage_key, uri)
        store = self.connections.open_config(config)
        if config.type == "uri":
            name = posixpath.basename(uri.split("?", 1)[0].rstrip("/")) or "artifact"
            files: tuple[FileEntry, ...] = (FileEntry(name, None, None),)
            return StoredArtifact(artifact_id, uri, connection, store, "", "", files, False)
        with store_faults(f"cannot list artifact {artifact_id} ({_shown(uri)})"):
            listed = sorted(store.iter_keys(key)) if key else sorted(store.iter_keys(""))
        base = key.rstrip("/")
        if listed:
            files = tuple(FileEntry(k[len(base) :].lstrip("/") if base else k, None, None) for k in listed)
            return StoredArtifact(artifact_id, uri, connection, store, base, None, files, False)
        files = (FileEntry(posixpath.basename(base) or "artifact", None, None),)
        return StoredArtifact(artifact_id, uri, connection, store, posixpath.dirname(base), base, files, False)

    def _oci(
        self, artifact_id: int, uri: str, named: str | None, upload: uploads.Upload | None, verifying: bool = False
    ) -> StoredArtifact:
        """An image read through the connection the upload or storageKey names (when it serves that registry and
        repository), else the one ``matching_oci`` finds; 409 when no connection covers it."""
        try:
            ref = parse_image_ref(uri)
        except InvalidImageRef as exc:
            raise InvalidInput(f"artifact {artifact_id}: {exc}") from None
        found = None
        if named:
            try:
                config: StoreConfig | None = self.connections.resolve(named)
            except NotFound:
                config = None
            if config is not None and _serves(config, ref):
                found = named, config
        found = found or self.connections.matching_oci(ref.registry, ref.repository)
        if found is None:
            raise Conflict(
                f"no oci data connection for registry {ref.registry!r} covers repository {ref.repository!r}: an admin "
                "must create one before modelreg can read this artifact"
            )
        connection, config = found
        image = OciImageStore(config, ref)
        if upload is not None:
            files = tuple(FileEntry(f.key, f.size, f.sha256) for f in upload.files)
        else:
            with store_faults(f"cannot list artifact {artifact_id} ({_shown(uri)})"):
                try:
                    listed = image.files()
                except StoreRefused as exc:
                    if not (verifying and _manifest_gone(exc)):
                        raise
                    listed = []
            files = tuple(FileEntry(f.key, f.size, f.sha256 or None) for f in listed)
        return StoredArtifact(artifact_id, uri, connection, image, "", None, files, upload is not None, ref)

    def _allowed(self, location: Location, storage_key: str | None, uri: str) -> tuple[str | None, StoreConfig, str]:
        """The connection that covers a URI, the configuration to read it with and the key inside that store;
        refuses a URI no admin-made connection covers."""
        config = location.config
        if config.type == "s3":
            return self._s3(location, storage_key, uri)
        if config.type == "local":
            for connection in self.connections.list():
                if connection.type == "local" and connection.directory:
                    key = _relative_key("/" + location.key, connection.directory)
                    if key is not None:
                        return connection.name, StoreConfig(type="local", directory=connection.directory), key
            raise Conflict(
                f"{uri[:200]} is not inside a local connection's directory: modelreg only reads locations an admin "
                "configured"
            )
        try:
            for connection in self.connections.list():
                if connection.type == "uri" and connection.base_url and http_url_under(uri, connection.base_url):
                    return connection.name, config, ""
        except InvalidUri as exc:
            raise InvalidInput(f"refusing the artifact URI {_shown(uri)}: {exc}") from None
        raise Conflict(
            f"{_shown(uri)} is not under a uri connection's base URL: modelreg only reads locations an admin configured"
        )

    def _s3(self, location: Location, storage_key: str | None, uri: str) -> tuple[str | None, StoreConfig, str]:
        """The connection the artifact names (``storageKey``), or else one for the URI's bucket and endpoint. The
        store is the connection's: its endpoint and credentials; the URI gives only the bucket and the key."""
        bucket = location.config.bucket or ""
        if storage_key:
            try:
                named: StoreConfig | None = self.connections.resolve(storage_key)
            except NotFound:
                named = None
            if named is not None and named.type == "s3" and named.bucket == bucket:
                try:
                    return storage_key, resolve_uri(uri, named).config, location.key
                except EndpointMismatch as exc:
                    raise Forbidden(
                        f"refusing to read {_shown(uri)} through data connection {storage_key!r}: {exc}; modelreg "
                        "only sends requests to a connection's own endpoint"
                    ) from None
        found = self.connections.matching_s3(bucket, location.config.endpoint)
        if found is None:
            where = f" at {location.config.endpoint[:200]}" if location.config.endpoint else ""
            raise Conflict(
                f"no s3 data connection for bucket {bucket!r}{where}: an admin must create one before modelreg can "
                "read this artifact"
            )
        name, config = found
        return name, resolve_uri(uri, config).config, location.key


def _expected(entry: FileEntry) -> StoredFile | None:
    return None if entry.sha256 is None else StoredFile(entry.path, entry.size or 0, entry.sha256)


def _serves(config: StoreConfig, ref: ImageRef) -> bool:
    """Whether an oci connection's registry and repository prefix cover an image."""
    registry = (config.registry or "").lower()
    return config.type == "oci" and registry == ref.registry.lower() and covers(config.prefix, ref.repository)


def _image_check(stored: StoredArtifact) -> ImageCheck | None:
    """For an image pinned by digest: whether the registry still serves that manifest, unchanged."""
    ref = stored.image
    if ref is None or ref.digest is None or not isinstance(stored.store, OciImageStore):
        return None
    pinned = OciImageStore(stored.store.config, ImageRef(ref.registry, ref.repository, digest=ref.digest))
    try:
        actual = pinned.digest()
    except BlobNotFound:
        return ImageCheck(ref.digest, None, "missing")
    except StoreRefused as exc:
        if _manifest_gone(exc):
            return ImageCheck(ref.digest, None, "missing")
        raise
    return ImageCheck(ref.digest, actual, "ok" if actual == ref.digest else "mismatch")


def _manifest_gone(exc: StoreRefused) -> bool:
    """The registry answered that the image (or its whole repository) is not there (blobs/oci_registry.py names
    the distribution error code in the message)."""
    return any(code in str(exc) for code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"))


def _relative_key(path: str, directory: str) -> str | None:
    """``path`` as a key inside ``directory`` (as written, or with the directory's links resolved), or None if it is
    not inside. The key is then read through the directory's store, which resolves links and confines them."""
    target = PurePosixPath(path)
    real_root = Path(directory).resolve()
    for root in (PurePosixPath(directory), PurePosixPath(real_root)):
        if target == root:
            return ""
        if target.is_relative_to(root):
            try:
                key = check_key(target.relative_to(root).as_posix())
            except InvalidKey:
                return None
            # a link (to the file itself or on the way) that leads out: not inside, whatever the path says
            return key if (real_root / key).resolve().is_relative_to(real_root) else None
    return None


def _shown(uri: str) -> str:
    """An artifact URI fit for a message: its query (signatures, tokens) left out."""
    return uri.split("?", 1)[0][:200]


def iter_blocks(stream: IO[bytes], block: int = 1024 * 1024) -> Iterator[bytes]:
    """Read a store stream in blocks and close it, for streamed responses."""
    try:
        while data := stream.read(block):
            yield data
    finally:
        stream.close()
