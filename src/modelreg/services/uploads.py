"""Artifact uploads: a session collects files, and commit registers them in one transaction.

Why sessions: a directory is many files and each may be gigabytes, so no single request can carry an upload and
stay resumable per file. A session (``begin``) names the model, version and connection and owns a fresh key prefix;
each file is streamed into the store with ``put`` (hashed on the way, so the server knows every digest without
trusting the client); ``commit`` then creates whatever is missing (registered model, version) and the model
artifact with its URI, size and digests, all in one database transaction. Until commit nothing is registered, so an
interrupted upload never leaves a half-registered version; ``abort`` (or expiry of an idle session) deletes the
objects and the partial writes a crashed process left (temp files, incomplete multipart uploads). Sessions live in
the database, so consecutive requests may reach different server processes.

A process killed mid-PUT cleans nothing up. While its session is open, expiry removes what it left; if the session
was already over (aborted or committed by another process while the PUT ran), nothing would, so ``sweep_orphans``
runs once when a server starts: it expires idle sessions, then removes the partial writes under the key of any
closed session that are older than the session lifetime.

Through an ``oci`` connection the same protocol builds a ModelCar image instead (``upload_images.py``): the key is
the repository, each PUT pushes a layer, and commit pushes the image before it registers the artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.blobs.base import (
    BlobError,
    BlobStore,
    InvalidKey,
    Partial,
    Readable,
    StoredFile,
    check_key,
    join_key,
)
from modelreg.blobs.local import TMP_MARK, LocalStore
from modelreg.blobs.oci import Layer, ModelCarPush, PushedImage
from modelreg.db.database import Database
from modelreg.db.repository import AnyRow
from modelreg.db.tables import NAME_LENGTH, artifact_attributions, artifacts, upload_files, uploads
from modelreg.errors import Conflict, Forbidden, InvalidInput, LengthRequired, NotFound, RegistryError
from modelreg.services import audit, clock
from modelreg.services import entities as e
from modelreg.services import upload_images as images
from modelreg.services.connections import ConnectionService
from modelreg.services.properties import PropValue
from modelreg.services.registry import create_linked_artifact
from modelreg.services.store_faults import store_faults
from modelreg.telemetry import workers

log = logging.getLogger(__name__)

MAX_PATH = 512  # upload_files.path
DEFAULT_TTL_SECONDS = 24 * 3600
# Custom properties of an uploaded model artifact; the artifact's storageKey/storagePath name the connection and key.
SHA256_PROPERTY = "modelreg.sha256"  # the file's digest, or for a directory the digest of its manifest
SIZE_PROPERTY = "modelreg.size"
FILES_PROPERTY = "modelreg.files"
OCI_DIGEST_PROPERTY = "modelreg.oci.digest"  # the image's manifest digest (its URI pins it too)
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_u = uploads.c
_f = upload_files.c


@dataclass(frozen=True)
class Upload:
    id: str
    state: str  # open | committed | aborted | deleted (its version was hard-deleted, and its files with it)
    registered_model_name: str
    version_name: str
    connection: str
    key: str
    single: bool
    uri: str
    created_by: str
    create_time: int
    last_update_time: int
    model_format_name: str | None = None
    model_format_version: str | None = None
    description: str | None = None
    author: str | None = None
    artifact_id: int | None = None
    model_version_id: int | None = None
    tag: str | None = None  # set exactly for sessions through an oci connection
    image_digest: str | None = None  # oci: the pushed image, once committed
    files: tuple[StoredFile, ...] = field(default=())

    @property
    def oci(self) -> bool:
        return self.tag is not None

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self, ttl_seconds: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "registeredModelName": self.registered_model_name,
            "versionName": self.version_name,
            "connection": self.connection,
            "single": self.single,
            "uri": self.uri,
            "modelFormatName": self.model_format_name,
            "modelFormatVersion": self.model_format_version,
            "files": [file_dict(f) for f in self.files],
            "totalSize": self.total_size,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
            "lastUpdateTimeSinceEpoch": str(self.last_update_time),
            "reuse": self.oci,  # the client may ask ``/reuse`` before sending a file's bytes
        }
        if self.oci:
            out["tag"] = self.tag
            out["imageDigest"] = self.image_digest
        if self.state == "open" and ttl_seconds is not None:
            out["expiresAtSinceEpoch"] = str(self.last_update_time + ttl_seconds * 1000)
        if self.model_version_id is not None:
            out["modelVersionId"] = str(self.model_version_id)
            out["artifactId"] = str(self.artifact_id)
        return out


@dataclass(frozen=True)
class Committed:
    upload: Upload
    registered_model: e.Record
    model_version: e.Record
    model_artifact: e.Record
    warnings: tuple[str, ...] = ()  # what went wrong after the registration, which stands (an image's tag)


def file_dict(f: StoredFile) -> dict[str, Any]:
    return {"path": f.key, "size": f.size, "sha256": f.sha256}


def manifest_digest(files: list[StoredFile]) -> str:
    """One digest for a directory: SHA-256 of its ``sha256sum``-style manifest (sorted by path), so the same tree
    always has the same digest and ``sha256sum -c`` can check a download."""
    lines = "".join(f"{f.sha256}  {f.key}\n" for f in sorted(files, key=lambda f: f.key))
    return hashlib.sha256(lines.encode()).hexdigest()


def _slug(name: str) -> str:
    """A readable, safe key segment; uniqueness comes from the session id after it, not from the slug."""
    return _SLUG.sub("-", name).strip("-.")[:64] or "x"


def check_path(path: str) -> str:
    """A relative ``/``-separated path inside the artifact."""
    if len(path) > MAX_PATH:
        raise InvalidInput(f"file path too long: {len(path)} characters, at most {MAX_PATH}")
    try:
        check_key(path)
    except InvalidKey:
        raise InvalidInput(f"invalid file path {path[:200]!r}: relative, '/'-separated, no '.' or '..'") from None
    if any(segment.startswith(TMP_MARK) for segment in path.split("/")):
        raise InvalidInput(f"invalid file path {path[:200]!r}: names starting with {TMP_MARK!r} are reserved")
    return path


def _upload(row: AnyRow, files: list[StoredFile]) -> Upload:
    values = {k: row[k] for k in Upload.__dataclass_fields__ if k != "files"}
    values["single"] = bool(values["single"])
    return Upload(**values, files=tuple(files))


def _files(conn: Connection, upload_id: str) -> list[StoredFile]:
    rows = conn.execute(select(_f.path, _f.size, _f.sha256).where(_f.upload_id == upload_id).order_by(_f.path))
    return [StoredFile(key=p, size=s, sha256=h) for p, s, h in rows]


def load(conn: Connection, upload_id: str) -> Upload:
    row = conn.execute(select(uploads).where(_u.id == upload_id)).mappings().first()
    if row is None:
        raise NotFound(f"no upload found for id {upload_id[:64]!r}")
    return _upload(row, _files(conn, upload_id))


def for_artifact(conn: Connection, artifact_id: int, uri: str) -> Upload | None:
    """The committed upload that stored an artifact's files, if modelreg stored them and the artifact still points
    there (a PATCHed URI, or an id reused after a delete, no longer matches)."""
    where = (_u.artifact_id == artifact_id, _u.state == "committed", _u.uri == uri)
    row = conn.execute(select(uploads).where(*where)).mappings().first()
    return None if row is None else _upload(row, _files(conn, row["id"]))


def committed_for_versions(conn: Connection, version_ids: list[int]) -> list[Upload]:
    """The committed uploads that stored files for these versions (to delete with them)."""
    if not version_ids:
        return []
    rows = conn.execute(select(uploads).where(_u.model_version_id.in_(version_ids), _u.state == "committed")).mappings()
    return [_upload(row, []) for row in rows.all()]


def mark_deleted(conn: Connection, sessions: list[Upload]) -> None:
    """Their version is gone: the rows stay (what was stored, and its digests), the files go (``purge``)."""
    if sessions:
        ids = [s.id for s in sessions]
        conn.execute(update(uploads).where(_u.id.in_(ids)).values(state="deleted", last_update_time=clock.now_ms()))


class UploadService:
    def __init__(
        self,
        db: Database,
        connections: ConnectionService,
        default_connection: str = "local",
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.db = db
        self.connections = connections
        self.default_connection = default_connection
        self.ttl_seconds = ttl_seconds

    # --- the session -------------------------------------------------------------------------------------------

    def begin(
        self,
        registered_model_name: str,
        version_name: str,
        *,
        connection: str | None = None,
        single: bool = False,
        model_format_name: str | None = None,
        model_format_version: str | None = None,
        description: str | None = None,
        author: str | None = None,
        tag: str | None = None,
    ) -> Upload:
        """Open a session. Through an oci connection the image goes to the model's repository under the
        connection's prefix, tagged ``tag`` (default: made from the version name), and push access is checked now,
        so wrong credentials fail before any byte is sent."""
        actor = context.require(Permission.WRITE, "upload artifacts")
        for label, value in (("registeredModelName", registered_model_name), ("versionName", version_name)):
            if not value or len(value) > NAME_LENGTH:
                raise InvalidInput(f"invalid {label}: 1 to {NAME_LENGTH} characters")
        connection = connection or self.default_connection
        config = self.connections.resolve(connection)
        if config.type == "uri":
            raise InvalidInput(f"data connection {connection!r} is read-only (type 'uri'): choose an s3 or local one")
        self.expire_stale()
        with self.db.read() as conn:
            self._check_target(conn, registered_model_name, version_name)
        store = self.connections.open_config(config)
        upload_id = secrets.token_hex(16)
        if config.type == "oci":
            oci = images.as_oci(store, connection)
            where = images.target(oci, config.prefix, registered_model_name, version_name, tag)
            with store_faults(f"the OCI registry of data connection {connection!r} refused the upload"):
                oci.check(where.repository, push=True)
            key, uri = where.repository, where.uri
            tag = where.tag
        elif tag is not None:
            raise InvalidInput(f"a tag applies to oci connections only; {connection!r} is {config.type!r}")
        else:
            key = join_key(_slug(registered_model_name), _slug(version_name), upload_id[:12])
            uri = store.uri(key)  # a single file's URI is fixed once its name is known (``put``)
        now = clock.now_ms()
        row = {
            "id": upload_id,
            "state": "open",
            "registered_model_name": registered_model_name,
            "version_name": version_name,
            "connection": connection,
            "key": key,
            "single": single,
            "uri": uri,
            "tag": tag,
            "image_digest": None,
            "model_format_name": model_format_name,
            "model_format_version": model_format_version,
            "description": description,
            "author": (author or actor.user)[:NAME_LENGTH],
            "created_by": actor.user[:NAME_LENGTH],
            "create_time": now,
            "last_update_time": now,
            "artifact_id": None,
            "model_version_id": None,
        }
        self.db.run_write(lambda conn: conn.execute(uploads.insert().values(**row)))
        log.info("upload %s begun by %s: %r %r → %s", upload_id, actor.user, registered_model_name, version_name, key)
        return _upload(row, [])

    def get(self, upload_id: str) -> Upload:
        context.require(Permission.READ, "read uploads")
        with self.db.read() as conn:
            return load(conn, upload_id)

    def put(self, upload_id: str, path: str, stream: Readable, size: int | None = None) -> StoredFile:
        """Stream one file into the session's prefix (or, through an oci connection, as a layer into the registry)
        and record its digest.

        A path is written once per session: replacing a recorded file could change bytes a racing commit has
        already recorded. A failed or interrupted put records nothing, so the client simply sends the file again.
        """
        session = self.check_put(upload_id, path, size)
        store = self.connections.open(session.connection)
        key = join_key(session.key, path)
        layer: dict[str, Any] = {}
        try:
            with store_faults(f"upload of {path[:200]!r} to data connection {session.connection!r} failed"):
                if session.oci:
                    assert size is not None  # check_put refused a body of unknown length
                    added = self._add_layer(session, store, path, stream, size)
                    layer = {"layer_digest": added.digest, "layer_size": added.layer_size}
                    stored = added.stored()
                else:
                    stored = store.put_stream(key, stream, size)
        except RegistryError:
            with self.db.read() as conn:
                state = load(conn, upload_id).state
            if state != "open":  # aborted or expired meanwhile, which removed what was being written
                raise Conflict(f"upload {upload_id} is {state} and takes no more files") from None
            raise
        result = StoredFile(key=path, size=stored.size, sha256=stored.sha256)
        self._record(session, result, layer, store.uri(key) if session.single and not session.oci else None)
        return result

    def _add_layer(self, session: Upload, store: object, path: str, stream: Readable, size: int) -> Layer:
        with images.as_oci(store, session.connection).push(session.key) as push:
            try:
                return push.add_file(path, stream, size)
            except BaseException:
                with contextlib.suppress(Exception):  # best effort: the registry expires abandoned uploads too
                    push.cancel()
                raise

    def reuse(self, upload_id: str, path: str, size: int, sha256: str | None = None) -> dict[str, Any]:
        """Record a file without its bytes when the registry already has its layer (oci sessions only).

        Without ``sha256``: ``known`` says whether an earlier upload through this connection recorded a layer for
        a file of this path and size, so the client hashes the file only when that may pay off. With it: if the
        registry still has that layer (in this repository, or mountable from the one it was pushed to), the file
        is recorded as a PUT would and returned as ``file``; otherwise ``known`` is false and the client sends it.
        """
        session = self.check_put(upload_id, path, size)
        if not session.oci:
            return {"known": False}  # S3 and local stores keep one copy per upload: the bytes are always sent
        if size < 0:
            raise InvalidInput("size must not be negative")
        with self.db.read() as conn:
            candidates = images.known_layers(conn, session.connection, path, size, sha256, session.id)
        if not candidates:
            return {"known": False}
        if sha256 is None:
            return {"known": True}
        mount_from = sorted({c.repository for c in candidates} - {session.key})
        oci = images.as_oci(self.connections.open(session.connection), session.connection)
        with (
            store_faults(f"looking up the layer of {path[:200]!r} in data connection {session.connection!r}"),
            oci.push(session.key, mount_from=mount_from) as push,
        ):
            layer = images.reuse(push, candidates)
        if layer is None:
            return {"known": False}
        result = layer.stored()
        self._record(session, result, {"layer_digest": layer.digest, "layer_size": layer.layer_size}, None)
        return {"known": True, "file": file_dict(result)}

    def _record(self, session: Upload, result: StoredFile, layer: dict[str, Any], single_uri: str | None) -> None:
        """Add a stored file to the open session (refused if it closed meanwhile, or got the same path at once)."""
        upload_id = session.id

        def record(conn: Connection) -> None:
            state = conn.execute(select(_u.state).where(_u.id == upload_id).with_for_update()).scalar()
            if state != "open":
                raise Conflict(f"upload {upload_id} is {state} and takes no more files")
            values: dict[str, Any] = {"last_update_time": clock.now_ms()}
            if single_uri is not None:
                values["uri"] = single_uri
            conn.execute(update(uploads).where(_u.id == upload_id).values(**values))
            conn.execute(upload_files.insert().values(upload_id=upload_id, **file_dict(result), **layer))

        try:
            self.db.run_write(record)
        except IntegrityError:
            # The same path was put twice at once: which bytes won in the store is unknowable, so the session is
            # not trustworthy any more.
            self._close(session, "aborted")
            raise Conflict(f"{result.key!r} was uploaded twice at once: upload {upload_id} is aborted") from None
        except Conflict:
            with self.db.read() as conn:
                aborted = load(conn, upload_id).state == "aborted"
            if aborted:  # its objects were deleted, maybe before this one landed
                self.purge([session])
            raise

    def check_put(self, upload_id: str, path: str, size: int | None) -> Upload:
        """Everything ``put`` checks before it reads a byte, so the API can refuse before the body streams."""
        session = self._open_session(upload_id)
        check_path(path)
        if any(f.key == path for f in session.files):
            raise Conflict(f"upload {upload_id} already has {path!r}: abort the upload to start over")
        if session.single and session.files:
            raise Conflict(f"upload {upload_id} is a single-file upload and already has {session.files[0].key!r}")
        if session.oci and size is None:
            raise LengthRequired(
                f"uploads to OCI connection {session.connection!r} need the file's size up front: send "
                "Content-Length (not a chunked body)"
            )
        return session

    def abort(self, upload_id: str) -> Upload:
        """Delete what the session stored; a committed upload cannot be aborted (archive the version instead)."""
        session = self._open_session(upload_id)
        self._close(session, "aborted")
        return self.get(upload_id)

    def commit(self, upload_id: str) -> Committed:
        """Register the uploaded files: the model and version if missing, and the model artifact, atomically."""
        session = self._open_session(upload_id)
        if not session.files:
            raise InvalidInput(f"upload {upload_id} has no files yet: PUT them before committing")
        if session.oci:
            return self._commit_image(session)
        return self._register_retrying(upload_id, None)

    def _register_retrying(self, upload_id: str, image: PushedImage | None) -> Committed:
        try:
            return self.db.run_write(lambda conn: self._register(conn, upload_id, image))
        except IntegrityError:
            # another upload created the same model or version meanwhile: look again, now it is found
            return self.db.run_write(lambda conn: self._register(conn, upload_id, image))

    def _commit_image(self, session: Upload) -> Committed:
        """Push the image by digest (it exists before anything is registered), register it, then tag it."""
        with self.db.read() as conn:
            layers = images.recorded_layers(conn, session.id)
            sources = images.mount_sources(conn, session.connection, session.key)
        oci = images.as_oci(self.connections.open(session.connection), session.connection)
        with oci.push(session.key, mount_from=sources) as push:
            with store_faults(f"pushing the image of upload {session.id} to data connection {session.connection!r}"):
                image = push.finish(layers, tag=None)
            done = self._register_retrying(session.id, image)
            warning = _tag(push, image, session.tag or "")
        return replace(done, warnings=(warning,)) if warning else done

    def purge(self, sessions: list[Upload]) -> None:
        """Delete the stored files (and partial writes) of closed sessions: aborted or expired ones, and those whose
        versions were hard-deleted. Best effort: a deleted connection or a failing store leaves them, logged.
        Images and layers in an OCI registry stay: their blobs may be shared with other images, and only the
        registry's garbage collection knows which are unreferenced."""
        for session in sessions:
            if session.oci:
                log.info("upload %s: its layers stay in repository %r until the registry's GC", session.id, session.key)
                continue
            try:
                store = self.connections.open(session.connection)
            except Exception:
                log.warning("upload %s: its connection %r is gone; its files stay", session.id, session.connection)
                continue
            _delete_quietly(store, session.key)

    def sweep_orphans(self, max_age_seconds: int | None = None) -> int:
        """Expire idle sessions, then remove partial writes (temp files, multipart uploads) older than
        ``max_age_seconds`` (default: the session lifetime) under the key of any closed session.

        Runs once at server start. Only keys of modelreg's sessions are touched (a bucket may hold other tools'
        multipart uploads), and not those of open sessions: their PUTs may be running, and expiry cleans up after
        them. Returns how many partial writes were removed; failures are logged, never raised.
        """
        self.expire_stale()
        cutoff = time.time() - (self.ttl_seconds if max_age_seconds is None else max_age_seconds)
        keys: dict[str, set[str]] = defaultdict(set)
        with self.db.read() as conn:
            for connection, key in conn.execute(select(_u.connection, _u.key).where(_u.state != "open")):
                keys[connection].add(key)
        removed = 0
        for connection, session_keys in keys.items():
            try:
                store = self.connections.open(connection)
                for partial in _session_partials(store, session_keys):
                    if partial.started < cutoff:
                        store.discard_partial(partial)
                        removed += 1
            except (BlobError, RegistryError) as exc:
                log.warning("sweeping partial uploads of connection %r failed: %s", connection, exc)
        if removed:
            log.info("removed %d partial writes of crashed uploads", removed)
        return removed

    def start_sweep(self) -> threading.Thread:
        """``sweep_orphans`` once, in the background (acting as ``system:upload-sweep``): a slow or unreachable
        store must not delay serving."""

        def run() -> None:
            try:
                self.sweep_orphans()
            except Exception as exc:
                log.warning("the sweep of crashed uploads failed", exc_info=True)
                workers.failed("upload-sweep", exc)
            else:
                workers.beat("upload-sweep")

        thread = threading.Thread(target=context.worker("upload-sweep", run), name="modelreg-upload-sweep", daemon=True)
        thread.start()
        return thread

    def expire_stale(self) -> int:
        """Abort open sessions idle for longer than the TTL (called on every ``begin``; cheap when there are none)."""
        cutoff = clock.now_ms() - self.ttl_seconds * 1000
        with self.db.read() as conn:
            rows = conn.execute(select(uploads).where(_u.state == "open", _u.last_update_time < cutoff)).mappings()
            stale = [_upload(row, []) for row in rows.all()]
        for session in stale:
            log.info("upload %s expired after %d s idle", session.id, self.ttl_seconds)
            self._close(session, "aborted")
        return len(stale)

    # --- internals ---------------------------------------------------------------------------------------------

    def _open_session(self, upload_id: str) -> Upload:
        principal = context.require(Permission.WRITE, "upload artifacts")
        with self.db.read() as conn:
            session = load(conn, upload_id)
        if session.created_by != principal.user[:NAME_LENGTH] and not principal.can(Permission.ARCHIVE):
            raise Forbidden(f"upload {upload_id} belongs to {session.created_by!r}")
        if session.state != "open":
            raise Conflict(f"upload {upload_id} is {session.state}")
        return session

    def _close(self, session: Upload, state: str) -> None:
        def mark(conn: Connection) -> int:
            return conn.execute(
                update(uploads)
                .where(_u.id == session.id, _u.state == "open")
                .values(state=state, last_update_time=clock.now_ms())
            ).rowcount

        if self.db.run_write(mark):
            self.purge([session])

    def _check_target(self, conn: Connection, model: str, version: str) -> tuple[int | None, int | None]:
        """Ids of the model and version if they exist; refuses an archived model and a version with an artifact."""
        try:
            rm = e.find_by_name(conn, e.REGISTERED_MODEL, model, None)
        except NotFound:
            return None, None
        if rm.row["state"] == "ARCHIVED":
            raise Conflict(f"registered model {model!r} is archived: restore it before uploading to it")
        try:
            mv = e.find_by_name(conn, e.MODEL_VERSION, version, None, rm.row["id"])
        except NotFound:
            return rm.row["id"], None
        if mv.row["state"] == "ARCHIVED":
            raise Conflict(f"model version {version!r} of {model!r} is archived")
        a = artifact_attributions.c
        has_artifact = conn.execute(
            select(artifacts.c.id).where(
                a.parent_kind == "model_version",
                a.parent_id == mv.row["id"],
                a.artifact_id == artifacts.c.id,
                artifacts.c.artifact_type == "model-artifact",
            )
        ).first()
        if has_artifact is not None:
            raise Conflict(
                f"model version {version!r} of {model!r} already has a model artifact: upload to a new version"
            )
        return rm.row["id"], mv.row["id"]

    def _register(self, conn: Connection, upload_id: str, image: PushedImage | None) -> Committed:
        # The conditional update locks the session row: of two racing commits one registers, the other gets 409.
        claimed = conn.execute(
            update(uploads).where(_u.id == upload_id, _u.state == "open").values(state="committed")
        ).rowcount
        if not claimed:
            raise Conflict(f"upload {upload_id} is no longer open")
        session = load(conn, upload_id)
        rm_id, mv_id = self._check_target(conn, session.registered_model_name, session.version_name)
        if rm_id is None:
            values: dict[str, Any] = {"name": session.registered_model_name, "owner": session.author}
            rm = e.create(conn, e.REGISTERED_MODEL, values, {})
            rm_id = rm.row["id"]
        else:
            rm = e.load(conn, e.REGISTERED_MODEL, rm_id)
        if mv_id is None:
            values = {
                "name": session.version_name,
                "registered_model_id": rm_id,
                "author": session.author,
                "description": session.description,
            }
            mv = e.create(conn, e.MODEL_VERSION, values, {}, rm_id)
            mv_id = mv.row["id"]
        files = list(session.files)
        digest = files[0].sha256 if session.single else manifest_digest(files)
        props = {
            SHA256_PROPERTY: PropValue("string", digest),
            SIZE_PROPERTY: PropValue("int", session.total_size),
            FILES_PROPERTY: PropValue("int", len(files)),
        }
        uri = session.uri
        stored_at = join_key(session.key, files[0].key) if session.single else session.key
        done: dict[str, Any] = {"artifact_id": None, "model_version_id": mv_id, "last_update_time": clock.now_ms()}
        if image is not None and session.tag is not None:
            uri = images.final_uri(image, session.tag)
            stored_at = session.key  # the repository: every file of the image is under /models
            props[OCI_DIGEST_PROPERTY] = PropValue("string", image.digest)
            done.update(uri=uri, image_digest=image.digest)
        artifact_values = {
            "name": session.registered_model_name,
            "uri": uri,
            "state": "LIVE",
            "model_format_name": session.model_format_name,
            "model_format_version": session.model_format_version,
            "storage_key": session.connection,
            "storage_path": stored_at,
        }
        artifact = create_linked_artifact(conn, "model_version", mv_id, "model-artifact", artifact_values, props)
        done["artifact_id"] = artifact.row["id"]
        conn.execute(update(uploads).where(_u.id == upload_id).values(**done))
        # the upload's own record (the event io.modelreg.upload.committed): what was stored and where it went
        after = {
            "registered_model_id": rm_id,
            "model_version_id": mv_id,
            "artifact_id": artifact.row["id"],
            "connection": session.connection,
            "uri": uri,
            "sha256": digest,
            "size": session.total_size,
            "files": len(files),
        }
        audit.stage(conn, "commit", "upload", None, upload_id, None, after)
        committed = load(conn, upload_id)
        return Committed(committed, rm, e.load(conn, e.MODEL_VERSION, mv_id), artifact)


def _tag(push: ModelCarPush, image: PushedImage, tag: str) -> str | None:
    """Point the tag at the registered image; a failure is logged and returned: the artifact stands without it."""
    try:
        with store_faults(f"tagging the image {image.digest} as {tag!r}"):
            push.set_tag(image, tag)
    except RegistryError as exc:
        log.warning("the image %s is registered by digest, but the tag failed: %s", image.digest, exc.message)
        return f"the artifact is registered (its URI pins the image's digest), but {exc.message}"
    return None


def _session_partials(store: BlobStore, session_keys: set[str]) -> Iterable[Partial]:
    """Partial writes under any of these session keys. A directory is walked per session folder (it may hold much
    else); a bucket's multipart uploads are listed once and filtered by the session key each lies under."""
    if isinstance(store, LocalStore):
        for key in sorted(session_keys):
            yield from list(store.iter_partials(key))
        return
    for partial in list(store.iter_partials("")):
        parts = partial.key.split("/")
        if any("/".join(parts[:depth]) in session_keys for depth in range(1, len(parts))):
            yield partial


def _delete_quietly(store: BlobStore, key: str) -> None:
    """Best effort: a leftover object costs space, never correctness (nothing refers to it)."""
    try:
        store.delete_prefix(key)
    except Exception:
        log.warning("could not delete %r; the objects under it are unreferenced", key, exc_info=True)
