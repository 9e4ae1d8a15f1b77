"""Pages of the web UI: catalog_pages (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
