"""Data connections: named storage locations artifacts can be stored in or read from.

Four types: ``s3`` (an S3-compatible bucket: AWS, MinIO, Ceph; endpoint, region, bucket, optional prefix,
credentials, path-style addressing), ``uri`` (a read-only HTTP(S) location), ``local`` (a directory on the server)
and ``oci`` (an OCI registry ``host[:port]``, a repository prefix, a username and password or a whole
``.dockerconfigjson``; https unless ``plainHttp``). A built-in ``local`` connection named ``local``
(``<data_dir>/artifacts``) always exists, is not stored in the table and cannot be deleted, so uploads work without
any S3.

Admins create and delete connections (``manage``); every caller may list them (``read``). The secret (an s3 secret
access key, an oci password or dockerconfig) is write-only: stored encrypted (``services/secrets.py``), never
returned, logged or audited. Only ``resolve`` hands the decrypted configuration out, to other services (the artifact
stores), never to a response.

An s3 connection signs with its own keys; without keys it sends unsigned requests (public buckets), and only with
``use_workload_identity`` does boto3 use the server's own identity (environment, instance role, IRSA). Creating a
connection first checks that its store answers (endpoint, credentials, bucket, directory, registry) unless told not
to, so a typo fails at create time with the cause, not at the first upload.
"""

from __future__ import annotations

import json
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
from modelreg.blobs.oci import OciStore
from modelreg.blobs.oci_refs import is_registry_host, valid_repository
from modelreg.blobs.uris import InvalidUri, check_http_url, same_endpoint
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import NAME_LENGTH, data_connections
from modelreg.errors import Conflict, InvalidInput, MissingField, NotFound
from modelreg.services import audit, clock
from modelreg.services.secrets import SecretBox

log = logging.getLogger(__name__)

TYPES = ("s3", "uri", "local", "oci")
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
    "oci": {"registry", "repository_prefix", "username", "password", "dockerconfig", "plain_http"},
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
    "registry": "registry",
    "repository_prefix": "repositoryPrefix",
    "username": "username",
    "password": "password",
    "dockerconfig": "dockerconfig",
    "plain_http": "plainHttp",
}
MAX_DOCKERCONFIG = 64 * 1024
_STORE_CACHE = 32  # open stores kept (a boto3 client costs tens of milliseconds to build)
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
    registry: str | None = None  # oci: host[:port] (``prefix`` is the repository prefix, ``access_key_id`` the user)
    plain_http: bool = False  # oci
    secret_kind: str | None = None  # oci: password | dockerconfig
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
        elif self.type == "oci":
            out.update(
                registry=self.registry,
                repositoryPrefix=self.prefix,
                username=self.access_key_id,
                hasSecret=self.has_secret,
                secretKind=self.secret_kind,
                plainHttp=self.plain_http,
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
        registry=row["registry"],
        plain_http=bool(row["plain_http"]),
        secret_kind=row["secret_kind"],
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
        self,
        db: Database,
        secrets: SecretBox,
        local_directory: Path | None = None,
        sign_s3_payloads: bool = False,
        modelcar_base_image: str = "embedded",
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.local_directory = local_directory
        self.sign_s3_payloads = sign_s3_payloads
        self.modelcar_base_image = modelcar_base_image  # settings storage.modelcar_base_image, for oci stores
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
        registry: str | None = None,
        repository_prefix: str | None = None,
        username: str | None = None,
        password: str | None = None,
        dockerconfig: str | None = None,
        plain_http: bool = False,
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
            "registry": registry,
            "repository_prefix": repository_prefix,
            "username": username,
            "password": password,
            "dockerconfig": dockerconfig,
            "plain_http": plain_http or None,
        }
        extra = sorted(_WIRE[k] for k, v in given.items() if v not in (None, "") and k not in _FIELDS[type])
        if extra:
            raise InvalidInput(f"a connection of type {type!r} does not take {', '.join(extra)}")
        row: dict[str, Any] = {k: None for k in given if k in data_connections.c and k != "secret_access_key"}
        row.update(
            name=name,
            type=type,
            description=description or None,
            display_name=display_name,
            path_style=False,
            use_workload_identity=False,
            plain_http=False,
            secret_kind=None,
            secret_ciphertext=None,
        )
        secret = secret_access_key
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
        elif type == "oci":
            secret = self._oci_row(row, name, registry, repository_prefix, username, password, dockerconfig)
            row["plain_http"] = bool(plain_http)
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
            self._check_store(name, row, secret)
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

    def _oci_row(
        self,
        row: dict[str, Any],
        name: str,
        registry: str | None,
        repository_prefix: str | None,
        username: str | None,
        password: str | None,
        dockerconfig: str | None,
    ) -> str | None:
        """Validate an oci connection's fields into ``row`` (the secret encrypted); returns the plain secret."""
        if not registry:
            raise MissingField("a connection of type 'oci' needs a registry (host[:port])")
        row["registry"] = check_registry(registry)
        row["prefix"] = check_repository_prefix(repository_prefix) if repository_prefix else None
        if dockerconfig and (username or password):
            raise InvalidInput("give username and password, or dockerconfig (a .dockerconfigjson), not both")
        if bool(username) != bool(password):
            raise InvalidInput("give both username and password, or neither (anonymous pulls)")
        if username and (len(username) > NAME_LENGTH or not _PRINTABLE.match(username)):
            raise InvalidInput("invalid username: 1 to 255 printable characters without spaces")
        row["access_key_id"] = username or None
        secret = password or (check_dockerconfig(dockerconfig) if dockerconfig else None)
        if secret:
            row["secret_kind"] = "password" if password else "dockerconfig"
            row["secret_ciphertext"] = self.secrets.encrypt(secret, _associated(name))
        return secret

    def _check_store(self, name: str, row: dict[str, Any], secret: str | None) -> None:
        """Reach the new connection's store before storing it; a failure is a 400 naming the cause. A taken name
        is reported first, without any network traffic."""
        with self.db.read() as conn:
            if conn.execute(select(_c.id).where(_c.name == name)).first() is not None:
                raise Conflict(f"a data connection named {name!r} already exists")
        config = self._config(row, secret)
        try:
            if config.type == "oci":
                OciStore(config, self.modelcar_base_image).check()
            else:
                open_store(config).check()
        except BlobError as exc:
            raise InvalidInput(
                f"data connection {name!r} failed its check: {exc} (create it with check=false, or --no-check on the "
                "command line, to store it anyway)"
            ) from None

    def _config(self, row: Any, secret: str | None) -> StoreConfig:
        if row["type"] == "oci":
            dockerconfig = row["secret_kind"] == "dockerconfig"
            return StoreConfig(
                type="oci",
                registry=row["registry"],
                prefix=row["prefix"] or "",
                access_key_id=row["access_key_id"],
                secret_access_key=None if dockerconfig else secret,
                dockerconfig=secret if dockerconfig else None,
                plain_http=bool(row["plain_http"]),
            )
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
            cached = self._stores.get(config)
            if cached is not None:
                self._stores.move_to_end(config)
                return cached
        store = self._new_store(config)
        with self._stores_lock:
            self._stores[config] = store
            while len(self._stores) > _STORE_CACHE:
                self._stores.popitem(last=False)
        return store

    def _new_store(self, config: StoreConfig) -> BlobStore:
        """An oci store builds ModelCars on the configured base image; every other type as ``open_store`` does."""
        if config.type == "oci":
            return OciStore(config, self.modelcar_base_image)
        return open_store(config)

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

    def matching_oci(self, registry: str, repository: str) -> tuple[str, StoreConfig] | None:
        """The name and configuration of the first oci connection for this registry whose repository prefix (if it
        has one) covers ``repository``, for ``oci://`` artifacts whose storageKey names no connection."""
        context.require(Permission.READ, "use data connections")
        with self.db.read() as conn:
            rows = conn.execute(
                select(_c.name, _c.prefix).where(_c.type == "oci", _c.registry == registry.lower()).order_by(_c.id)
            ).all()
        for name, prefix in rows:
            if covers(prefix, repository):
                return name, self.resolve(name)
        return None

    def _row(self, conn: Connection, ref: str | int) -> Any:
        found = repository.row_by_name_or_id(conn, data_connections, ref)
        if found is None:
            raise NotFound(f"no data connection found for {str(ref)[:64]!r}")
        return found


def covers(prefix: str | None, repository: str) -> bool:
    """Whether a repository lies under an oci connection's repository prefix (any repository without a prefix)."""
    return not prefix or repository == prefix or repository.startswith(prefix.rstrip("/") + "/")


def check_registry(value: str) -> str:
    """``host[:port]`` lowercased, a host as image references name one (a dot, a port, ``localhost`` or an IPv6
    address); a scheme, path, credentials or a bad port are a 400."""
    cleaned = value.strip().lower()
    port = cleaned.rpartition(":")[2] if not cleaned.endswith("]") and ":" in cleaned else None
    if not is_registry_host(cleaned) or (port is not None and not 0 < int(port) < 65536):
        raise InvalidInput(
            f"invalid registry {value[:200]!r}: host[:port] only (e.g. quay.io or 127.0.0.1:5000), without a scheme, "
            "path or credentials (plain http: plainHttp)"
        )
    return cleaned


def check_repository_prefix(value: str) -> str | None:
    """Lowercase repository path components (``[a-z0-9]`` joined by ``.``, ``_``, ``__`` or dashes), ``/``-separated."""
    cleaned = value.strip("/")
    if not cleaned:
        return None
    if len(cleaned) > NAME_LENGTH or not valid_repository(cleaned):
        raise InvalidInput(
            f"invalid repositoryPrefix {value[:200]!r}: lowercase path components of letters and digits joined by "
            "'.', '_', '__' or '-', separated by '/'"
        )
    return cleaned


def check_dockerconfig(value: str) -> str:
    """A ``.dockerconfigjson``: a JSON object with an ``auths`` object of one object per registry."""
    invalid = 'invalid dockerconfig: must be a .dockerconfigjson, a JSON object with "auths" (one entry per registry)'
    if len(value) > MAX_DOCKERCONFIG:
        raise InvalidInput(f"invalid dockerconfig: at most {MAX_DOCKERCONFIG} bytes")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise InvalidInput(invalid) from None
    auths = parsed.get("auths") if isinstance(parsed, dict) else None
    if not isinstance(auths, dict) or not auths or not all(isinstance(v, dict) for v in auths.values()):
        raise InvalidInput(invalid)
    return value


def _associated(name: str) -> str:
    """Binds a ciphertext to its connection: copied into another row, it does not decrypt."""
    return f"data_connection:{name}"
