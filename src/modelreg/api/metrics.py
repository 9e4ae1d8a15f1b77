"""``GET /metrics``: the Prometheus text format (``telemetry/``; names and labels in ``docs/telemetry.md``).

Readable by whoever may read the registry (a viewer or above, with the credentials the API takes; in local mode the
loopback clients), or with the scrape token (``metrics.scrape_token``: Prometheus' ``bearerTokenSecret``), compared
in constant time. It is outside ``/api/``, so access is checked here, as ``/bridge`` does. Not mounted when
``metrics.enabled`` is off (404).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from modelreg.api.errors import error_response
from modelreg.auth import context
from modelreg.auth.authenticator import Authenticator
from modelreg.auth.principal import Permission
from modelreg.errors import RegistryError
from modelreg.settings import MetricsSettings
from modelreg.telemetry.metrics import Telemetry

PATH = "/metrics"


def install(app: FastAPI, telemetry: Telemetry, settings: MetricsSettings) -> None:
    if not settings.enabled:
        return
    token = settings.scrape_token.get_secret_value().encode() if settings.scrape_token else None
    router = APIRouter()

    @router.get(PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:  # a worker thread: the counts may query the database
        refused = _refused(request, request.app.state.authenticator, token)
        if refused is not None:
            return refused
        return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)


def _refused(request: Request, authenticator: Authenticator, token: bytes | None) -> Response | None:
    headers = request.scope["headers"]
    if token is not None and hmac.compare_digest(_bearer(headers), token):
        return None
    client = request.client.host if request.client else None
    try:
        context.require_of(authenticator.authenticate(headers, client), Permission.READ, "read the metrics")
    except RegistryError as exc:
        response = error_response(exc.status_code, exc.message, exc.code)
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="modelreg"'
        return response
    return None


def _bearer(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.partition(b" ")
            return credential.strip() if scheme.lower() == b"bearer" else b""
    return b""
