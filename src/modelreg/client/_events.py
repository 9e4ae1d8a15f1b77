"""The event stream (``GET /api/events/v1/stream``, docs/events.md), for both clients: what each (re)connection asks
for and the Server-Sent Events lines turned into `Event`s.

The server ends every stream after a while (``events.stream_max_seconds``) and when it stops; the client then
reconnects with ``Last-Event-ID``, the last id it received (the server names its starting point as one, before
any event), as a browser's ``EventSource`` does. So a caller iterating ``events()`` sees every event once, in
order, across reconnections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

PATH = "/api/events/v1/stream"
GAP_TYPE = "io.modelreg.stream.gap"
RETRY_SECONDS = 1.0  # until the server says otherwise (``retry:``)
MAX_WAIT_SECONDS = 30.0  # the longest pause before a reconnection


@dataclass(frozen=True)
class Event:
    """A CloudEvent of the stream. ``id`` is the audit sequence number of the change; ``data`` holds ``entity``,
    ``changes``, ``actor``, ``via`` and ``requestId``. A gap (``is_gap``: events after the resume point were
    deleted by retention) has ``missedAfter`` and ``resumedAt`` in ``data``; ``raw`` is the whole CloudEvent."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    data: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def is_gap(self) -> bool:
        return self.type == GAP_TYPE

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Event:
        stamp = raw.get("time")
        return cls(
            id=str(raw.get("id", "")),
            type=str(raw.get("type", "")),
            source=str(raw.get("source", "")),
            subject=raw.get("subject"),
            time=datetime.fromisoformat(stamp.replace("Z", "+00:00")) if isinstance(stamp, str) else None,
            data=raw.get("data") or {},
            raw=raw,
        )


class Resume:
    """A stream across its connections: the request of the next one, and the parser of the current one."""

    def __init__(self, since: int | None, types: Sequence[str] | None, model: str | None) -> None:
        self.last_id = None if since is None else str(since)
        self.params = {k: v for k, v in {"types": ",".join(types or ()), "model": model}.items() if v}
        self.retry_seconds = RETRY_SECONDS
        self.connections = 0  # that were answered with a stream
        self._failures = 0  # connections in a row that were refused or failed
        self._refused_for: float | None = None  # a refusal's Retry-After
        self._data: list[str] = []
        self._id: str | None = None  # becomes ``last_id`` when its block ends: a cut block is read again

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        return headers

    def connected(self) -> None:
        self.connections += 1
        self._failures = 0
        self._data, self._id = [], None

    def refused(self, response: httpx.Response) -> None:
        """The server serves as many streams as it may (503): its ``Retry-After`` says when to come back."""
        self._failures += 1
        after = response.headers.get("retry-after", "")
        self._refused_for = float(after) if after.isdigit() else None

    def failed(self) -> None:
        self._failures += 1

    def pause(self) -> float:
        """Seconds before the next connection: the server's ``retry`` after a stream that ended, longer after
        each failure in a row."""
        refused_for, self._refused_for = self._refused_for, None
        if refused_for is not None:
            return min(refused_for, MAX_WAIT_SECONDS)
        backoff: float = self.retry_seconds * 2 ** min(self._failures, 5)
        return min(backoff, MAX_WAIT_SECONDS)

    def line(self, line: str) -> Event | None:
        """One line of the stream; the event it completes, if any."""
        if not line:
            data, self._data = self._data, []
            if self._id is not None:
                self.last_id, self._id = self._id, None
            return Event.from_wire(json.loads("\n".join(data))) if data else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_seconds = int(value) / 1000
        return None
