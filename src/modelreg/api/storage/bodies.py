"""A request body as a blocking file object, so sync stores (boto3) can stream it from a worker thread.

The event loop keeps receiving while a worker thread uploads: a pump task moves the body in blocks through a small
bounded channel (the back-pressure that keeps memory flat), and the thread reads them through ``BodyReader``. If the
client goes away mid-body, the reader raises instead of reporting a clean end, so a truncated file is never stored.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import Request

BLOCK = 1024 * 1024
QUEUED_BLOCKS = 4  # at most this many blocks wait for the worker (plus the one being filled)
T = TypeVar("T")


class BodyInterrupted(Exception):
    """The request body ended before the client finished sending it."""


class BodyReader(io.RawIOBase):
    """Read from any thread but the event loop's; each block is handed over by the event loop."""

    def __init__(self, receive: MemoryObjectReceiveStream[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._pending = memoryview(b"")
        self._eof = False
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            try:
                # any thread may read (s3transfer reads parts in its own threads), so no anyio worker-thread token
                block = asyncio.run_coroutine_threadsafe(self._receive.receive(), self._loop).result()
                self._pending = memoryview(block)
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self._eof = True
        if not self._pending:
            if self.error is not None:
                raise BodyInterrupted(f"the request body was interrupted: {self.error!r}")
            return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


async def _pump(request: Request, send: MemoryObjectSendStream[bytes], reader: BodyReader) -> None:
    """Never raises but for cancellation: a broken body is reported through the reader, to the worker."""
    block = bytearray()
    try:
        async for chunk in request.stream():
            block += chunk
            if len(block) >= BLOCK:
                await send.send(bytes(block))
                block.clear()
        if block:
            await send.send(bytes(block))
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the worker stopped reading (it failed or had enough); its own result says why
    except BaseException as exc:
        reader.error = exc  # set before the stream closes, so the reader sees it with the end of the stream
        if not isinstance(exc, Exception):
            raise
    finally:
        send.close()


async def consume_body(request: Request, fn: Callable[[io.BufferedReader], T]) -> T:
    """Run ``fn(body)`` in a worker thread while the event loop streams the request body into it."""
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=QUEUED_BLOCKS)
    reader = BodyReader(receive, asyncio.get_running_loop())
    result: list[T] = []

    def work() -> None:
        with receive:
            result.append(fn(io.BufferedReader(reader, buffer_size=BLOCK)))

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
