"""Turn an artifact URI into a store location and a key.

The upstream Kubeflow client (``model_registry.utils.s3_uri_from``) writes
``s3://{bucket}/{path}?endpoint={endpoint}`` and adds ``&defaultRegion={region}`` when it knows one, without
percent-encoding anything, so the key is taken verbatim up to the first ``?``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from modelreg.blobs.base import BlobStore, StoreConfig, open_store


class InvalidUri(ValueError):
    """A URI no store understands."""


@dataclass(frozen=True)
class Location:
    """A store (without credentials) and the key, or directory-like prefix, of the artifact inside it."""

    config: StoreConfig
    key: str


def parse_uri(uri: str) -> Location:
    """``s3://bucket/key[?endpoint=..&defaultRegion=..]``, ``file:///abs/path`` or ``http(s)://...``."""
    scheme, sep, _rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise InvalidUri(f"not a URI: {uri!r}")
    if scheme == "s3":
        return _parse_s3(uri[len("s3://") :], uri)
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidUri(f"file URI on another host: {uri!r}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise InvalidUri(f"file URI without an absolute path: {uri!r}")
        return Location(StoreConfig(type="local", directory="/"), path.strip("/"))
    if scheme in ("http", "https"):
        if not urlsplit(uri).netloc:
            raise InvalidUri(f"URL without a host: {uri!r}")
        return Location(StoreConfig(type="uri", base_url=uri), "")
    raise InvalidUri(f"unsupported URI scheme {scheme!r} in {uri!r}")


def _parse_s3(rest: str, uri: str) -> Location:
    target, _, query = rest.partition("?")
    bucket, _, key = target.partition("/")
    if not bucket:
        raise InvalidUri(f"s3 URI without a bucket: {uri!r}")
    params = dict(parse_qsl(query, keep_blank_values=False))
    endpoint = params.get("endpoint")
    if endpoint and "://" not in endpoint:
        endpoint = "https://" + endpoint  # the upstream docs show bare hosts too; S3 services default to TLS
    region = params.get("defaultRegion") or params.get("region")
    # custom endpoints (MinIO, Ceph, ...) rarely have wildcard DNS, so path-style is the one that works everywhere
    config = StoreConfig(type="s3", bucket=bucket, endpoint=endpoint, region=region, path_style=endpoint is not None)
    return Location(config, key.strip("/"))


def resolve_uri(uri: str, defaults: StoreConfig | None = None) -> Location:
    """The store configuration and key for a URI; credentials (and endpoint/region when the URI has none) come
    from ``defaults``.

    Credentials are only lent when the URI names the same endpoint as ``defaults`` (or none), so a URI cannot make
    the server send its keys to a host of the URI writer's choosing.
    """
    location = parse_uri(uri)
    config = location.config
    if defaults is not None and config.type == "s3" and defaults.type == "s3":
        same_endpoint = config.endpoint is None or _norm(config.endpoint) == _norm(defaults.endpoint)
        config = dataclasses.replace(
            config,
            endpoint=config.endpoint or defaults.endpoint,
            region=config.region or defaults.region,
            path_style=defaults.path_style if config.endpoint is None else config.path_style or defaults.path_style,
            access_key_id=defaults.access_key_id if same_endpoint else None,
            secret_access_key=defaults.secret_access_key if same_endpoint else None,
        )
    return Location(config, location.key)


def open_uri(uri: str, defaults: StoreConfig | None = None) -> tuple[BlobStore, str]:
    """A store and key for a URI (see ``resolve_uri``)."""
    location = resolve_uri(uri, defaults)
    return open_store(location.config), location.key


def _norm(endpoint: str | None) -> str:
    return (endpoint or "").rstrip("/").lower()
