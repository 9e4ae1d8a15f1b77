"""The JSON body limit runs after authentication: an unauthenticated caller never gets the server to read a body,
an authenticated one gets the 413 before the body is read."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from governance.conftest import REGISTRY, Governed


def _status_line(gov: Governed, token: str | None) -> bytes:
    """The answer to a POST announcing a 100 MB body and sending none of it."""
    address = urlsplit(gov.url)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"POST {REGISTRY}/registered_models HTTP/1.1\r\nHost: {address.netloc}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_unauthenticated_callers_get_401_and_authenticated_ones_413(gov: Governed) -> None:
    assert _status_line(gov, None).startswith(b"HTTP/1.1 401 ")
    assert _status_line(gov, gov.tokens["viewer"]).startswith(b"HTTP/1.1 403 ")  # viewers may not write at all
    assert _status_line(gov, gov.tokens["developer"]).startswith(b"HTTP/1.1 413 ")
    assert gov.registry("viewer").get("/registered_models").json()["items"] == []
