"""The catalog API's handlers: parse the parameters, call ``CatalogService`` once, convert (convert.py).

The service works in memory, so the handlers are ``async`` and run on the event loop (no thread hop). Parameters
arrive as strings and are checked here or by the service, so every bad value is a 400 with a message, as the
reference answers (``pageSize must be at least 1, got x``), never a validation 422 or a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from modelreg.api.catalog import convert
from modelreg.catalog.params import ArtifactQuery, ModelQuery
from modelreg.catalog.service import CatalogService
from modelreg.errors import InvalidInput

router = APIRouter(tags=["ModelCatalogService"])
Strings = Annotated[list[str] | None, Query()]
Text = Annotated[str | None, Query()]


async def _catalog(request: Request) -> CatalogService:
    catalog: CatalogService = request.app.state.catalog
    return catalog


CatalogDep = Annotated[CatalogService, Depends(_catalog)]


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated parameters and comma-separated lists alike (``source=a,b`` or ``source=a&source=b``)."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return 10
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"pageSize must be at least 1, got {raw}") from None


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidInput(f"invalid value '{raw}' for {name} (true or false)")


@router.get("/sources", summary="List All CatalogSources")
async def find_sources(
    catalog: CatalogDep,
    name: Text = None,
    assetType: Text = None,
    pageSize: Text = None,
    orderBy: Text = None,
    sortOrder: Text = None,
    nextPageToken: Text = None,
) -> Response:
    found = catalog.sources(name, orderBy, sortOrder, _page_size(pageSize), nextPageToken, asset_type=assetType)
    return _json(convert.page(found, convert.source))


@router.post("/sources/preview", summary="Preview catalog source configuration")
async def preview_source(
    catalog: CatalogDep,
    request: Request,
    filterStatus: Text = None,
    pageSize: Text = None,
    nextPageToken: Text = None,
) -> Response:
    async with request.form() as form:
        config = await _form_text(form.get("config"))
        catalog_data = await _form_text(form.get("catalogData"))
    if config is None:
        raise InvalidInput("config is required: a multipart/form-data field holding the source's YAML")
    size = _page_size(pageSize)
    return _json(catalog.preview(config, catalog_data, filterStatus or "all", size, nextPageToken))


async def _form_text(value: UploadFile | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raw = await value.read()
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"{value.filename or 'a form file'} is not UTF-8 text") from None


@router.get("/models", summary="Search catalog models across sources.")
async def find_models(
    catalog: CatalogDep,
    source: Strings = None,
    sourceLabel: Strings = None,
    q: Text = None,
    filterQuery: Text = None,
    orderBy: Text = None,
    sortOrder: Text = None,
    pageSize: Text = None,
    nextPageToken: Text = None,
    recommendations: Text = None,
    latencyProperty: Text = None,
    targetRPS: Text = None,  # accepted for the contract; the simplified recommendation does not use it
    rpsProperty: Text = None,
    hardwareCountProperty: Text = None,
    hardwareTypeProperty: Text = None,
) -> Response:
    query = ModelQuery(
        sources=_split(source),
        source_labels=_split(sourceLabel),
        q=q,
        filter_query=filterQuery,
        order_by=orderBy,
        sort_order=sortOrder,
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
        recommendations=_flag(recommendations, "recommendations"),
        latency_property=latencyProperty,
    )
    return _json(convert.page(catalog.find_models(query), convert.model))


@router.get("/models/filter_options", summary="Fields and values for filterQuery on /models.")
async def filter_options(catalog: CatalogDep) -> Response:
    return _json(catalog.filter_options())


@router.get("/labels", summary="List All CatalogLabels")
async def find_labels(
    catalog: CatalogDep,
    assetType: Text = None,
    orderBy: Text = None,
    sortOrder: Text = None,
    pageSize: Text = None,
    nextPageToken: Text = None,
) -> Response:
    labels = catalog.labels(assetType, orderBy)
    if sortOrder is not None and sortOrder.upper() == "DESC":
        labels = labels[::-1]
    elif sortOrder is not None and sortOrder.upper() != "ASC":
        raise InvalidInput(f"unsupported sort order: {sortOrder} (ASC or DESC)")
    _page_size(pageSize)  # checked, then ignored: the labels of a sources file come as one page
    items = [convert.label(label) for label in labels]
    return _json({"items": items, "size": len(items), "pageSize": len(items), "nextPageToken": ""})


# A model name may contain "/": a path ending in /artifacts or /artifacts/performance is the artifacts of the
# model before it (as the reference routes), so those two routes come first.


@router.get("/sources/{source_id}/models/{model_name:path}/artifacts/performance", summary="List CatalogArtifacts.")
async def performance_artifacts(
    catalog: CatalogDep,
    source_id: str,
    model_name: str,
    filterQuery: Text = None,
    orderBy: Text = None,
    sortOrder: Text = None,
    pageSize: Text = None,
    nextPageToken: Text = None,
    targetRPS: Text = None,  # accepted for the contract, not used
    recommendations: Text = None,
    rpsProperty: Text = None,
    latencyProperty: Text = None,
    hardwareCountProperty: Text = None,
    hardwareTypeProperty: Text = None,
) -> Response:
    query = ArtifactQuery(
        filter_query=filterQuery,
        order_by=orderBy,
        sort_order=sortOrder,
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
        performance_only=True,
    )
    return _json(convert.page(catalog.artifacts(source_id, model_name, query), convert.artifact))


@router.get("/sources/{source_id}/models/{model_name:path}/artifacts", summary="List CatalogArtifacts.")
async def artifacts(
    catalog: CatalogDep,
    source_id: str,
    model_name: str,
    artifactType: Strings = None,
    artifact_type: Strings = None,
    filterQuery: Text = None,
    orderBy: Text = None,
    sortOrder: Text = None,
    pageSize: Text = None,
    nextPageToken: Text = None,
) -> Response:
    query = ArtifactQuery(
        artifact_type=",".join(_split([*(artifactType or ()), *(artifact_type or ())])) or None,
        filter_query=filterQuery,
        order_by=orderBy,
        sort_order=sortOrder,
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
    )
    return _json(convert.page(catalog.artifacts(source_id, model_name, query), convert.artifact))


@router.get("/sources/{source_id}/models/{model_name:path}", summary="Get a `CatalogModel`.")
async def get_model(catalog: CatalogDep, source_id: str, model_name: str) -> Response:
    return _json(convert.model(catalog.get_model(source_id, model_name)))
