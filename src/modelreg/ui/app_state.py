"""Typed access to the services ``app.py`` keeps on ``app.state`` (untyped), for the pages: one place says which
attribute holds which service."""

from __future__ import annotations

from fastapi import Request

from modelreg.catalog.service import CatalogService
from modelreg.deploy.targets import TargetService
from modelreg.errors import NotFound
from modelreg.services.access import AccessService
from modelreg.services.connections import ConnectionService
from modelreg.services.registry import RegistryService
from modelreg.services.users import UserService


def catalog(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.catalog
    return service


def registry(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.registry
    return service


def access(request: Request) -> AccessService:
    service: AccessService = request.app.state.access
    return service


def connections(request: Request) -> ConnectionService:
    service: ConnectionService = request.app.state.connections
    return service


def users(request: Request) -> UserService:
    """Set by ``ui.install`` (the local accounts of the password login)."""
    service: UserService = request.app.state.users
    return service


def deploy_targets(request: Request) -> TargetService:
    """Hardware profiles, runtimes and connections to deploy with; a 404 page when deploying is not configured."""
    service: TargetService | None = getattr(request.app.state, "deploy_targets", None)
    if service is None or request.app.state.deploy is None:
        raise NotFound("deployment is not configured on this server")
    return service
