"""What the governance routers share: the permission dependency and the service dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from modelreg.auth import context
from modelreg.auth.authenticator import Authenticator
from modelreg.auth.principal import Permission, Principal
from modelreg.services.access import AccessService
from modelreg.services.archive import ArchiveService


def requires(permission: Permission, what: str | None = None) -> Any:
    """A route dependency: 403 unless the caller has ``permission`` (the middleware already ensured a caller)."""

    async def check() -> Principal:
        return context.require(permission, what)

    return Depends(check)


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


AccessDep = Annotated[AccessService, Depends(_state("access"))]
ArchiveDep = Annotated[ArchiveService, Depends(_state("archive"))]
AuthenticatorDep = Annotated[Authenticator, Depends(_state("authenticator"))]
