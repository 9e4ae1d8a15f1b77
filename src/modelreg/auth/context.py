"""The caller of the current request (or CLI command), visible to services without passing it through every call.

The HTTP middleware sets it per request; CLI commands that write set it to the local user. Services read it to
check permissions that depend on the data (archiving through a PATCH of ``state``) and to stamp audit records.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
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


_SYSTEM = CallContext(admin("system", "system"))
_current: ContextVar[CallContext] = ContextVar("modelreg_call", default=_SYSTEM)


def current() -> CallContext:
    return _current.get()


@contextmanager
def acting_as(ctx: CallContext) -> Iterator[CallContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def cli_context() -> CallContext:
    """CLI commands work on the database directly; whoever can do that is an admin, named after the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return CallContext(admin(f"cli:{user}", "cli"), client="local")


def require(permission: Permission, what: str | None = None) -> Principal:
    """Raise 403 unless the current caller has ``permission``; the message names the missing permission."""
    return require_of(current().principal, permission, what)


def require_of(principal: Principal, permission: Permission, what: str | None = None) -> Principal:
    if not principal.can(permission):
        roles = "role " + ", ".join(sorted(principal.roles)) if principal.roles else "no role binding"
        action = f" to {what}" if what else ""
        raise Forbidden(f"user {principal.user!r} ({roles}) lacks the {permission.value!r} permission{action}")
    return principal
