"""Typed access to the services ``app.py`` keeps on ``app.state`` (untyped), for the pages: one place says which
attribute holds which service."""

from __future__ import annotations

from fastapi import Request

from modelreg.catalog.service import CatalogService
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
