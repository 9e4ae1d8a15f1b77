"""The UI's static files (``ui/static/``), served from memory under content-hashed URLs.

``static_url("app.css")`` is ``/static/app.css?v=<hash>``: a response to that exact URL may be cached for a year
(``immutable``), because a new release changes the hash and so the URL. A request without the current hash gets
``no-cache``, so an old page never pins an old file.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from modelreg.errors import NotFound

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    version: str
    media_type: str


@cache
def _asset(name: str) -> Asset | None:
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        return None
    body = path.read_bytes()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type in ("application/javascript", "image/svg+xml"):
        media_type += "; charset=utf-8"
    return Asset(body, hashlib.sha256(body).hexdigest()[:12], media_type)


def static_url(name: str) -> str:
    asset = _asset(name)
    return f"/static/{name}" if asset is None else f"/static/{name}?v={asset.version}"


@router.get("/static/{name:path}")
def static_file(name: str, v: str | None = None) -> Response:
    asset = _asset(name)
    if asset is None:
        raise NotFound(f"no static file {name!r}")
    cache_control = IMMUTABLE if v == asset.version else "no-cache"
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"cache-control": cache_control, "etag": f'"{asset.version}"'},
    )
