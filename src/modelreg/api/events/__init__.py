"""The events REST API under ``/api/events/v1``: webhooks (admins manage them; `webhooks.py`) and the event stream
(Server-Sent Events, resumable with ``Last-Event-ID``; readers; `stream.py`)."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.events import stream, webhooks

PREFIX = "/api/events/v1"


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(webhooks.router)
    router.include_router(stream.router)
    return router
