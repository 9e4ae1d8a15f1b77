"""The one protocol between operations and the sync/async executors (as httpx's ``Auth.auth_flow``).

An operation is a generator: it yields a ``Call`` and receives the decoded JSON body of the answer (``None`` for
a streamed or empty one). An executor does the I/O and raises the SDK's errors *into* the generator, so an
operation can clean up (abort an upload) with plain ``try``/``except`` and the same code serves both clients.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Op = Generator["Call", Any, T]


@dataclass(frozen=True)
class Call:
    """One HTTP request. ``content`` streams a body; ``sink`` asks for the response body in chunks instead of
    decoding it as JSON (downloads)."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None
    content: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sink: Callable[[bytes], None] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str  # "" after the last page


# A listing: given the next page token ("" for the first page), the operation fetching that page.
Pager = Callable[[str], Op[Page[T]]]


def get(path: str, /, **params: str | None) -> Call:
    """A GET, leaving out the parameters that are not set (the server treats ``name=`` as a filter)."""
    return Call("GET", path, {k: v for k, v in params.items() if v is not None} or None)


class Drive(Generic[T]):
    """An operation in progress, for the executors: each asks for the next call, then answers it or fails it.

    A failure is raised into the operation (not past it), so the operation may still make calls to clean up.
    """

    def __init__(self, op: Op[T]) -> None:
        self._op = op
        self._reply: Any = None
        self._failure: BaseException | None = None
        self.result: T | None = None

    def next_call(self) -> Call | None:
        """The next call to make, or ``None`` when the operation is done and ``result`` is set."""
        failure, self._failure = self._failure, None
        try:
            return self._op.throw(failure) if failure is not None else self._op.send(self._reply)
        except StopIteration as done:
            self.result = done.value
            return None

    def answer(self, reply: Any) -> None:
        self._reply = reply

    def fail(self, failure: BaseException) -> None:
        self._failure = failure
