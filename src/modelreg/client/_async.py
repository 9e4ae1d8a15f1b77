"""The asyncio/trio client: the same methods as ``ModelRegistry``, awaited; listings are async iterators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import anyio
import httpx

from modelreg.client._base import BaseRegistry
from modelreg.client._call import Call, Drive, Op, Pager
from modelreg.client._events import PATH, Event, Resume
from modelreg.client._methods import adopt

T = TypeVar("T")


async def _aiter(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """httpx's async client only streams async iterables; reading a 1 MiB block from a local file is quick
    enough not to need a worker thread."""
    for block in blocks:
        yield block


class AsyncModelRegistry(BaseRegistry):
    """``async with AsyncModelRegistry(...) as registry:`` closes its connections at the end."""

    _http: httpx.AsyncClient

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._options)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncModelRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def events(
        self, since: int | None = None, *, types: Sequence[str] | None = None, model: str | None = None
    ) -> AsyncIterator[Event]:
        """As ``ModelRegistry.events``: ``async for event in registry.events():``."""
        resume = Resume(since, types, model)
        while True:
            try:
                async with self._http.stream("GET", PATH, params=resume.params, headers=resume.headers) as response:
                    if response.status_code == 503:
                        resume.refused(response)
                    else:
                        async for event in self._stream(response, resume):
                            yield event
            except httpx.TransportError as exc:
                if not resume.connections:  # never connected: a wrong address, a server down
                    raise self._unavailable(exc) from exc
                resume.failed()
            await anyio.sleep(resume.pause())

    async def _stream(self, response: httpx.Response, resume: Resume) -> AsyncIterator[Event]:
        if response.is_error:
            await response.aread()
            self._decode(response)
        resume.connected()
        async for line in response.aiter_lines():
            if (event := resume.line(line)) is not None:
                yield event

    def _operation(self, fn: Callable[..., Op[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
        async def run(*args: Any, **kwargs: Any) -> T:
            return await self._run(fn(self, *args, **kwargs))

        return adopt(run, fn)

    def _listing(self, fn: Callable[..., Op[Pager[T]]]) -> Callable[..., AsyncIterator[T]]:
        async def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
            pager, token = await self._run(fn(self, *args, **kwargs)), ""
            while True:
                page = await self._run(pager(token))
                for item in page.items:
                    yield item
                if not (token := page.next_page_token):
                    return

        return adopt(iterate, fn)

    async def _run(self, op: Op[T]) -> T:
        """As ``ModelRegistry._run``; cancellation is raised into the operation like any failure."""
        drive = Drive(op)
        while (call := drive.next_call()) is not None:
            try:
                drive.answer(await self._send(call))
            except BaseException as exc:  # KeyboardInterrupt and cancellation too: an upload must still be aborted
                drive.fail(exc)
        return drive.result  # type: ignore[return-value]  # set once next_call() returned None

    async def _send(self, call: Call) -> Any:
        try:
            return await self._exchange(call)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    async def _exchange(self, call: Call) -> Any:
        request = self._request(self._http, call, None if call.content is None else _aiter(call.content))
        if call.sink is None:
            return self._decode(await self._http.send(request))
        response = await self._http.send(request, stream=True)
        try:
            if response.is_error:
                await response.aread()
                self._decode(response)
            async for block in response.aiter_bytes():
                call.sink(block)
        finally:
            await response.aclose()
        return None
