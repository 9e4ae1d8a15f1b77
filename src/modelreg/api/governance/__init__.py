"""The governance REST API under ``/api/governance/v1``: identity, role bindings, tokens, archive and delete,
lifecycle stages and the audit trail. Each module is one concern; all call the same services as the CLI."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.governance import access, archive, audit, lifecycle

PREFIX = "/api/governance/v1"


def build_router() -> APIRouter:
    router = APIRouter()
    for module in (access, archive, lifecycle, audit):
        router.include_router(module.router)
    return router
