"""Data connections: named storage locations artifacts can be stored in or read from.

Three types: ``s3`` (an S3-compatible bucket: AWS, MinIO, Ceph; endpoint, region, bucket, optional prefix,
credentials, path-style addressing), ``uri`` (a read-only HTTP(S) location) and ``local`` (a directory on the
server). A built-in ``local`` connection named ``local`` (``<data_dir>/artifacts``) always exists, is not stored
in the table and cannot be deleted, so uploads work without any S3.

Admins create and delete connections (``manage``); every caller may list them (``read``). The secret access key
is write-only: stored encrypted (``services/secrets.py``), never returned, logged or audited. Only ``resolve`` hands
the decrypted configuration out, to other services (the artifact stores), never to a response.

An s3 connection signs with its own keys; without keys it sends unsigned requests (public buckets), and only with
``use_workload_identity`` does boto3 use the server's own identity (environment, instance role, IRSA). Creating a
connection first checks that its store answers (endpoint, credentials, bucket, directory) unless told not to, so a
typo fails at create time with the cause, not at the first upload.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.blobs.base import BlobError, BlobStore, StoreConfig
from modelreg.blobs.factory import open_store
from modelreg.blobs.uris import InvalidUri, check_http_url, same_endpoint
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import NAME_LENGTH, data_connections
from modelreg.errors import Conflict, InvalidInput, MissingField, NotFound
from modelreg.services import audit, clock
from modelreg.services.secrets import SecretBox

log = logging.getLogger(__name__)

TYPES = ("s3", "uri", "local")
BUILTIN_NAME = "local"
ENTITY_KIND = "data_connection"
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$")
_PRINTABLE = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_FIELDS = {  # the fields each type takes (besides name, type, description)
    "s3": {
        "endpoint",
        "region",
        "bucket",
        "prefix",
        "path_style",
        "access_key_id",
        "secret_access_key",
        "use_workload_identity",
    },
    "uri": {"base_url"},
    "local": {"directory"},
}
_WIRE = {  # database column → wire name, for messages
    "endpoint": "endpoint",
    "region": "region",
    "bucket": "bucket",
    "prefix": "prefix",
    "path_style": "pathStyle",
    "access_key_id": "accessKeyId",
    "secret_access_key": "secretAccessKey",
    "use_workload_identity": "useWorkloadIdentity",
    "base_url": "baseUrl",
    "directory": "directory",
}
_STORE_CACHE = 32  # open stores kept (a boto3 client costs tens of milliseconds to build)
_MAX_ID = 2**63 - 1  # ids are BIGINT: a larger number names no connection (and must not reach the database)
_NOT_AUDITED = ("id", "builtIn", "hasSecret", "createdBy", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
_c = data_connections.c


@dataclass(frozen=True)
class DataConnection:
    """What anyone may see of a connection: everything but the secret (``has_secret`` says whether there is one)."""

    id: int | None  # None for the built-in connection
    name: str
    type: str
    description: str | None = None
    display_name: str | None = None  # what people see (the deploy wizard, the Secret's display name); default: name
    endpoint: str | None = None
    region: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    path_style: bool = False
    base_url: str | None = None
    directory: str | None = None
    access_key_id: str | None = None
    has_secret: bool = False
    use_workload_identity: bool = False
    built_in: bool = False
    created_by: str | None = None
    create_time: int | None = None
    last_update_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": None if self.id is None else str(self.id),
            "name": self.name,
            "displayName": self.display_name or self.name,
            "type": self.type,
            "description": self.description,
            "builtIn": self.built_in,
        }
        if self.type == "s3":
            out.update(
                endpoint=self.endpoint,
                region=self.region,
                bucket=self.bucket,
                prefix=self.prefix,
                pathStyle=self.path_style,
                accessKeyId=self.access_key_id,
                hasSecret=self.has_secret,
                useWorkloadIdentity=self.use_workload_identity,
            )
        elif self.type == "uri":
            out["baseUrl"] = self.base_url
        else:
            out["directory"] = self.directory
        out.update(
            createdBy=self.created_by,
            createTimeSinceEpoch=None if self.create_time is None else str(self.create_time),
            lastUpdateTimeSinceEpoch=None if self.last_update_time is None else str(self.last_update_time),
        )
        return out

    def audit_view(self) -> dict[str, Any]:
        """The fields an audit record shows: the non-empty ones, and ``"secret": "set"`` instead of the secret."""
        out = {k: v for k, v in self.to_dict().items() if v is not None and k not in _NOT_AUDITED}
        if self.has_secret:
            out["secret"] = "set"
        return out


def _connection(row: Any) -> DataConnection:
    return DataConnection(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        description=row["description"],
        display_name=row["display_name"] or row["name"],
        endpoint=row["endpoint"],
        region=row["region"],
        bucket=row["bucket"],
        prefix=row["prefix"],
        path_style=bool(row["path_style"]),
        base_url=row["base_url"],
        directory=row["directory"],
        access_key_id=row["access_key_id"],
        has_secret=row["secret_ciphertext"] is not None,
        use_workload_identity=bool(row["use_workload_identity"]),
        created_by=row["created_by"],
        create_time=row["create_time"],
        last_update_time=row["last_update_time"],
    )


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise MissingField("required field 'name' is zero value.")
    if len(name) > NAME_LENGTH or not _NAME.match(name):
        raise InvalidInput(
            f"invalid connection name {name[:80]!r}: 1 to {NAME_LENGTH} printable characters, no surrounding spaces"
        )
    return name


def check_display_name(display_name: str) -> str:
    if not isinstance(display_name, str) or len(display_name) > NAME_LENGTH or not _NAME.match(display_name):
        raise InvalidInput(
            f"invalid displayName {str(display_name)[:80]!r}: 1 to {NAME_LENGTH} printable characters, no surrounding "
            "spaces"
        )
    return display_name


def _http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _PRINTABLE.match(value):
        raise InvalidInput(f"invalid {field} {value[:200]!r}: must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        # Credentials go in accessKeyId/secretAccessKey, where they are kept encrypted, never in a URL.
        raise InvalidInput(f"invalid {field}: must not contain credentials (user:password@)")
    if parts.query or parts.fragment:
        raise InvalidInput(f"invalid {field} {value[:200]!r}: must not have a query or fragment")
    try:
        check_http_url(value)
    except InvalidUri as exc:
        raise InvalidInput(f"invalid {field} {value[:200]!r}: {exc}") from None
    return value


def _prefix(value: str) -> str | None:
    cleaned = value.strip("/")
    if not cleaned:
        return None
    segments = cleaned.split("/")
    if any(s in ("", ".", "..") for s in segments) or _CONTROL.search(cleaned):
        raise InvalidInput(f"invalid prefix {value[:200]!r}: no empty, '.' or '..' segments and no control characters")
    return cleaned


class ConnectionService:
    def __init__(
        self, db: Database, secrets: SecretBox, local_directory: Path | None = None, sign_s3_payloads: bool = False
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.local_directory = local_directory
        self.sign_s3_payloads = sign_s3_payloads
        self._stores: OrderedDict[StoreConfig, BlobStore] = OrderedDict()
        self._stores_lock = threading.Lock()

    # --- the built-in connection -------------------------------------------------------------------------------

    def builtin(self) -> DataConnection | None:
        if self.local_directory is None:
            return None
        return DataConnection(
            id=None,
            name=BUILTIN_NAME,
            type="local",
            description="Built-in: the server's data directory",
            display_name=BUILTIN_NAME,
            directory=str(self.local_directory),
            built_in=True,
        )

    # --- writes ------------------------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        display_name: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        bucket: str | None = None,
        prefix: str | None = None,
        path_style: bool = False,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        base_url: str | None = None,
        directory: str | None = None,
        use_workload_identity: bool = False,
        check: bool = True,
    ) -> DataConnection:
        """Validate, check that the store answers (unless ``check`` is false), then store and audit.
        ``display_name`` (default: the name) is what the deploy wizard shows and the cluster's Secret carries."""
        actor = context.require(Permission.MANAGE, "manage data connections")
        check_name(name)
        display_name = check_display_name(display_name) if display_name else name
        if name == BUILTIN_NAME:
            raise Conflict(f"the name {BUILTIN_NAME!r} is reserved for the built-in connection")
        if type not in TYPES:
            raise InvalidInput(f"invalid connection type {type!r}: must be one of {', '.join(TYPES)}")
        given = {
            "endpoint": endpoint,
            "region": region,
            "bucket": bucket,
            "prefix": prefix,
            "path_style": path_style or None,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "base_url": base_url,
            "directory": directory,
            "use_workload_identity": use_workload_identity or None,
        }
        extra = sorted(_WIRE[k] for k, v in given.items() if v not in (None, "") and k not in _FIELDS[type])
        if extra:
            raise InvalidInput(f"a connection of type {type!r} does not take {', '.join(extra)}")
        row: dict[str, Any] = {k: None for k in given if k != "secret_access_key"}
        row.update(
            name=name,
            type=type,
            description=description or None,
            display_name=display_name,
            path_style=False,
            use_workload_identity=False,
            secret_ciphertext=None,
        )
        if type == "s3":
            if not bucket:
                raise MissingField("a connection of type 's3' needs a bucket")
            if not _BUCKET.match(bucket):
                raise InvalidInput(
                    f"invalid bucket {bucket[:80]!r}: 3 to 63 lowercase letters, digits, dots and hyphens, starting "
                    "and ending with a letter or digit"
                )
            if bool(access_key_id) != bool(secret_access_key):
                raise InvalidInput("give both accessKeyId and secretAccessKey, or neither (anonymous access)")
            if use_workload_identity and access_key_id:
                raise InvalidInput(
                    "give accessKeyId and secretAccessKey, or useWorkloadIdentity (the server's own credentials), "
                    "not both"
                )
            if access_key_id and (len(access_key_id) > NAME_LENGTH or not _PRINTABLE.match(access_key_id)):
                raise InvalidInput("invalid accessKeyId: 1 to 255 printable characters without spaces")
            if region and (len(region) > NAME_LENGTH or not _PRINTABLE.match(region)):
                raise InvalidInput(f"invalid region {region[:80]!r}: printable characters without spaces")
            row.update(
                endpoint=_http_url(endpoint, "endpoint") if endpoint else None,
                region=region or None,
                bucket=bucket,
                prefix=_prefix(prefix) if prefix else None,
                path_style=bool(path_style),
                access_key_id=access_key_id or None,
                use_workload_identity=bool(use_workload_identity),
            )
            if secret_access_key:
                row["secret_ciphertext"] = self.secrets.encrypt(secret_access_key, _associated(name))
        elif type == "uri":
            if not base_url:
                raise MissingField("a connection of type 'uri' needs a baseUrl")
            row["base_url"] = _http_url(base_url, "baseUrl")
        else:
            if not directory:
                raise MissingField("a connection of type 'local' needs a directory")
            if "\x00" in directory or not PurePosixPath(directory).is_absolute():
                raise InvalidInput(f"invalid directory {directory[:200]!r}: must be an absolute path")
            row["directory"] = directory
        if check:
            self._check_store(name, row, secret_access_key)
        now = clock.now_ms()
        row.update(created_by=actor.user[:NAME_LENGTH], create_time=now, last_update_time=now)

        def run(conn: Connection) -> DataConnection:
            row["id"] = repository.insert_row(conn, data_connections, row)
            created = _connection(row)
            audit.stage(conn, "create", ENTITY_KIND, created.id, name, None, created.audit_view())
            return created

        try:
            created = self.db.run_write(run)
        except IntegrityError:
            raise Conflict(f"a data connection named {name!r} already exists") from None
        log.info("data connection %r (type %s) created by %s", name, type, actor.user)
        return created

    def _check_store(self, name: str, row: dict[str, Any], secret: str | None) -> None:
        """Reach the new connection's store before storing it; a failure is a 400 naming the cause. A taken name
        is reported first, without any network traffic."""
        with self.db.read() as conn:
            if conn.execute(select(_c.id).where(_c.name == name)).first() is not None:
                raise Conflict(f"a data connection named {name!r} already exists")
        config = self._config(row, secret)
        try:
            open_store(config).check()
        except BlobError as exc:
            raise InvalidInput(
                f"data connection {name!r} failed its check: {exc} (create it with check=false, or --no-check on the "
                "command line, to store it anyway)"
            ) from None

    def _config(self, row: Any, secret: str | None) -> StoreConfig:
        return StoreConfig(
            type=row["type"],
            endpoint=row["endpoint"],
            region=row["region"],
            bucket=row["bucket"],
            prefix=row["prefix"] or "",
            path_style=bool(row["path_style"]),
            access_key_id=row["access_key_id"],
            secret_access_key=secret,
            directory=row["directory"],
            base_url=row["base_url"],
            sign_payload=self.sign_s3_payloads,
            use_workload_identity=bool(row["use_workload_identity"]),
        )

    def delete(self, ref: str | int) -> DataConnection:
        actor = context.require(Permission.MANAGE, "manage data connections")
        if ref == BUILTIN_NAME:
            raise Conflict(f"the built-in connection {BUILTIN_NAME!r} cannot be deleted")

        def run(conn: Connection) -> DataConnection:
            row = self._row(conn, ref)
            conn.execute(delete(data_connections).where(_c.id == row["id"]))
            gone = _connection(row)
            audit.stage(conn, "delete", ENTITY_KIND, gone.id, gone.name, gone.audit_view(), None)
            return gone

        gone = self.db.run_write(run)
        log.info("data connection %r deleted by %s", gone.name, actor.user)
        return gone

    # --- reads -------------------------------------------------------------------------------------------------

    def list(self) -> list[DataConnection]:
        """The built-in connection first, then the stored ones by name."""
        context.require(Permission.READ, "list data connections")
        with self.db.read() as conn:
            rows = conn.execute(select(data_connections).order_by(_c.name)).mappings().all()
        builtin = self.builtin()
        return ([builtin] if builtin else []) + [_connection(r) for r in rows]

    def get(self, ref: str | int) -> DataConnection:
        """A connection by name, or by id (a number that is no connection's name)."""
        context.require(Permission.READ, "read data connections")
        builtin = self.builtin()
        if builtin is not None and ref == BUILTIN_NAME:
            return builtin
        with self.db.read() as conn:
            return _connection(self._row(conn, ref))

    def resolve(self, name: str) -> StoreConfig:
        """The store configuration with the secret decrypted (``blobs.open_store`` takes it). Never return it to a
        caller; its repr masks the secret."""
        context.require(Permission.READ, "use data connections")
        builtin = self.builtin()
        if builtin is not None and name == BUILTIN_NAME:
            return StoreConfig(type="local", directory=builtin.directory)
        with self.db.read() as conn:
            row = self._row(conn, name)
        secret = row["secret_ciphertext"]
        return self._config(row, None if secret is None else self.secrets.decrypt(secret, _associated(row["name"])))

    def open(self, name: str) -> BlobStore:
        """The store of a connection. Stores are cached by their whole configuration, so a connection deleted and
        created again under the same name (new credentials) gets a new store."""
        return self.open_config(self.resolve(name))

    def open_config(self, config: StoreConfig) -> BlobStore:
        with self._stores_lock:
            store = self._stores.get(config)
            if store is not None:
                self._stores.move_to_end(config)
                return store
        store = open_store(config)
        with self._stores_lock:
            self._stores[config] = store
            while len(self._stores) > _STORE_CACHE:
                self._stores.popitem(last=False)
        return store

    def matching_s3(self, bucket: str, endpoint: str | None) -> tuple[str, StoreConfig] | None:
        """The name and credentials-bearing configuration of an s3 connection for this bucket and endpoint (any
        endpoint when ``endpoint`` is None), for artifacts whose URI names no connection (the upstream client's)."""
        context.require(Permission.READ, "use data connections")
        with self.db.read() as conn:
            rows = conn.execute(
                select(_c.name, _c.endpoint).where(_c.type == "s3", _c.bucket == bucket).order_by(_c.id)
            ).all()
        for name, row_endpoint in rows:
            if endpoint is None or same_endpoint(endpoint, row_endpoint):
                return name, self.resolve(name)
        return None

    def _row(self, conn: Connection, ref: str | int) -> Any:
        if isinstance(ref, str):
            found = conn.execute(select(data_connections).where(_c.name == ref)).mappings().first()
            if found is not None:
                return found
        if isinstance(ref, int) or (ref.isascii() and ref.isdigit() and len(ref) <= 19):
            number = int(ref)
            by_id = repository.get_row(conn, data_connections, number) if 0 < number <= _MAX_ID else None
            if by_id is not None:
                return by_id
        raise NotFound(f"no data connection found for {str(ref)[:64]!r}")


def _associated(name: str) -> str:
    """Binds a ciphertext to its connection: copied into another row, it does not decrypt."""
    return f"data_connection:{name}"
