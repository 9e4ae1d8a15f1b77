"""Reading Server-Sent Events in tests: the few lines of the format the event stream uses, no SSE library."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

STREAM = "/api/events/v1/stream"


@dataclass(frozen=True)
class Message:
    """One dispatched SSE block: an event (``data``), a ``retry`` advice or a comment (``: keepalive``)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comment: str | None = None

    def json(self) -> dict[str, Any]:
        assert self.data is not None, self
        body: dict[str, Any] = json.loads(self.data)
        return body


def parse(lines: Iterator[str]) -> Iterator[Message]:
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if not line:
            if data or fields:
                yield Message(
                    fields.get("id"), fields.get("event"), "\n".join(data) if data else None, fields.get("retry")
                )
            fields, data = {}, []
        elif line.startswith(":"):
            yield Message(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


class EventStream:
    """An open ``GET /stream`` response; iterate `messages` (or `events`) until a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._messages = parse(response.iter_lines())
        self.ended = False  # the server ended the stream

    def messages(self, seconds: float = 30) -> Iterator[Message]:
        """Messages as they come, for at most ``seconds`` (a heartbeat keeps them coming on an idle stream), or
        until the server ends the stream (`ended`)."""
        deadline = time.monotonic() + seconds
        for message in self._messages:
            yield message
            if time.monotonic() > deadline:
                return
        self.ended = True

    def events(self, seconds: float = 30) -> Iterator[Message]:
        return (m for m in self.messages(seconds) if m.data is not None)

    def collect(self, want: int, seconds: float = 30) -> list[Message]:
        """The next ``want`` events (fewer if the time runs out or the stream ends)."""
        found: list[Message] = []
        for message in self.events(seconds):
            found.append(message)
            if len(found) == want:
                break
        return found


@contextmanager
def open_stream(
    client: httpx.Client, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Iterator[EventStream]:
    """The stream, open: its response has been checked to be one."""
    with client.stream("GET", STREAM, params=params, headers=headers) as response:
        assert response.status_code == 200, response.read()
        yield EventStream(response)
