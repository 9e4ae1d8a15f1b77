"""Request ids: one per HTTP request, echoed in ``X-Request-ID``, recorded in the audit trail and on every log line
written while the request runs (a context variable: the request's task and the worker threads it hands work to
see it; a background thread does not).

A caller's own ``X-Request-ID`` is kept when it is sane: 1 to 128 visible ASCII characters (no space, no control
character), so it cannot forge a log line or a header. Otherwise a new one is made: a random per-process prefix and
a counter, 32 hex characters. That is unique across processes and restarts without a random draw per request
(``bench/README.md``, "telemetry_overhead.py": about a tenth of ``uuid4().hex``'s cost).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from contextvars import ContextVar

HEADER = b"x-request-id"
_SANE = re.compile(rb"[\x21-\x7e]{1,128}")
_current: ContextVar[str | None] = ContextVar("modelreg_request_id", default=None)
_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    """A fresh prefix for this process (and for a forked child, which would otherwise repeat its parent's ids)."""
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count(1)


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new() -> str:
    return f"{_prefix}{next(_counter):016x}"


def begin(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The id of the request with these headers (the caller's when sane, else a new one), made current."""
    request_id = None
    for name, value in headers:
        if name == HEADER:
            if _SANE.fullmatch(value):
                request_id = value.decode("ascii")
            break
    request_id = request_id or new()
    _current.set(request_id)  # not reset: each request runs in a task of its own (see middleware.py)
    return request_id


def current() -> str | None:
    """The id of the request being served, None outside one."""
    return _current.get()
