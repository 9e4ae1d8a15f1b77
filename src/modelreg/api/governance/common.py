"""The permission dependency every governance and storage route uses (services come from ``api/deps.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from modelreg.auth import context
from modelreg.auth.principal import Permission, Principal


def requires(permission: Permission, what: str | None = None) -> Any:
    """A route dependency: 403 unless the caller has ``permission`` (the middleware already ensured a caller)."""

    async def check() -> Principal:
        return context.require(permission, what)

    return Depends(check)
