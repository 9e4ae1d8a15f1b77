"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx

from modelreg.client._base import BaseRegistry
from modelreg.client._call import Call, Drive, Op, Pager
from modelreg.client._events import PATH, Event, Resume
from modelreg.client._methods import adopt

T = TypeVar("T")


class ModelRegistry(BaseRegistry):
    """A model registry client; ``with ModelRegistry(...) as registry:`` closes its connections at the end."""

    _http: httpx.Client

    def _open(self) -> None:
        self._http = httpx.Client(**self._options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def events(
        self, since: int | None = None, *, types: Sequence[str] | None = None, model: str | None = None
    ) -> Iterator[Event]:
        """The registry's events as they happen, without end (stop iterating to stop): after the event id ``since``,
        or from now; only ``types`` (patterns such as ``io.modelreg.model_version.*``) of the registered models
        ``model`` names (a name or a glob). Reconnects when the server ends a stream, missing nothing."""
        resume = Resume(since, types, model)
        while True:
            try:
                with self._http.stream("GET", PATH, params=resume.params, headers=resume.headers) as response:
                    if response.status_code == 503:
                        resume.refused(response)
                    else:
                        yield from self._stream(response, resume)
            except httpx.TransportError as exc:
                if not resume.connections:  # never connected: a wrong address, a server down
                    raise self._unavailable(exc) from exc
                resume.failed()
            time.sleep(resume.pause())

    def _stream(self, response: httpx.Response, resume: Resume) -> Iterator[Event]:
        if response.is_error:
            response.read()
            self._decode(response)
        resume.connected()
        for line in response.iter_lines():
            if (event := resume.line(line)) is not None:
                yield event

    def _operation(self, fn: Callable[..., Op[T]]) -> Callable[..., T]:
        return adopt(lambda *args, **kwargs: self._run(fn(self, *args, **kwargs)), fn)

    def _listing(self, fn: Callable[..., Op[Pager[T]]]) -> Callable[..., Iterator[T]]:
        def iterate(*args: Any, **kwargs: Any) -> Iterator[T]:
            pager, token = self._run(fn(self, *args, **kwargs)), ""
            while True:
                page = self._run(pager(token))
                yield from page.items
                if not (token := page.next_page_token):
                    return

        return adopt(iterate, fn)

    def _run(self, op: Op[T]) -> T:
        """Drive an operation, raising each failure into it (so that it may clean up) rather than past it."""
        drive = Drive(op)
        while (call := drive.next_call()) is not None:
            try:
                drive.answer(self._send(call))
            except BaseException as exc:  # KeyboardInterrupt and cancellation too: an upload must still be aborted
                drive.fail(exc)
        return drive.result  # type: ignore[return-value]  # set once next_call() returned None

    def _send(self, call: Call) -> Any:
        try:
            return self._exchange(call)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    def _exchange(self, call: Call) -> Any:
        request = self._request(self._http, call, call.content)
        if call.sink is None:
            return self._decode(self._http.send(request))
        response = self._http.send(request, stream=True)
        try:
            if response.is_error:
                response.read()
                self._decode(response)
            for block in response.iter_bytes():
                call.sink(block)
        finally:
            response.close()
        return None
