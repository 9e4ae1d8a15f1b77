"""Annotated dependencies shared by every API surface: the services built in ``create_app`` (``app.state``).

They are ``async`` only so that FastAPI calls them inline instead of hopping to a worker thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from modelreg.auth.authenticator import Authenticator
from modelreg.services.access import AccessService
from modelreg.services.archive import ArchiveService
from modelreg.services.artifact_files import ArtifactFiles
from modelreg.services.audit import AuditService
from modelreg.services.connections import ConnectionService
from modelreg.services.experiments import ExperimentService
from modelreg.services.lifecycle import LifecycleService
from modelreg.services.registry import RegistryService
from modelreg.services.transfers import TransferService
from modelreg.services.uploads import UploadService

# Each getter below and the ``app.state`` attribute it returns: routes that need nothing else skip FastAPI's
# dependency solving and read the attribute themselves (api/registry/route.py).
STATE_GETTERS: dict[Callable[..., Any], str] = {}


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    STATE_GETTERS[get] = name
    return get


RegistryDep = Annotated[RegistryService, Depends(_state("registry"))]
ExperimentsDep = Annotated[ExperimentService, Depends(_state("experiments"))]
AccessDep = Annotated[AccessService, Depends(_state("access"))]
ArchiveDep = Annotated[ArchiveService, Depends(_state("archive"))]
AuthenticatorDep = Annotated[Authenticator, Depends(_state("authenticator"))]
AuditDep = Annotated[AuditService, Depends(_state("audit"))]
LifecycleDep = Annotated[LifecycleService, Depends(_state("lifecycle"))]
ConnectionsDep = Annotated[ConnectionService, Depends(_state("connections"))]
UploadsDep = Annotated[UploadService, Depends(_state("uploads"))]
ArtifactFilesDep = Annotated[ArtifactFiles, Depends(_state("artifact_files"))]
TransfersDep = Annotated[TransferService, Depends(_state("transfers"))]
