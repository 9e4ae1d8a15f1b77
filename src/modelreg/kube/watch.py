"""`WatchStream`: the events of one watch request, read line by line from the open response.

lightkube's own watch re-connects forever inside its generator, which leaves nowhere to stop it from another thread
and hides the end of a stream from the informer that wants to resume itself. This reads the chunked response
directly; `close()` may be called from any thread and wakes a reader blocked on the socket at once (it shuts the
socket down), so an informer stops within milliseconds without polling.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx2

from modelreg.kube.errors import KubeError
from modelreg.kube.shapes import Json, Labels, WatchEvent, labels_match

# (HTTP status, reason, message) of an ERROR event → the error to raise
StatusError = Callable[[int, str, str], KubeError]
# a transport failure in the middle of the stream → the error to raise
Broken = Callable[[Exception], KubeError]


class WatchStream(Iterator[WatchEvent]):
    """Iterate for events; the iteration ends when the server closes the stream or `close()` is called.

    With a label selector, events are filtered here too, for servers that ignore it: a change to an object that
    does not match arrives as DELETED, since it may have matched before (the API server itself reports an object
    leaving the selector that way); a caller ignores deletions of objects it does not hold."""

    def __init__(self, response: httpx2.Response, labels: Labels | None, status_error: StatusError, broken: Broken):
        self._response = response
        self._lines = response.iter_lines()
        self._labels = dict(labels) if labels else None
        self._status_error = status_error
        self._broken = broken
        self._closed = threading.Event()
        self._done = False

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> WatchEvent:
        while True:
            if self._done or self._closed.is_set():
                self._finish()
                raise StopIteration
            line = self._next_line()
            if not line.strip():
                continue
            event = self._parse(line)
            if event is not None:
                return event

    def _next_line(self) -> str:
        try:
            return next(self._lines)
        except StopIteration:
            self._finish()
            raise
        except (httpx2.HTTPError, httpx2.StreamError, OSError, ValueError) as exc:
            self._finish()
            if self._closed.is_set():
                raise StopIteration from None
            raise self._broken(exc) from exc

    def _parse(self, line: str) -> WatchEvent | None:
        try:
            event = json.loads(line)
            kind, obj = str(event["type"]), event.get("object") or {}
        except (ValueError, KeyError, TypeError) as exc:
            self._finish()
            raise self._broken(ValueError(f"a watch event that is not JSON: {line[:80]!r}")) from exc
        if kind == "ERROR":
            self._finish()
            code, reason, message = int(obj.get("code") or 500), str(obj.get("reason") or ""), obj.get("message")
            raise self._status_error(code, reason, str(message or ""))
        if kind in ("ADDED", "MODIFIED", "DELETED") and not labels_match(self._labels, obj):
            return WatchEvent("DELETED", obj) if kind != "ADDED" else None
        return WatchEvent(kind, _json(obj))

    def close(self) -> None:
        """End the stream; safe from any thread, and idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # the plain socket's shutdown, also for TLS: wakes a blocked recv
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            with contextlib.suppress(httpx2.HTTPError, httpx2.StreamError, OSError):
                self._response.close()


def _json(obj: object) -> Json:
    return obj if isinstance(obj, dict) else {}
