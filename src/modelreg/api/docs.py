"""``/docs``: Swagger UI served from the ``swagger-ui-bundle-v2`` package, so that the page works offline and
nothing the server serves loads from another host (FastAPI's default page loads Swagger UI from a CDN).

Only the three files the page needs are served, not the whole bundle directory: its sample ``index.html`` and
initializer point at a demo API on the internet. ReDoc is off: no package ships it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from modelreg.errors import NotFound

DOCS = "/docs"
ASSETS = f"{DOCS}/assets"
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# validatorUrl: Swagger UI would otherwise show a badge image fetched from validator.swagger.io
_PARAMETERS = {"validatorUrl": None, "persistAuthorization": True}


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets; build ``app`` with ``docs_url=None, redoc_url=None``."""
    redirect = app.swagger_ui_oauth2_redirect_url or f"{DOCS}/oauth2-redirect"

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{redirect}",
            swagger_ui_parameters=_PARAMETERS,
        )

    @app.get(redirect, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(f"{ASSETS}/{{name}}", include_in_schema=False)
    async def asset(name: str) -> Response:
        media_type = _FILES.get(name)
        if media_type is None:
            raise NotFound(f"no API docs asset {name!r}")
        return FileResponse(
            swagger_ui_path / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )
