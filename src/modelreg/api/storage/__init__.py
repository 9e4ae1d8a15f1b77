"""The storage REST API under ``/api/storage/v1``: data connections (named storage locations). Admins manage them;
every caller may list them. Secrets are write-only."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.storage import connections

PREFIX = "/api/storage/v1"


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(connections.router)
    return router
