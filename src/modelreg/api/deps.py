"""Annotated dependencies shared by every API surface: the services built in ``create_app``.

They are ``async`` only so that FastAPI calls them inline instead of hopping to a worker thread."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelreg.services.experiments import ExperimentService
from modelreg.services.registry import RegistryService


async def _registry(request: Request) -> RegistryService:
    return request.app.state.registry


async def _experiments(request: Request) -> ExperimentService:
    return request.app.state.experiments


RegistryDep = Annotated[RegistryService, Depends(_registry)]
ExperimentsDep = Annotated[ExperimentService, Depends(_experiments)]
