"""A client of the OCI distribution API (``/v2/``) over httpx: blobs, uploads, manifests and the token dance.

Auth: none, basic (a username and password, or one entry of a ``.dockerconfigjson``), and the Bearer token flow a
registry asks for with ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` (the realm is asked for a token with
the basic credentials; tokens are cached per scope until they expire). Credentials only ever travel over https,
or over plain http when the connection says ``plain_http``: a realm on http for an https registry is refused.

Redirects are not followed, with one exception: a blob GET, which registries backed by object storage answer with
a redirect to a pre-signed URL. That one hop is followed without the registry's credentials, to https only (or
http with ``plain_http``), and the bytes are checked against the blob's digest as they are read, so the storage
cannot substitute content. docker-registry on a filesystem does not redirect at all.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from modelreg import tls
from modelreg.blobs.base import READ_BLOCK, BlobNotFound, StoreConfig, StoreRefused, StoreUnreachable
from modelreg.blobs.ops import DigestMismatch

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MAX_MANIFEST = 4 * 1024 * 1024  # distribution's own limit on a manifest body
TIMEOUT = httpx.Timeout(60.0, connect=10.0, pool=30.0)
FINISH_TIMEOUT = httpx.Timeout(600.0, connect=10.0, pool=30.0)  # a registry may move or re-hash a big blob on PUT
TOKEN_MARGIN = 10.0  # seconds: a token this close to expiry is renewed before a request that cannot be replayed
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class UploadCancelled(StoreRefused):
    """The push was cancelled while a blob was being sent."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def credentials_for(config: StoreConfig) -> tuple[str, str] | None:
    """Username and password of a connection: its own, or the ``.dockerconfigjson`` entry of its registry."""
    if config.dockerconfig:
        return _dockerconfig_credentials(config.dockerconfig, config.registry or "")
    if config.access_key_id or config.secret_access_key:
        return config.access_key_id or "", config.secret_access_key or ""
    return None


def _dockerconfig_credentials(text: str, registry: str) -> tuple[str, str] | None:
    try:
        auths = json.loads(text).get("auths")
    except (ValueError, AttributeError):
        raise StoreRefused("the connection's .dockerconfigjson is not JSON with an 'auths' object") from None
    if not isinstance(auths, dict):
        raise StoreRefused("the connection's .dockerconfigjson is not JSON with an 'auths' object")
    for key, entry in auths.items():
        host = key.split("://", 1)[-1].split("/", 1)[0].lower()
        if host != registry.lower() or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise StoreRefused(
                    f"the .dockerconfigjson entry for {registry} has an 'auth' that is not base64 user:pass"
                )
            return user, password
        if isinstance(entry.get("username"), str):
            return entry["username"], str(entry.get("password") or "")
    return None


@dataclass
class _Token:
    value: str
    expires: float


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme, params)


@dataclass(frozen=True)
class RegistryError:
    status: int
    code: str
    message: str

    def label(self) -> str:
        return f"{self.status} {self.code}" if self.code else str(self.status)


def registry_error(response: httpx.Response) -> RegistryError:
    """The status and the first ``errors[].code`` of a registry's JSON error body (the reason phrase without one)."""
    code, message = "", ""
    try:
        body = response.read()[:65536]
        errors = json.loads(body).get("errors") or []
        if errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code") or "")[:80]
            message = str(errors[0].get("message") or "")[:200]
    except (ValueError, AttributeError, httpx.HTTPError, httpx.StreamError):
        pass
    return RegistryError(response.status_code, code or response.reason_phrase.upper().replace(" ", "_"), message)


class RegistryClient:
    """One registry, one connection pool. Not thread-safe: use one per thread (they are cheap)."""

    def __init__(self, config: StoreConfig, *, timeout: httpx.Timeout = TIMEOUT) -> None:
        if not config.registry:
            raise StoreRefused("an oci connection needs a registry (host[:port])")
        self.config = config
        self.registry = config.registry
        self.base = ("http://" if config.plain_http else "https://") + self.registry
        self._credentials = credentials_for(config)
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, verify=tls.default_context())
        self._basic = False  # the registry asked for basic auth: send it with every request
        self._tokens: dict[str, _Token] = {}  # scope → token
        self._scopes: dict[str, tuple[Challenge, str]] = {}  # repository → (last challenge, scope) for renewals

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the requests everything goes through

    def _auth_header(self, repository: str | None) -> dict[str, str]:
        key = repository or ""
        if key in self._scopes:
            token = self._tokens.get(self._scopes[key][1])
            if token is not None and token.expires > time.monotonic():
                return {"Authorization": f"Bearer {token.value}"}
        if self._basic and self._credentials:
            return {"Authorization": "Basic " + _basic(self._credentials)}
        return {}

    def request(
        self,
        method: str,
        url: str,
        *,
        repository: str | None,
        what: str,
        content: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
        extra_scope: str | None = None,
    ) -> httpx.Response:
        """Send one request with the auth the registry wants; a 401 with a challenge is answered once (a body that
        is an iterator cannot be sent twice, so the caller makes sure an earlier request set up the auth)."""
        replayable = content is None or isinstance(content, bytes)
        if not replayable:
            self._renew_if_expiring(repository)
        for attempt in (1, 2):
            all_headers = {**(headers or {}), **self._auth_header(repository)}
            try:
                request = self._client.build_request(
                    method, url, content=content, headers=all_headers, timeout=timeout or httpx.USE_CLIENT_DEFAULT
                )
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise StoreUnreachable(f"cannot reach the OCI registry {self.registry}: {_cause(exc)}") from None
            if response.status_code != 401 or attempt == 2 or not replayable:
                return response
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is None or not self._answer(challenge, repository, extra_scope):
                return response
            response.close()
        raise AssertionError("unreachable")

    def _answer(self, challenge: Challenge, repository: str | None, extra_scope: str | None) -> bool:
        """Set up the auth a challenge asks for; False when there is nothing to answer it with."""
        if challenge.scheme == "basic":
            if not self._credentials or self._basic:
                return False
            self._basic = True
            return True
        scope = challenge.params.get("scope", "")
        if extra_scope and extra_scope not in scope.split(" "):
            scope = f"{scope} {extra_scope}".strip()
        self._tokens[scope] = self._fetch_token(challenge, scope)
        self._scopes[repository or ""] = (challenge, scope)
        return True

    def _renew_if_expiring(self, repository: str | None) -> None:
        entry = self._scopes.get(repository or "")
        if entry is None:
            return
        challenge, scope = entry
        token = self._tokens.get(scope)
        if token is None or token.expires - TOKEN_MARGIN < time.monotonic():
            self._tokens[scope] = self._fetch_token(challenge, scope)

    def _fetch_token(self, challenge: Challenge, scope: str) -> _Token:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        allowed = ("https", "http") if self.config.plain_http else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise StoreRefused(
                f"the OCI registry {self.registry} sends clients to a token service at {parts.scheme or '?'}://"
                f"{parts.hostname or '?'}, which is not https: refused (credentials go over https only unless "
                "the connection is set to plain http)"
            )
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", s) for s in scope.split(" ") if s]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        headers = {"Authorization": "Basic " + _basic(self._credentials)} if self._credentials else {}
        try:
            response = self._client.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise StoreUnreachable(
                f"cannot reach the token service of the OCI registry {self.registry} ({parts.hostname}): {_cause(exc)}"
            ) from None
        if response.status_code in (401, 403):
            raise self.refused(response, "the token service")
        if response.status_code != 200:
            raise StoreRefused(
                f"the token service of the OCI registry {self.registry} answered {registry_error(response).label()}"
            )
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            value = None
            lifetime = 0.0
        if not isinstance(value, str) or not value:
            raise StoreRefused(f"the token service of the OCI registry {self.registry} answered no token")
        return _Token(value, time.monotonic() + max(lifetime, 1.0))

    def refused(self, response: httpx.Response, what: str) -> StoreRefused:
        """The error a refusal is raised as; the message names the registry, what was asked and the registry's code."""
        error = registry_error(response)
        response.close()
        if error.status == 401:
            if self._credentials:
                return StoreRefused(f"the OCI registry {self.registry} refused the credentials ({error.label()})")
            return StoreRefused(f"the OCI registry {self.registry} requires credentials ({error.label()})")
        if error.status == 403:
            return StoreRefused(f"the OCI registry {self.registry} denied access to {what} ({error.label()})")
        if error.code == "NAME_UNKNOWN":
            return StoreRefused(f"{what} not found on the OCI registry {self.registry} ({error.label()})")
        if error.code == "MANIFEST_UNKNOWN" or (error.status == 404 and what.startswith("image")):
            return StoreRefused(f"{what} not found on the OCI registry {self.registry} ({error.label()})")
        if 300 <= error.status < 400:
            return StoreRefused(
                f"the OCI registry {self.registry} answered {error.status}, a redirect, for {what}: not followed"
            )
        detail = f": {error.message}" if error.message else ""
        return StoreRefused(f"the OCI registry {self.registry} answered {error.label()} for {what}{detail}")

    def url(self, repository: str, tail: str) -> str:
        return f"{self.base}/v2/{repository}/{tail}"

    def _same_registry(self, location: str, base_url: str) -> str:
        """An upload URL the registry handed out, made absolute; it must stay on the registry (scheme, host, port)."""
        url = urljoin(base_url, location)
        target, own = urlsplit(url), urlsplit(self.base)
        if (target.scheme, target.netloc.lower()) != (own.scheme, own.netloc.lower()):
            raise StoreRefused(
                f"the OCI registry {self.registry} sent an upload to another location ({target.scheme}://"
                f"{target.hostname}): refused"
            )
        return url

    # ---- the API

    def ping(self) -> None:
        """``GET /v2/``: reachable, speaks the distribution API, and takes the credentials."""
        response = self.request("GET", f"{self.base}/v2/", repository=None, what="/v2/")
        if response.status_code != 200:
            raise self.refused(response, "the API root /v2/")
        if "docker-distribution-api-version" not in response.headers and not response.content.strip().startswith(b"{"):
            raise StoreRefused(f"{self.registry} answered /v2/ but is not an OCI distribution registry")

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob the repository has, or None."""
        response = self.request(
            "HEAD", self.url(repository, f"blobs/{digest}"), repository=repository, what=f"repository {repository}"
        )
        if response.status_code == 200:
            return int(response.headers.get("content-length") or 0)
        if response.status_code in (307, 302, 303, 308):  # storage-backed registries redirect HEAD as well
            return -1
        if response.status_code == 404:
            return None
        raise self.refused(response, f"repository {repository}")

    def mount(self, repository: str, digest: str, source: str) -> bool:
        """Cross-repository mount (no bytes sent); False when the registry would rather take an upload."""
        url = self.url(repository, "blobs/uploads/?" + urlencode({"mount": digest, "from": source}))
        response = self.request(
            "POST", url, repository=repository, what=f"repository {repository}", extra_scope=f"repository:{source}:pull"
        )
        if response.status_code == 201:
            return True
        if response.status_code == 202:  # an upload was opened instead: close it
            location = response.headers.get("location")
            if location:
                self.cancel_upload(repository, self._same_registry(location, url))
            return False
        if response.status_code in (401, 403, 404):
            response.close()
            return False
        raise self.refused(response, f"repository {repository}")

    def start_upload(self, repository: str) -> str:
        url = self.url(repository, "blobs/uploads/")
        response = self.request("POST", url, repository=repository, what=f"repository {repository}")
        if response.status_code != 202 or not response.headers.get("location"):
            raise self.refused(response, f"repository {repository}")
        return self._same_registry(response.headers["location"], url)

    def send_upload(self, repository: str, upload: str, body: Iterable[bytes], length: int | None) -> str:
        """One PATCH with the whole blob streamed from ``body`` (Content-Length when known, else chunked); returns
        the upload URL to finish."""
        headers = {"Content-Length": str(length)} if length is not None else {}
        response = self._upload_request(
            "PATCH", upload, repository, body, headers, 202, f"an upload to repository {repository}"
        )
        return self._same_registry(response.headers.get("location") or upload, upload)

    def finish_upload(self, repository: str, upload: str, digest: str, data: bytes = b"") -> None:
        url = upload + ("&" if "?" in upload else "?") + urlencode({"digest": digest})
        self._upload_request("PUT", url, repository, data, {}, 201, f"the blob {digest} in repository {repository}")

    def _upload_request(
        self,
        method: str,
        url: str,
        repository: str,
        content: bytes | Iterable[bytes],
        headers: dict[str, str],
        expected: int,
        what: str,
    ) -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream", **headers}
        response = self.request(
            method, url, repository=repository, what=what, content=content, headers=headers, timeout=FINISH_TIMEOUT
        )
        if response.status_code != expected:
            raise self.refused(response, what)
        response.close()
        return response

    def cancel_upload(self, repository: str, upload: str) -> None:
        """End an open upload; one the registry no longer knows is not an error."""
        # best effort: the registry purges abandoned uploads itself, and a token service may grant no "delete"
        with contextlib.suppress(StoreUnreachable, StoreRefused):
            self.request("DELETE", upload, repository=repository, what=f"repository {repository}").close()

    def push_blob(self, repository: str, data: bytes, digest: str | None = None) -> str:
        """A small blob (config, base layer) in two requests; skipped when the repository has it."""
        digest = digest or digest_of(data)
        if self.blob_size(repository, digest) is None:
            self.finish_upload(repository, self.start_upload(repository), digest, data)
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        url = self.url(repository, f"manifests/{reference}")
        response = self.request(
            "PUT",
            url,
            repository=repository,
            what=f"repository {repository}",
            content=body,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise self.refused(response, f"the manifest {reference} in repository {repository}")
        response.close()
        return digest_of(body)

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        """Media type, body and digest of a manifest or index; the digest is checked when ``reference`` is one."""
        url = self.url(repository, f"manifests/{reference}")
        separator = "@" if reference.startswith("sha256:") else ":"
        what = f"image {repository}{separator}{reference}"
        response = self.request(
            "GET", url, repository=repository, what=what, headers={"Accept": ", ".join(MANIFEST_TYPES)}, stream=True
        )
        if response.status_code == 404:
            raise self._missing(repository, what, response)
        if response.status_code != 200:
            raise self.refused(response, what)
        try:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_MANIFEST:
                    raise StoreRefused(f"the manifest of {what} is larger than {MAX_MANIFEST} bytes")
        except httpx.TransportError as exc:
            raise StoreUnreachable(f"cannot read {what} from the OCI registry {self.registry}: {_cause(exc)}") from None
        finally:
            response.close()
        digest = digest_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch(f"the manifest of {what} has digest {digest}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        try:
            declared = json.loads(body).get("mediaType")
        except (ValueError, AttributeError):
            raise StoreRefused(f"the manifest of {what} is not JSON") from None
        return (declared if isinstance(declared, str) and declared else media_type), body, digest

    def _missing(self, repository: str, what: str, response: httpx.Response) -> StoreRefused:
        """A manifest the registry does not have: say whether the whole repository is missing (distribution
        answers MANIFEST_UNKNOWN either way; its tag list tells)."""
        error = self.refused(response, what)
        tags = self.request("GET", self.url(repository, "tags/list?n=1"), repository=repository, what=what)
        if tags.status_code == 404:
            return self.refused(tags, f"repository {repository}")
        tags.close()
        return error

    def open_blob(self, repository: str, digest: str) -> IO[bytes]:
        """The blob streamed; reading past its end raises ``DigestMismatch`` if the bytes were not the digest's."""
        what = f"the blob {digest} in repository {repository}"
        url = self.url(repository, f"blobs/{digest}")
        response = self.request("GET", url, repository=repository, what=what, stream=True)
        if response.is_redirect and response.headers.get("location"):
            response.close()
            response = self._follow_blob_redirect(urljoin(url, response.headers["location"]), what)
        if response.status_code == 404:
            response.close()
            raise BlobNotFound(digest)
        if response.status_code != 200:
            raise self.refused(response, what)
        return io.BufferedReader(_VerifyingReader(response, digest, what), buffer_size=READ_BLOCK)

    def read_blob_prefix(self, repository: str, digest: str, size: int) -> bytes:
        """The first ``size`` bytes of a blob (a ranged GET; unverified: for reading a tar header, not content)."""
        what = f"the blob {digest} in repository {repository}"
        url = self.url(repository, f"blobs/{digest}")
        headers = {"Range": f"bytes=0-{size - 1}"}
        response = self.request("GET", url, repository=repository, what=what, headers=headers, stream=True)
        if response.is_redirect and response.headers.get("location"):
            response.close()
            response = self._follow_blob_redirect(urljoin(url, response.headers["location"]), what, headers)
        if response.status_code == 404:
            response.close()
            raise BlobNotFound(digest)
        if response.status_code not in (200, 206):
            raise self.refused(response, what)
        data = b""
        try:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= size:
                    break
        except httpx.TransportError as exc:
            raise StoreUnreachable(f"cannot read {what} from the OCI registry {self.registry}: {_cause(exc)}") from None
        finally:
            response.close()
        return data[:size]

    def _follow_blob_redirect(self, location: str, what: str, headers: dict[str, str] | None = None) -> httpx.Response:
        parts = urlsplit(location)
        allowed = ("https", "http") if self.config.plain_http else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise StoreRefused(
                f"the OCI registry {self.registry} redirected {what} to {parts.scheme or '?'}://{parts.hostname or '?'}"
                ": only https (or http for a plain-http connection) is followed"
            )
        try:  # no credentials: the location is pre-signed storage, not the registry
            response = self._client.send(self._client.build_request("GET", location, headers=headers), stream=True)
        except httpx.TransportError as exc:
            raise StoreUnreachable(
                f"cannot reach the storage {parts.hostname} of the OCI registry {self.registry}: {_cause(exc)}"
            ) from None
        if response.status_code not in (200, 206):
            error = registry_error(response)
            response.close()
            raise StoreRefused(
                f"the storage {parts.hostname} of the OCI registry {self.registry} answered {error.label()} for {what}"
            )
        return response


class _VerifyingReader(io.RawIOBase):
    """A streamed blob as a binary file, hashed as it is read: at the end the digest must be the one asked for."""

    def __init__(self, response: httpx.Response, digest: str, what: str) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(READ_BLOCK)
        self._pending = memoryview(b"")
        self._hash = hashlib.sha256()
        self._digest = digest
        self._what = what
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._check()
                return 0
            except httpx.TransportError as exc:
                raise StoreUnreachable(f"lost the OCI registry while reading {self._what}: {_cause(exc)}") from None
            self._hash.update(chunk)
            self.size += len(chunk)
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _check(self) -> None:
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._digest:
            raise DigestMismatch(f"{self._what} read back as {actual} ({self.size} bytes)")

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


def _basic(credentials: tuple[str, str] | None) -> str:
    user, password = credentials or ("", "")
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _cause(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def json_bytes(document: Any) -> bytes:
    """The canonical bytes modelreg writes for a manifest, index or config: compact, key order as built."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
