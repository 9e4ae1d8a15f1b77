"""A real webhook receiver for the event tests: a threaded ``http.server`` on 127.0.0.1 that records every request
and answers as a script says: a status (200, 500, a 302...), ``HANG`` (no answer until released, then the
connection closes) or ``CLOSE`` (the connection closes without an answer).

    with Receiver() as receiver:
        receiver.script(lambda request, attempt: 500 if attempt == 1 else 200)   # each event fails once
        ...
        receiver.wait_for(lambda got: len(got.delivered()) == 3)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"
CLOSE = "close"
HANG_SECONDS = 60.0  # a hung answer's longest wait, should nothing release it

Action = int | str
Script = Callable[["Request", int], Action]  # (the request, its attempt number for its webhook-id) → action


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    arrived: float  # time.time()
    answer: Action | None = None

    @property
    def msg_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Received:
    """What a receiver got, as one consistent copy."""

    requests: list[Request] = field(default_factory=list)

    def delivered(self) -> list[str]:
        """webhook-ids answered 2xx, in arrival order."""
        return [r.msg_id for r in self.requests if isinstance(r.answer, int) and 200 <= r.answer < 300]

    def attempts(self, msg_id: str) -> list[Request]:
        return [r for r in self.requests if r.msg_id == msg_id]


class Receiver:
    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self._requests: list[Request] = []
        self._script: Script = lambda _request, _attempt: 200
        self._changed = threading.Condition()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def script(self, script: Script) -> None:
        with self._changed:
            self._script = script

    def release(self) -> None:
        """Let every hung request (and every later ``HANG``) end now, without an answer."""
        self._released.set()

    def received(self) -> Received:
        with self._changed:
            return Received(list(self._requests))

    def wait_for(self, condition: Callable[[Received], bool], timeout: float = 30.0) -> Received:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = Received(list(self._requests))
                if condition(got):
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver did not get what was expected in {timeout} s: {got.requests}")
                self._changed.wait(left)

    def _arrived(self, request: Request) -> Action:
        with self._changed:
            attempt = 1 + sum(1 for r in self._requests if r.msg_id == request.msg_id)
            request.answer = self._script(request, attempt)
            self._requests.append(request)
            self._changed.notify_all()
            return request.answer


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            action = receiver._arrived(Request(self.path, headers, body, time.time()))
            if action == HANG:
                receiver._released.wait(HANG_SECONDS)
                self.close_connection = True
                return
            if action == CLOSE:
                self.close_connection = True
                return
            assert isinstance(action, int)
            answer = b"" if action < 300 else f"answer {action}".encode()
            self.send_response(action)
            if 300 <= action < 400:
                self.send_header("location", f"http://127.0.0.1:{receiver.port}/redirected")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
