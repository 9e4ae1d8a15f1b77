"""Annotated dependencies shared by every API surface: the services built in ``create_app``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelreg.services.experiments import ExperimentService
from modelreg.services.registry import RegistryService


def _registry(request: Request) -> RegistryService:
    return request.app.state.registry


def _experiments(request: Request) -> ExperimentService:
    return request.app.state.experiments


RegistryDep = Annotated[RegistryService, Depends(_registry)]
ExperimentsDep = Annotated[ExperimentService, Depends(_experiments)]
