"""The caller of the current request (or CLI command), visible to services without passing it through every call.

The HTTP middleware sets it per request; CLI commands set it to the local user (``cli_context``); background
workers and jobs to a named system principal (``system``, e.g. ``system:upload-sweep``). Services read it to check
permissions and to stamp audit records.

There is no default caller. Code that reaches a service outside a request or a command (a new surface outside
``/api/``, a worker thread: threads do not inherit context variables) has no caller, and ``current()`` and
``require()`` raise ``NoCaller``: a programming error, not a user's lack of permission, so it is no ``Forbidden``
(403) but an internal error the server logs and answers with a 500. It never silently acts as admin.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from modelreg.auth.principal import Permission, Principal, admin
from modelreg.errors import Forbidden


@dataclass(frozen=True)
class CallContext:
    principal: Principal
    request_id: str | None = None
    client: str | None = None


class NoCaller(RuntimeError):
    """Code that needs a caller runs without one: it forgot ``acting_as`` (see the module docstring)."""


_current: ContextVar[CallContext | None] = ContextVar("modelreg_call", default=None)
_COMPONENT = re.compile(r"^[a-z][a-z0-9-]{0,47}$")


def current() -> CallContext:
    """The caller; ``NoCaller`` when none was set (never a default: see the module docstring)."""
    ctx = _current.get()
    if ctx is None:
        raise NoCaller(
            "no caller: this code runs outside a request or CLI command and no principal was set; wrap it in "
            "auth.context.acting_as(...), e.g. acting_as(system('<component>')) in a background worker"
        )
    return ctx


@contextmanager
def acting_as(ctx: CallContext) -> Iterator[CallContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def system(component: str) -> CallContext:
    """An internal job or background worker, with every permission, named ``system:<component>`` in the audit
    trail (``via`` = ``system``), e.g. ``system("upload-sweep")``."""
    if not _COMPONENT.match(component):
        raise ValueError(f"invalid system component {component!r}: lower-case letters, digits and '-'")
    return CallContext(admin(f"system:{component}", "system"))


def worker(component: str, target: Callable[[], None]) -> Callable[[], None]:
    """``target`` as a thread's target that acts as ``system(component)``: a thread starts without a caller."""
    ctx = system(component)

    def run() -> None:
        with acting_as(ctx):
            target()

    return run


def cli_context() -> CallContext:
    """CLI commands work on the database directly; whoever can do that is an admin, named after the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return CallContext(admin(f"cli:{user}", "cli"), client="local")


def require(permission: Permission, what: str | None = None) -> Principal:
    """Raise 403 unless the current caller has ``permission``; the message names the missing permission.
    Without a caller, ``NoCaller`` (an internal error, not a 403)."""
    return require_of(current().principal, permission, what)


def require_of(principal: Principal, permission: Permission, what: str | None = None) -> Principal:
    if not principal.can(permission):
        roles = "role " + ", ".join(sorted(principal.roles)) if principal.roles else "no role binding"
        action = f" to {what}" if what else ""
        raise Forbidden(f"user {principal.user!r} ({roles}) lacks the {permission.value!r} permission{action}")
    return principal
