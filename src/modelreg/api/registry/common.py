"""Helpers every registry router uses: reading bodies and list parameters, writing JSON responses."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.responses import Response

from modelreg import wire
from modelreg.api.registry.route import RegistryRoute
from modelreg.api.registry.schemas import OrderByField, SortOrder
from modelreg.db.database import retry_read
from modelreg.db.pagination import PageRequest
from modelreg.services.entities import Record, parse_id
from modelreg.services.experiments import ExperimentService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": None, "description": phrase}
    for status, phrase in {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        409: "Conflict",
        422: "Unprocessable Entity",
        503: "Service Unavailable",
    }.items()
}

PathId = Annotated[str, Path(pattern=r"^[0-9]{1,19}$", description="The ID of the resource.")]
ParentQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$", description="ID of the parent resource.")]
NameQuery = Annotated[str | None, Query(description="Name of entity to search.")]
ExternalIdQuery = Annotated[str | None, Query(description="External ID of entity to search.")]


class RegistryRouter(APIRouter):
    """An APIRouter whose sync handlers run on the event loop when the database is embedded (see
    ``Database.inline``) and in the thread pool otherwise, served by ``RegistryRoute`` (api/registry/route.py).
    Handlers take the service as ``svc``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=RegistryRoute, **kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        reads = set(kwargs.get("methods") or ()) <= {"GET", "HEAD"}
        super().add_api_route(path, _database_call(endpoint, reads), **kwargs)


def _database_call(handler: Callable[..., Any], reads: bool) -> Callable[..., Any]:
    """``handler`` on the event loop (SQLite) or in the thread pool (server databases); a read (``reads``: a GET
    handler) is run once more if its database connection was lost under it (``retry_read``)."""
    if inspect.iscoroutinefunction(handler):  # no database call of its own
        return handler
    call = functools.partial(retry_read, handler) if reads else handler

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        if kwargs["svc"].db.inline:
            return handler(*args, **kwargs)
        return await run_in_threadpool(call, *args, **kwargs)

    return run


def body_in(
    svc: RegistryService | ExperimentService,
    kind: str,
    body: BaseModel,
    artifact_type: str | None = None,
) -> tuple[dict[str, Any], dict[str, PropValue] | None]:
    """Columns and custom properties present in a request body; ``None`` props means "leave unchanged". A body
    over the service's limits (string lengths, custom properties) is refused here, before any database work."""
    data = body.model_dump(exclude_unset=True, exclude_none=True, by_alias=True)
    raw_props = data.pop("customProperties", None)
    props = None if raw_props is None else wire.properties_to_db(raw_props, svc.limits)
    return wire.to_db(kind, data, artifact_type, svc.limits), props


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def one(record: Record, status_code: int = 200) -> Response:
    return json_response(wire.to_wire(record.table, record.row, record.props), status_code)


def many(records: list[Record], token: str, page: PageRequest) -> Response:
    items = [wire.to_wire(r.table, r.row, r.props) for r in records]
    return json_response(wire.page_to_wire(items, token, page.size))


def id_of(value: str | None, label: str) -> int | None:
    return None if value is None else parse_id(value, label)


@dataclass(frozen=True)
class ListQuery:
    """The list parameters every list endpoint takes."""

    page: PageRequest
    filter: str | None


async def list_query(
    pageSize: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,8}$", description="Entities per page.")] = None,
    orderBy: Annotated[OrderByField | None, Query()] = None,
    sortOrder: Annotated[SortOrder | None, Query()] = None,
    nextPageToken: Annotated[str | None, Query(max_length=1024)] = None,
    filterQuery: Annotated[str | None, Query(max_length=10_000, description="SQL-like filter.")] = None,
) -> ListQuery:
    # async only so that FastAPI runs it inline rather than in a worker thread
    return ListQuery(PageRequest.parse(pageSize, orderBy, sortOrder, nextPageToken), filterQuery)


ListDep = Annotated[ListQuery, Depends(list_query)]
