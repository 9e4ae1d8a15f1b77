"""Pages of the web UI: settings_pages (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
