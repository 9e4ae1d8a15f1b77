"""A request body as a blocking file object, so sync stores (boto3) can stream it from a worker thread.

The event loop keeps receiving while a worker thread uploads: a pump task moves the body in blocks through a small
bounded channel (the back-pressure that keeps memory flat), and the thread reads them through ``BodyReader``. If the
client goes away mid-body, the reader raises instead of reporting a clean end, so a truncated file is never stored.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import Request

BLOCK = 1024 * 1024
QUEUED_BLOCKS = 4  # at most this many ~1 MiB batches of chunks wait for the worker (plus the one being filled)
T = TypeVar("T")


class BodyInterrupted(Exception):
    """The request body ended before the client finished sending it."""


class BodyReader:
    """A read-only binary stream over the request body, read from any thread but the event loop's.

    Bytes are copied once, when ``read`` joins the chunks it returns: on this kind of machine every copy of a 1 GB
    upload costs about half a CPU-second, as much as hashing it.
    """

    def __init__(self, receive: MemoryObjectReceiveStream[list[bytes]], loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._eof = False
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _fill(self) -> bool:
        """Take the next batch of chunks from the event loop; False at the end of the body."""
        try:
            # any thread may read (s3transfer reads parts in its own threads), so no anyio worker-thread token
            batch = asyncio.run_coroutine_threadsafe(self._receive.receive(), self._loop).result()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._eof = True
            if self.error is not None:
                raise BodyInterrupted(f"the request body was interrupted: {self.error!r}") from None
            return False
        self._chunks.extend(batch)
        self._buffered += sum(len(c) for c in batch)
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Exactly ``size`` bytes (everything left for -1), fewer only at the end of the body."""
        want = -1 if size is None or size < 0 else size
        while (want < 0 or self._buffered < want) and not self._eof and self._fill():
            pass
        if want < 0 or want >= self._buffered:
            parts, self._chunks, self._buffered = list(self._chunks), deque(), 0
            return b"".join(parts)
        parts = []
        need = want
        while need:
            chunk = self._chunks.popleft()
            if len(chunk) > need:
                view = memoryview(chunk)
                parts.append(view[:need])
                self._chunks.appendleft(view[need:])
                need = 0
            else:
                parts.append(chunk)
                need -= len(chunk)
        self._buffered -= want
        return b"".join(parts)

    def close(self) -> None:
        self._chunks.clear()


async def _pump(request: Request, send: MemoryObjectSendStream[list[bytes]], reader: BodyReader) -> None:
    """Never raises but for cancellation: a broken body is reported through the reader, to the worker."""
    batch: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            if chunk:
                batch.append(chunk)
                size += len(chunk)
            if size >= BLOCK:
                await send.send(batch)
                batch, size = [], 0
        if batch:
            await send.send(batch)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the worker stopped reading (it failed or had enough); its own result says why
    except BaseException as exc:
        reader.error = exc  # set before the stream closes, so the reader sees it with the end of the stream
        if not isinstance(exc, Exception):
            raise
    finally:
        send.close()


async def consume_body(request: Request, fn: Callable[[BodyReader], T]) -> T:
    """Run ``fn(body)`` in a worker thread while the event loop streams the request body into it."""
    send, receive = anyio.create_memory_object_stream[list[bytes]](max_buffer_size=QUEUED_BLOCKS)
    reader = BodyReader(receive, asyncio.get_running_loop())
    result: list[T] = []

    def work() -> None:
        with receive:
            result.append(fn(reader))

    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_pump, request, send, reader)
        try:
            await anyio.to_thread.run_sync(work)
        except Exception as exc:  # raised outside the task group, so callers see it unwrapped
            failure = exc
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result[0]
