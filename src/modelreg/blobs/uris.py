"""Turn an artifact URI into a store location and a key.

The upstream Kubeflow client (``model_registry.utils.s3_uri_from``) writes
``s3://{bucket}/{path}?endpoint={endpoint}`` and adds ``&defaultRegion={region}`` when it knows one, without
percent-encoding anything, so the key is taken verbatim up to the first ``?``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from modelreg.blobs.base import StoreConfig
from modelreg.blobs.oci_refs import InvalidImageRef, parse_image_ref


class InvalidUri(ValueError):
    """A URI no store understands, or one that could reach outside what it claims to (dot segments)."""


class EndpointMismatch(InvalidUri):
    """An ``s3://`` URI names another endpoint than the connection it would be read with."""


_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Location:
    """A store (without credentials) and the key, or directory-like prefix, of the artifact inside it."""

    config: StoreConfig
    key: str


def parse_uri(uri: str) -> Location:
    """``s3://bucket/key[?endpoint=..&defaultRegion=..]``, ``file:///abs/path``, ``http(s)://...`` or
    ``oci://registry/repository[:tag][@digest]`` (the key is the reference without the registry)."""
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
    if scheme == "oci":
        try:
            ref = parse_image_ref(uri)
        except InvalidImageRef as exc:
            raise InvalidUri(str(exc)) from None
        return Location(StoreConfig(type="oci", registry=ref.registry), ref.image().partition("/")[2])
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
    """The store configuration and key for a URI. For ``s3://`` with ``defaults`` (a connection), everything but the
    bucket and key comes from ``defaults``: the endpoint, addressing, credentials and the workload-identity flag.

    A URI that names an endpoint must name the connection's (``same_endpoint``), else ``EndpointMismatch``: the
    server never sends a request, let alone one signed with its credentials, to a host the URI writer chose.
    """
    location = parse_uri(uri)
    config = location.config
    if defaults is not None and config.type == "s3" and defaults.type == "s3":
        if config.endpoint is not None and not same_endpoint(config.endpoint, defaults.endpoint):
            raise EndpointMismatch(
                f"the URI's endpoint {config.endpoint[:200]} is not the connection's endpoint "
                f"{defaults.endpoint or 'AWS S3 (the default)'}"
            )
        config = dataclasses.replace(defaults, bucket=config.bucket, prefix="", region=defaults.region or config.region)
    if defaults is not None and config.type == "oci" and defaults.type == "oci":
        if (config.registry or "").lower() != (defaults.registry or "").lower():
            raise EndpointMismatch(
                f"the URI's registry {config.registry} is not the connection's registry {defaults.registry}"
            )
        config = dataclasses.replace(defaults, prefix="")
    return Location(config, location.key)


def same_endpoint(a: str | None, b: str | None) -> bool:
    """Whether two S3 endpoints are one: scheme and host compared case-insensitively, default ports made explicit,
    trailing slashes ignored (``HTTP://Minio:80/`` is ``http://minio``). ``None`` (AWS) equals only ``None``."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return _endpoint_key(a) == _endpoint_key(b)
    except ValueError:
        return False


def _endpoint_key(url: str) -> tuple[str, str, str, int | None, str]:
    parts = urlsplit(url.strip())
    scheme, userinfo, host, port = _authority(parts)
    return scheme, userinfo, host, port, _normalize_escapes(parts.path).rstrip("/")


def _authority(parts: SplitResult) -> tuple[str, str, str, int | None]:
    """Scheme, user info, host and port with case and default ports normalized; ValueError on a bad port."""
    scheme = parts.scheme.lower()
    port = parts.port  # raises ValueError for a port that is no number or out of range
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return scheme, userinfo, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def _normalize_escapes(path: str) -> str:
    """RFC 3986 normalization: escapes of unreserved characters decoded, the others in upper case."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _UNRESERVED_ESCAPE.sub(fix, path)


def check_http_url(url: str) -> SplitResult:
    """Refuse an http(s) URL that could name something else once a client or server normalizes it: dot segments
    (``..``, ``.``, also percent-encoded, however many times), backslashes and control characters."""
    if _CONTROL.search(url):
        raise InvalidUri("URL with control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidUri("not an http(s) URL with a host")
    try:
        _authority(parts)
    except ValueError:
        raise InvalidUri("URL with an invalid port") from None
    path = parts.path
    for _ in range(4):  # %252e%252e decodes to %2e%2e, then to ..
        if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
            raise InvalidUri("URL with a '.' or '..' segment or a backslash (also percent-encoded)")
        decoded = unquote(path)
        if decoded == path:
            return parts
        path = decoded
    raise InvalidUri("URL with too many levels of percent-encoding")


def http_url_under(url: str, base: str) -> bool:
    """Whether ``url`` names ``base`` itself or something below it, compared as normalized URLs: same scheme, user
    info, host (any case) and port (default ports made explicit), and a path on a ``/`` boundary (``/public`` does
    not cover ``/publicity``, nor ``/public/`` cover ``/public``). ``url`` must pass ``check_http_url``."""
    target = check_http_url(url)
    try:
        allowed = urlsplit(base)
        if _authority(target) != _authority(allowed):
            return False
    except ValueError:
        return False
    path, base_path = _normalize_escapes(target.path or "/"), _normalize_escapes(allowed.path or "/")
    if path == base_path:
        return True
    return path.startswith(base_path if base_path.endswith("/") else base_path + "/")
