"""Helpers shared by the bridge tests: small `http.server` fakes in a thread, and polling until something shows."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A quiet request handler with `_send(code, body)` for JSON answers (`None`: an empty body)."""

    def _send(self, code: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class FakeHTTP:
    """Base for the fakes: `serve(handler)` answers on a free local port (`url`) until `close()`."""

    server: http.server.ThreadingHTTPServer
    url: str

    def serve(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def eventually(probe: Callable[[], Any], what: str, deadline: float = 5) -> Any:
    """Poll `probe` until it returns a truthy value, and return that; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if value := probe():
            return value
        time.sleep(0.02)
    pytest.fail(f"{what} not seen within {deadline} s")
