"""Idle keep-alive connections (docs/scaling.md, "Keep-alive connections"): the server keeps one open for
``keep_alive_seconds``, above a client's own idle expiry, so that the client closes first and never sends a request
into a connection the server is closing at that moment."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import free_port
from processes import ServeProcess

REQUEST = b"GET /readyz/isDirty HTTP/1.1\r\nHost: modelreg\r\n\r\n"


@contextmanager
def _connected(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[socket.socket]:
    """A server, and one raw HTTP/1.1 connection to it."""
    port = free_port()
    args = ("--database-url", f"sqlite:///{tmp_path / 'r.db'}")
    with (
        ServeProcess(port, *args, env=env, log=tmp_path / "log"),
        socket.create_connection(("127.0.0.1", port)) as conn,
    ):
        conn.settimeout(10)
        yield conn


def _served(conn: socket.socket) -> bool:
    """Send a request on ``conn`` and read its whole answer: is it a 200?"""
    conn.sendall(REQUEST)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = conn.recv(65536)
        if not chunk:
            return False  # closed before an answer
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += conn.recv(65536)
    return head.startswith(b"HTTP/1.1 200")


def test_a_connection_idle_past_a_clients_expiry_is_still_served(tmp_path: Path) -> None:
    with _connected(tmp_path) as conn:
        assert _served(conn)
        time.sleep(5.5)  # uvicorn's default timeout and httpx's keepalive_expiry are both 5 s
        assert _served(conn)


def test_the_server_closes_connections_idle_longer_than_keep_alive_seconds(tmp_path: Path) -> None:
    with _connected(tmp_path, env={"MODELREG_KEEP_ALIVE_SECONDS": "1"}) as conn:
        assert _served(conn)
        time.sleep(0.3)
        assert _served(conn)  # idle for less than the setting: kept open
        time.sleep(2)
        assert conn.recv(1) == b""  # closed by the server, with nothing sent on it since
