"""A read-only store over plain http(s) URLs, for artifacts whose URI points at a web server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import httpx

from modelreg.blobs.base import BlobNotFound, StoreConfig, StoredFile, UnsupportedOperation


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
        if not key:
            return self.config.base_url or ""
        return self.config.base_url.rstrip("/") + "/" + key.lstrip("/")  # type: ignore[union-attr]

    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def put_stream(self, key: str, fileobj: IO[bytes], size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def open_read(self, key: str) -> IO[bytes]:
        client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        response = client.send(client.build_request("GET", self._url(key)), stream=True)
        if response.status_code == 404:
            response.close()
            client.close()
            raise BlobNotFound(key)
        if response.is_error:
            response.close()
            client.close()
            response.raise_for_status()
        return io.BufferedReader(_ResponseReader(client, response), buffer_size=1024 * 1024)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        raise UnsupportedOperation("http(s) locations cannot be listed")

    def delete_prefix(self, prefix: str) -> int:
        raise UnsupportedOperation("http(s) artifact locations are read-only")

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None  # the URL is already whatever access the server grants; nothing time-limited to add

    def uri(self, key: str) -> str:
        return self._url(key)
