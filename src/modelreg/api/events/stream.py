"""``GET /api/events/v1/stream``: Server-Sent Events from `events.feed.EventFeed`.

Each event is ``id: <seq>``, ``event: <type>`` and ``data: <the CloudEvent, as stored>``; a client resumes with
``Last-Event-ID`` (what ``EventSource`` sends when it reconnects) or ``?since=``, and without either gets the events
from now on. Readers may listen (the baseline ``read`` of api/auth.py); the caller's credentials are checked again
at every heartbeat, so a revoked token or a removed role binding ends the stream within one heartbeat.

A stream ends after ``events.stream_max_seconds`` (the client reconnects and misses nothing), and as soon as the
server is told to stop (``app.state.draining``, set on SIGTERM by api/health.py): uvicorn waits for open responses
before it stops, so a stream that went on would hold the shutdown for the whole drain timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from modelreg.api.auth import principal_of
from modelreg.api.errors import error_response
from modelreg.auth import context
from modelreg.auth.authenticator import Authenticator
from modelreg.auth.principal import Permission
from modelreg.db.repository import MAX_ID
from modelreg.errors import InvalidInput, RegistryError, Unavailable
from modelreg.events.feed import BATCH, GAP_TYPE, EventFeed, Gap, Selection, StreamsFull

router = APIRouter(tags=["Events"])

RETRY_AFTER_SECONDS = 5  # a client refused for the stream limit tries again after this
RECONNECT_MS = 1000  # the ``retry:`` field: how soon EventSource reconnects after a stream ends
TICK_SECONDS = 0.5  # the longest wait between two looks at the clock and at a shutdown
KEEPALIVE = b": keepalive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy (nginx) may buffer the stream

SinceQuery = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,19}$", description="Send the events after this id (an event's `id`); default: from now"),
]
TypesQuery = Annotated[
    str | None,
    Query(
        max_length=2048,
        description="Comma-separated event type patterns, `*` a wildcard: `io.modelreg.model_version.*`",
    ),
]
ModelQuery = Annotated[
    str | None, Query(max_length=255, description="Only events of registered models with this name (a glob)")
]
LastEventIdHeader = Annotated[
    str | None, Header(alias="Last-Event-ID", description="Resume after this event (overrides `since`)")
]

_STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "A stream of Server-Sent Events: `id: <seq>`, `event: <type>`, `data: <CloudEvent JSON>`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    400: {"description": "A bad `since`, `Last-Event-ID` or `types`"},
    401: {"description": "No valid credentials"},
    503: {"description": "This server serves as many streams as it may (`Retry-After`), or the database is away"},
}


@router.get("/stream", response_class=StreamingResponse, responses=_STREAM_RESPONSES)
async def stream(
    request: Request,
    since: SinceQuery = None,
    types: TypesQuery = None,
    model: ModelQuery = None,
    last_event_id: LastEventIdHeader = None,
) -> Response:
    """Server-Sent Events: every event from now on, or after `Last-Event-ID` / `since` (events since deleted by
    retention are announced by one `io.modelreg.stream.gap` event). The stream closes after
    `events.stream_max_seconds`; reconnect with the last id seen."""
    feed: EventFeed = request.app.state.event_feed
    selection = Selection.parse(types, model)
    resume = _resume_point(last_event_id, since)
    try:
        feed.acquire()
    except StreamsFull as exc:
        refused = error_response(503, str(exc))
        refused.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return refused
    try:
        start = await feed.now() if resume is None else resume
        gap = None if resume is None else await feed.gap_after(resume)
    except BaseException:
        feed.release()
        raise
    return EventStream(_events(request, feed, selection, start, gap), feed)


class EventStream(StreamingResponse):
    """``text/event-stream`` that gives its feed slot back however the response ends (done, client gone,
    cancelled at shutdown)."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], feed: EventFeed) -> None:
        super().__init__(content, headers=HEADERS)
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.feed.release()


def _resume_point(last_event_id: str | None, since: str | None) -> int | None:
    """``Last-Event-ID`` wins over ``since``: it is what a client that opened the stream with ``since`` sends on
    reconnecting, and it is newer."""
    if last_event_id is not None and last_event_id.strip():
        return _event_id("Last-Event-ID", last_event_id.strip())
    return None if since is None else _event_id("since", since)


def _event_id(name: str, value: str) -> int:
    if not value.isdigit() or len(value) > 19 or int(value) > MAX_ID:
        raise InvalidInput(f"{name} must be an event id (a sequence number), not {value[:40]!r}")
    return int(value)


async def _events(
    request: Request, feed: EventFeed, selection: Selection, last: int, gap: Gap | None
) -> AsyncIterator[bytes]:
    settings = feed.settings
    loop = asyncio.get_running_loop()
    ends = loop.time() + settings.stream_max_seconds
    beat = loop.time() + settings.stream_heartbeat_seconds
    # The start as the last event id (an SSE block without data sets it without an event), so a client that
    # reconnects before any event came resumes here; and the headers go now, not with the first event.
    yield f"retry: {RECONNECT_MS}\nid: {last}\n\n".encode()
    if gap is not None:
        yield _gap_message(gap, settings.source)
    while True:
        mark = feed.mark()
        batch = await feed.read_after(last)
        for event in batch:
            last = event.seq
            if selection.admits(event):
                yield _message(str(event.seq), event.type, event.body)
        now = loop.time()
        if now >= ends or getattr(request.app.state, "draining", False):
            return
        if len(batch) == BATCH:
            await asyncio.sleep(0)  # behind: read on, letting the other requests in between
            continue
        if now >= beat:
            if not await _still_allowed(request):
                return
            yield KEEPALIVE
            beat = now + settings.stream_heartbeat_seconds
        await feed.wait_after(mark, max(0.0, min(beat, ends, now + TICK_SECONDS) - now))


def _message(event_id: str | None, event_type: str, body: bytes) -> bytes:
    """One SSE message; a body with line breaks (never one modelreg writes) becomes several ``data:`` lines."""
    head = (f"id: {event_id}\n" if event_id is not None else "") + f"event: {event_type}\n"
    data = b"".join(b"data: " + line + b"\n" for line in body.split(b"\n"))
    return head.encode() + data + b"\n"


def _gap_message(gap: Gap, source: str) -> bytes:
    """Without an SSE id, so the client's Last-Event-ID stays where it was."""
    return _message(None, GAP_TYPE, gap.body(source))


async def _still_allowed(request: Request) -> bool:
    """Whether the stream's credentials still give ``read`` (checked as api/auth.py does). A database that does
    not answer keeps the stream going: the check is for revocations, not outages."""
    authenticator: Authenticator = request.app.state.authenticator
    peer = request.client.host if request.client else None
    try:
        principal = await principal_of(
            authenticator, request.scope["headers"], peer, inline=request.app.state.auth_inline
        )
        context.require_of(principal, Permission.READ)
    except Unavailable:
        return True
    except RegistryError:
        return False
    return True
