"""The storage REST API under ``/api/storage/v1``: data connections (named storage locations; admins manage them,
secrets are write-only), artifact uploads, the files of a version's artifact (download, verify, presign), and
transfer jobs."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.storage import artifacts, connections, transfers, uploads

PREFIX = "/api/storage/v1"


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(connections.router)
    router.include_router(uploads.router)
    router.include_router(artifacts.router)
    router.include_router(transfers.router)
    return router
