"""The client methods, declared once for both clients: a descriptor turns an operation into a blocking method on
``ModelRegistry`` and into a coroutine (or async iterator) on ``AsyncModelRegistry``.

The overloads keep each method's parameters and result type visible to type checkers and editors on both clients.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from modelreg.client._call import Op, Pager

if TYPE_CHECKING:
    from modelreg.client._async import AsyncModelRegistry
    from modelreg.client._ops import Context
    from modelreg.client._sync import ModelRegistry

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def adopt(method: F, fn: Callable[..., Any]) -> F:
    """Give ``method`` the name, docstring and signature of operation ``fn``, without ``fn``'s context argument."""
    functools.update_wrapper(method, fn)
    signature = inspect.signature(fn)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
    )
    return method


class Operation(Generic[P, T]):
    def __init__(self, fn: Callable[Concatenate[Context, P], Op[T]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    @overload
    def __get__(self, client: ModelRegistry, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncModelRegistry, owner: type | None = None) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        return self if client is None else client._operation(self.fn)


class Listing(Generic[P, T]):
    """A listing: the client iterates over it, fetching each page when the iteration reaches it."""

    def __init__(self, fn: Callable[Concatenate[Context, P], Op[Pager[T]]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    @overload
    def __get__(self, client: ModelRegistry, owner: type | None = None) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncModelRegistry, owner: type | None = None) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        return self if client is None else client._listing(self.fn)
