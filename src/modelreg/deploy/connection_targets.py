"""Data connections as the deploy offers them (`ConnectionTarget`): modelreg's own s3, uri and oci connections,
and the connection Secrets a namespace already has (read without their credentials); the dashboard's matching of an
artifact URI to a connection; the Secret names modelreg's connections get in a namespace; and the pull secret an
oci connection becomes (``.dockerconfigjson``)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from modelreg.blobs.base import StoreConfig
from modelreg.blobs.oci import InvalidImageRef, parse_image_ref
from modelreg.blobs.uris import InvalidUri, parse_uri, same_endpoint
from modelreg.deploy import keys
from modelreg.deploy.names import k8s_name
from modelreg.deploy.profile_spec import annotations_of
from modelreg.services.connections import DataConnection, covers

ConnectionType = Literal["s3", "uri", "oci"]
Origin = Literal["modelreg", "cluster"]

_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TYPE_REFS: dict[str, ConnectionType] = {"s3": "s3", "uri-v1": "uri", "oci-v1": "oci"}


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """A data connection to deploy with: modelreg's own (its Secret is created in the namespace when missing), or
    a connection Secret already in the namespace."""

    name: str
    display_name: str
    type: Literal["s3", "uri", "oci"]
    origin: Origin
    in_namespace: bool  # a Secret of this name is already in the target namespace
    bucket: str | None = None
    endpoint: str | None = None  # s3: the endpoint URL; oci: the registry host
    region: str | None = None
    uri: str | None = None

    @property
    def secret_name(self) -> str:
        """The connection Secret's name in a namespace (opendatahub.io/connections, storage key)."""
        return secret_name_for(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "origin": self.origin,
            "inNamespace": self.in_namespace,
            "secretName": self.secret_name,
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "uri": self.uri,
        }


def secret_name_for(connection_name: str) -> str:
    """A modelreg connection's Secret name: the name itself when Kubernetes accepts it, else its k8s form."""
    if len(connection_name) <= 253 and _SECRET_NAME.match(connection_name):
        return connection_name
    return k8s_name(connection_name, 63)


def match_connections(artifact_uri: str, connections: Iterable[ConnectionTarget]) -> list[ConnectionTarget]:
    """The connections that can reach an artifact, as the dashboard matches them: S3 by bucket and endpoint (an
    s3:// URI without ``?endpoint=`` matches any endpoint, as modelreg's own artifact URIs have none) and by region
    when the URI names one; URI connections by the same URI; OCI connections whose host appears in the URI."""
    scheme = artifact_uri.partition("://")[0].lower()
    candidates = list(connections)
    if scheme == "s3":
        try:
            config = parse_uri(artifact_uri).config
        except InvalidUri:
            return []
        return [
            c
            for c in candidates
            if c.type == "s3"
            and c.bucket == config.bucket
            and (config.endpoint is None or same_endpoint(config.endpoint, c.endpoint))
            and (config.region is None or config.region == c.region)
        ]
    if scheme == "oci":
        return [c for c in candidates if c.type == "oci" and c.endpoint and _pulls(c, artifact_uri)]
    wanted = artifact_uri.rstrip("/")
    return [c for c in candidates if c.type == "uri" and c.uri is not None and c.uri.rstrip("/") == wanted]


def _pulls(connection: ConnectionTarget, artifact_uri: str) -> bool:
    """The dashboard's test (OCI_HOST appears in the URI); for modelreg's own connections, whose OCI_HOST is the
    registry and repository prefix, the image must lie under them (whole path components)."""
    endpoint = str(connection.endpoint)
    if connection.origin != "modelreg":
        return endpoint in artifact_uri
    try:
        ref = parse_image_ref(artifact_uri)
    except InvalidImageRef:
        return False
    registry, _, prefix = endpoint.partition("/")
    return ref.registry.lower() == registry and covers(prefix, ref.repository)


def _decoded(secret: Mapping[str, Any], key: str) -> str | None:
    """A non-secret value of a Secret (``stringData`` as sent, or ``data`` base64-decoded)."""
    plain = secret.get("stringData") or {}
    if isinstance(plain, Mapping) and isinstance(plain.get(key), str):
        return str(plain[key]) or None
    data = secret.get("data") or {}
    raw = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(raw, str):
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8") or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def _public_uri(uri: str | None) -> str | None:
    """A URI shown and matched only without credentials in it (user:password@, a query with a token)."""
    if not uri:
        return None
    parts = urlsplit(uri)
    return None if "@" in parts.netloc or parts.query else uri


def cluster_connection(secret: Mapping[str, Any]) -> ConnectionTarget | None:
    """A connection Secret of the namespace, without its credentials; None for other Secrets (token Secrets carry
    the dashboard label too) and for the hidden ones the dashboard made for a single deployment."""
    annotations = annotations_of(secret)
    metadata = secret.get("metadata") or {}
    protocol = annotations.get(keys.CONNECTION_PROTOCOL)
    type_: ConnectionType | None = cast(ConnectionType, protocol) if protocol in ("s3", "uri", "oci") else None
    type_ = type_ or _TYPE_REFS.get(annotations.get("opendatahub.io/connection-type-ref", ""))
    type_ = type_ or _TYPE_REFS.get(annotations.get("opendatahub.io/connection-type", ""))
    if type_ is None or annotations.get("opendatahub.io/connection-hidden") == "true":
        return None
    name = str(metadata.get("name", ""))
    common: dict[str, Any] = {
        "name": name,
        "display_name": annotations.get("openshift.io/display-name") or name,
        "type": type_,
        "origin": "cluster",
        "in_namespace": True,
    }
    if type_ == "s3":
        return ConnectionTarget(
            **common,
            bucket=_decoded(secret, "AWS_S3_BUCKET"),
            endpoint=_decoded(secret, "AWS_S3_ENDPOINT"),
            region=_decoded(secret, "AWS_DEFAULT_REGION"),
        )
    if type_ == "uri":
        return ConnectionTarget(**common, uri=_public_uri(_decoded(secret, "URI")))
    return ConnectionTarget(**common, endpoint=_decoded(secret, "OCI_HOST"))


def own_connection(conn: DataConnection, present: Mapping[str, Any]) -> ConnectionTarget:
    secret = secret_name_for(conn.name)
    common: dict[str, Any] = {
        "name": conn.name,
        "display_name": conn.display_name or conn.name,
        "origin": "modelreg",
        "in_namespace": secret in present,
    }
    if conn.type == "s3":
        return ConnectionTarget(**common, type="s3", bucket=conn.bucket, endpoint=conn.endpoint, region=conn.region)
    if conn.type == "oci":
        return ConnectionTarget(**common, type="oci", endpoint=oci_host(conn))
    return ConnectionTarget(**common, type="uri", uri=conn.base_url)


def oci_host(conn: DataConnection) -> str:
    """OCI_HOST of an oci connection's Secret: the registry and its repository prefix, so that the dashboard's
    matching (OCI_HOST appears in the artifact URI) offers it only for the repositories it covers."""
    return f"{conn.registry}/{conn.prefix}" if conn.prefix else str(conn.registry)


def dockerconfigjson(config: StoreConfig) -> str:
    """The ``.dockerconfigjson`` of an oci connection's pull secret: the one stored, or one built from the username
    and password (``auths[registry].auth`` = base64 of ``user:password``), or no auths at all (anonymous pulls)."""
    if config.dockerconfig:
        return config.dockerconfig
    auths: dict[str, Any] = {}
    if config.registry and config.access_key_id and config.secret_access_key:
        pair = f"{config.access_key_id}:{config.secret_access_key}".encode()
        auths[config.registry] = {"auth": base64.b64encode(pair).decode("ascii")}
    return json.dumps({"auths": auths}, separators=(",", ":"))


def aws_endpoint(region: str | None) -> str:
    """What AWS_S3_ENDPOINT says for a connection to AWS itself (the key is required by the platform's S3 type)."""
    return f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"
