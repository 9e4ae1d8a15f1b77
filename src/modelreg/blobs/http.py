"""A read-only store over plain http(s) URLs, for artifacts whose URI points at a web server.

Redirects are never followed: an admin allowed a base URL, not whatever it redirects to (another host, a
loopback-only service, ``file://``). A redirect is reported as the store's answer (``StoreRefused``), like any error
status; a URL with dot segments is refused before any request (``uris.check_http_url``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO
from urllib.parse import urlsplit

import httpx

from modelreg import tls
from modelreg.blobs.base import (
    BlobNotFound,
    Partial,
    Readable,
    StoreConfig,
    StoredFile,
    StoreRefused,
    StoreUnreachable,
    UnsupportedOperation,
)
from modelreg.blobs.uris import InvalidUri, check_http_url

CHECK_TIMEOUT = 10.0


class _ResponseReader(io.RawIOBase):
    """A streamed httpx response as a binary file: bytes are pulled from the socket as they are read."""

    def __init__(self, client: httpx.Client, response: httpx.Response) -> None:
        self._client = client
        self._response = response
        self._chunks = response.iter_raw()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._client.close()
        super().close()


class HttpStore:
    """``key`` is appended to ``base_url`` (an empty key reads ``base_url`` itself, which may carry a query)."""

    def __init__(self, config: StoreConfig, *, timeout: float = 60.0) -> None:
        if not config.base_url:
            raise ValueError("a uri store needs a base_url")
        self.config = config
        self.timeout = timeout

    def _url(self, key: str) -> str:
        base = self.config.base_url or ""
        url = base if not key else base.rstrip("/") + "/" + key.lstrip("/")
        try:
            check_http_url(url)
        except InvalidUri as exc:
            raise StoreRefused(f"refusing {_shown(url)}: {exc}") from None
        return url

    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def open_read(self, key: str) -> IO[bytes]:
        url = self._url(key)
        client = httpx.Client(timeout=self.timeout, follow_redirects=False, verify=tls.default_context())
        try:
            response = client.send(client.build_request("GET", url), stream=True)
        except httpx.TransportError as exc:
            client.close()
            raise StoreUnreachable(f"cannot reach {_shown(url)}: {_cause(exc)}") from None
        if response.status_code == 200:
            return io.BufferedReader(_ResponseReader(client, response), buffer_size=1024 * 1024)
        response.close()
        client.close()
        if response.status_code == 404:
            raise BlobNotFound(key)
        if response.is_redirect:
            where = urlsplit(response.headers.get("location", ""))
            target = f"{where.scheme}://{where.hostname or ''}" if where.scheme else "another location"
            raise StoreRefused(
                f"{_shown(url)} answered {response.status_code} {response.reason_phrase}, a redirect to {target}: "
                "modelreg does not follow redirects (register the final URL under an allowed base instead)"
            )
        raise StoreRefused(f"{_shown(url)} answered {response.status_code} {response.reason_phrase}")

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        raise UnsupportedOperation("http(s) locations cannot be listed")

    def delete_prefix(self, prefix: str) -> int:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None  # the URL is already whatever access the server grants; nothing time-limited to add

    def uri(self, key: str) -> str:
        return self._url(key)

    def check(self) -> None:
        """Reachability only: any HTTP answer will do (a base URL is often a folder that answers 403 or 404)."""
        url = self._url("")
        try:
            with httpx.Client(timeout=CHECK_TIMEOUT, follow_redirects=False, verify=tls.default_context()) as client:
                client.send(client.build_request("GET", url), stream=True).close()
        except httpx.TransportError as exc:
            raise StoreUnreachable(f"cannot reach {_shown(url)}: {_cause(exc)}") from None

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        return iter(())  # read-only: nothing is ever written

    def discard_partial(self, partial: Partial) -> None:
        raise UnsupportedOperation("http(s) artifact locations are read-only")


def _shown(url: str) -> str:
    """A URL fit for a message: no query (it may carry a signature or token) and no user info."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the URL"
    if not parts.hostname:
        return "the URL"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}{parts.path}"[:300]


def _cause(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
