"""The one mapping of errors to HTTP responses, in the Kubeflow error body ``{"code", "message"}``.

``code`` is the status phrase (``"Not Found"``), as the reference server sends it; a missing required field is a
422 whose code is still ``"Bad Request"``, which upstream clients assert.

On the Kubeflow registry API, the message of a rule the server checks (bad input, not found, conflict) ends with
the reference's sentinel (``no model version found for id 7: not found``, ``...: bad request``, ``...: conflict``),
which clients match on; a body the decoder refuses (unknown field, wrong type, bad enum, missing required field)
keeps the decoder's message, as there. The governance and storage APIs are modelreg's own: their messages stay as
written (the SDK and the CLI show them to people; status and ``code`` already say the kind).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from modelreg.errors import Conflict, InvalidInput, MissingField, NotFound, RegistryError

log = logging.getLogger("modelreg")

_REQUIRED_BODY_FIELDS = {"name", "registeredModelId", "experimentId", "servingEnvironmentId", "modelVersionId"}
_REGISTRY_API = "/api/model_registry/"
_SENTINELS: tuple[tuple[type[RegistryError], str], ...] = (
    (NotFound, "not found"),
    (Conflict, "conflict"),
    (InvalidInput, "bad request"),
)


class _DecodeError(InvalidInput):
    """A body the JSON decoder refuses: the reference answers with the decoder's message, without a sentinel."""


def _message(request: Request, exc: RegistryError) -> str:
    """``exc``'s message, with the reference's sentinel on the registry API (see the module docstring)."""
    if not request.scope["path"].startswith(_REGISTRY_API) or isinstance(exc, MissingField | _DecodeError):
        return exc.message
    for kind, sentinel in _SENTINELS:
        if isinstance(exc, kind):
            return f"{exc.message}: {sentinel}"
    return exc.message


def error_response(status: int, message: str, code: str | None = None) -> Response:
    body = {"code": code or HTTPStatus(status).phrase, "message": message}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def validation_error(errors: list[dict[str, Any]]) -> RegistryError:
    """Translate pydantic's errors into the reference server's statuses: 422 for a missing required field,
    400 for everything else (unknown field, wrong type, bad enum, bad query parameter)."""
    unknown = [e for e in errors if e.get("type") == "extra_forbidden"]
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        field = loc[-1] if loc else ""
        missing_required = err.get("type") in ("missing", "string_too_short") and field in _REQUIRED_BODY_FIELDS
        if missing_required and not unknown and loc[:1] == ["body"] and len(loc) == 2:
            return MissingField(f"required field '{field}' is zero value.")
    err = unknown[0] if unknown else errors[0]
    loc = [str(p) for p in err.get("loc", ())]
    kind = err.get("type", "")
    where = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "request")
    # Rules of the registry (artifact type, metadata type, parameters) are core errors; the rest is decoding.
    if kind == "extra_forbidden":
        return _DecodeError(f'json: unknown field "{loc[-1]}"')
    if kind in ("union_tag_not_found", "union_tag_invalid") and "customProperties" not in loc:
        return InvalidInput(
            "invalid artifact type, must be either ModelArtifact, DocArtifact, DataSet, Metric, or Parameter"
        )
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        key = loc[loc.index("customProperties") + 1] if len(loc) > loc.index("customProperties") + 1 else where
        return InvalidInput(f"metadataType not found for {key}")
    if loc[:1] in (["query"], ["path"]):
        return InvalidInput(f"invalid {loc[-1]} {loc[0]} parameter: {err.get('msg')}")
    if kind == "missing" and loc == ["body"]:
        return _DecodeError("request body is required")
    if kind == "json_invalid":
        return _DecodeError(f"invalid JSON body: {err.get('ctx', {}).get('error', err.get('msg'))}")
    return _DecodeError(f"invalid value for {where}: {err.get('msg')}")


def install(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> Response:
        return error_response(exc.status_code, _message(request, exc), exc.code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = validation_error(list(exc.errors()))
        return error_response(err.status_code, _message(request, err), "Bad Request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # e.g. a NUL character PostgreSQL cannot store, or a value longer than MariaDB's column in strict mode
        refused = InvalidInput(f"value not accepted by the database: {str(exc.orig).splitlines()[0]}")
        return error_response(400, _message(request, refused))

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        # Operational errors (no answer, a timeout) and a connection lost under the request, whatever class the
        # driver gives that (PyMySQL: an InterfaceError once its socket is gone): the database is unavailable.
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            log.warning("database unavailable: %s", exc.orig)
            return error_response(503, "Datastore service is down or unavailable. Please try again later.")
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal server error")
