"""The web UI at ``/``: server-rendered pages (Jinja2) over the same services as the APIs, with sessions, CSRF
tokens and the same roles and audit trail. One module per area (``catalog_pages``, ``registry_pages``,
``settings_pages``, ``webhook_pages``, ``deploy_pages``, ``transfer_pages``, ``login``); ``web.py`` has what they
share. See docs/ui.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from modelreg.ui import (
    catalog_pages,
    deploy_pages,
    login,
    registry_pages,
    settings_pages,
    transfer_pages,
    web,
    webhook_pages,
)

AREAS = (login, catalog_pages, registry_pages, settings_pages, webhook_pages, deploy_pages, transfer_pages)


def install(app: FastAPI) -> None:
    web.install(app)
    for module in AREAS:
        app.include_router(module.router)
